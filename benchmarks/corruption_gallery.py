"""Draw a sample photograph under every corruption and every severity.

    python benchmarks/corruption_gallery.py docs/corruptions.jpg

Needs scikit-image (its astronaut photograph; a dev dependency).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw
from skimage import data
from torchvision import transforms

from shiftbench.corruptions import ALL, corrupt

THUMB = 112


def main(out: Path, names: tuple[str, ...] = ALL) -> None:
    prepare = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    photo = prepare(Image.fromarray(data.astronaut()))
    x = transforms.functional.pil_to_tensor(photo)[None]
    label = 130
    sheet = Image.new("RGB", (label + 6 * THUMB, len(names) * THUMB), "white")
    draw = ImageDraw.Draw(sheet)
    for row, name in enumerate(names):
        draw.text((4, row * THUMB + THUMB // 2 - 6), name, fill="black")
        tiles = [x.float() / 255] + [
            corrupt(x, name, s, torch.Generator().manual_seed(s)) for s in range(1, 6)
        ]
        for column, tile in enumerate(tiles):
            image = transforms.functional.to_pil_image(tile[0]).resize((THUMB, THUMB))
            sheet.paste(image, (label + column * THUMB, row * THUMB))
    sheet.save(out, quality=85)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="Where to write the picture (.jpg or .png).")
    parser.add_argument("--corruptions", default=",".join(ALL), help="Comma-separated names.")
    args = parser.parse_args()
    main(args.out, tuple(args.corruptions.split(",")))
