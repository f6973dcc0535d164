"""Weather corruptions: brightness, fog, frost, snow, and the extra spatter."""

from __future__ import annotations

import importlib.util
import math
from functools import lru_cache
from pathlib import Path

import torch
from PIL import Image

from ..errors import ShiftbenchError
from .blur import clipped_zoom, gaussian_filter, motion_with, random_angles
from .color import hsv_to_rgb, rgb_to_hsv
from .generators import Generators, sample
from .opencv import box3, canny, chamfer_distance, equalize_hist, filter3x3

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
FOG = ((1.5, 2.0), (2.0, 2.0), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
FROST = ((1.0, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75))
# loc, scale, sigma, threshold, intensity, mud
SPATTER = (
    (0.65, 0.3, 4, 0.69, 0.6, 0),
    (0.65, 0.3, 3, 0.68, 0.6, 0),
    (0.65, 0.3, 2, 0.68, 0.5, 0),
    (0.65, 0.3, 1, 0.65, 1.5, 1),
    (0.67, 0.4, 1, 0.65, 1.5, 1),
)
WATER = (175 / 255, 238 / 255, 238 / 255)
MUD = (63 / 255, 42 / 255, 20 / 255)
EMBOSS = torch.tensor([[-2.0, -1.0, 0.0], [-1.0, 1.0, 1.0], [0.0, 1.0, 2.0]], dtype=torch.float64)
# loc, scale, zoom, threshold, motion radius, motion sigma, image weight
SNOW = (
    (0.1, 0.3, 3.0, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2.0, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4.0, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)
# the original draws np.random.randint(5): the sixth photograph is never used
FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")


def brightness(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """HSV value V + c, clipped."""
    hsv = rgb_to_hsv(x)
    value = (hsv[:, 2] + BRIGHTNESS[severity - 1]).clamp(0, 1)
    return hsv_to_rgb(torch.stack([hsv[:, 0], hsv[:, 1], value], dim=1)).clamp(0, 1)


def plasma_fractal(
    batch: int, mapsize: int, wibbledecay: float, generator: Generators, device: torch.device
) -> torch.Tensor:
    """The original's diamond-square height maps, [batch, mapsize, mapsize] in [0, 1]."""
    maps = torch.zeros(batch, mapsize, mapsize, dtype=torch.float64, device=device)
    wibble = 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
            return torch.rand(shape, generator=g, device=device, dtype=torch.float64)

        noise = sample(batch, tuple(total.shape[1:]), generator, draw) * 2 - 1
        return total / 4 + wibble * wibble * noise

    step = mapsize
    while step >= 2:
        half = step // 2
        corners = maps[:, ::step, ::step]
        squares = corners + torch.roll(corners, -1, dims=1)
        squares = squares + torch.roll(squares, -1, dims=2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres = maps[:, half::step, half::step]
        corners = maps[:, ::step, ::step]
        left = centres + torch.roll(centres, 1, dims=1) + corners + torch.roll(corners, -1, dims=2)
        maps[:, ::step, half::step] = wibbled_mean(left)
        top = centres + torch.roll(centres, 1, dims=2) + corners + torch.roll(corners, -1, dims=1)
        maps[:, half::step, ::step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    low = maps.flatten(1).amin(dim=1)[:, None, None]
    maps = maps - low
    return maps / maps.flatten(1).amax(dim=1)[:, None, None]


def fog(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Plasma-fractal haze (map side 256, or the next power of two above the image), added
    with strength c and renormalised by the image's maximum."""
    strength, decay = FOG[severity - 1]
    size = x.shape[-1]
    mapsize = max(256, 2 ** math.ceil(math.log2(size)))
    haze = plasma_fractal(x.shape[0], mapsize, decay, generator, x.device)[:, None, :size, :size]
    peak = x.flatten(1).amax(dim=1)[:, None, None, None]
    fogged = x + strength * haze.to(x.dtype)
    return (fogged * peak / (peak + strength)).clamp(0, 1)


def frost_folder() -> Path:
    """The original frost photographs, as shipped by the imagecorruptions package (located,
    never imported: it fails to import on current setuptools)."""
    spec = importlib.util.find_spec("imagecorruptions")
    folder = None
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "frost"
    if folder is None or not all((folder / name).is_file() for name in FROST_FILES):
        raise ShiftbenchError(
            "frost needs the original frost photographs: pip install --no-deps imagecorruptions"
        )
    return folder


@lru_cache(maxsize=4)
def frost_photos(device: torch.device) -> tuple[torch.Tensor, ...]:
    """The five frost photographs as uint8 [3, H, W] RGB tensors on `device`."""
    folder = frost_folder()
    photos = []
    for name in FROST_FILES:
        with Image.open(folder / name) as image:
            pixels = torch.frombuffer(bytearray(image.convert("RGB").tobytes()), dtype=torch.uint8)
            photos.append(pixels.view(image.height, image.width, 3).permute(2, 0, 1).to(device))
    return tuple(photos)


def frost_with(x: torch.Tensor, severity: int, choices: list[tuple[int, int, int]]) -> torch.Tensor:
    """Frost given each image's (photograph, top, left): c0 * x + c1 * the photograph's crop,
    in 0..255."""
    image_weight, frost_weight = FROST[severity - 1]
    photos = frost_photos(x.device)
    size = x.shape[-1]
    crops = torch.stack(
        [photos[i][:, top : top + size, left : left + size] for i, top, left in choices]
    ).to(x.dtype)
    return ((image_weight * x * 255.0 + frost_weight * crops).clamp(0, 255)) / 255.0


def frost(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """A random crop of one of five frost photographs mixed in (weights c0, c1)."""
    photos = frost_photos(x.device)
    size = x.shape[-1]
    if any(min(p.shape[1:]) <= size for p in photos):
        raise ShiftbenchError(f"frost photographs are too small for {size}px images")

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.rand(shape, generator=g, dtype=torch.float64, device=x.device)

    uniforms = sample(x.shape[0], (3,), generator, draw).tolist()
    choices = []
    for u_photo, u_top, u_left in uniforms:
        index = int(u_photo * len(photos))
        height, width = photos[index].shape[1:]
        choices.append((index, int(u_top * (height - size)), int(u_left * (width - size))))
    return frost_with(x, severity, choices)


def snow_with(
    x: torch.Tensor, severity: int, flakes: torch.Tensor, angles: list[float]
) -> torch.Tensor:
    """Snow given its random numbers: `flakes` [N, H, W] standard normal, `angles` in degrees.

    The layer N(loc, scale) is zoomed about its centre, thresholded, truncated to 8 bits,
    motion-blurred (ImageMagick's) along the angle; the image is mixed with a greyed,
    brightened copy, and the layer is added along with its 180-degree rotation."""
    loc, scale, zoom, threshold, radius, sigma, weight = SNOW[severity - 1]
    layer = clipped_zoom((loc + scale * flakes)[:, None].to(x.dtype), zoom)
    layer = torch.where(layer < threshold, torch.zeros_like(layer), layer)
    layer = torch.floor(layer.clamp(0, 1) * 255) / 255
    layer = motion_with(layer, radius, sigma, angles)
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2])[:, None]
    x = weight * x + (1 - weight) * torch.maximum(x, grey * 1.5 + 0.5)
    return (x + layer + torch.rot90(layer, 2, dims=(2, 3))).clamp(0, 1)


def snow(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Motion-blurred snow flakes over a greyed, brightened image."""
    n, _, height, width = x.shape

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.randn(shape, generator=g, device=x.device, dtype=torch.float64)

    flakes = sample(n, (height, width), generator, draw)
    return snow_with(x, severity, flakes, random_angles(n, -135, -45, generator, x.device))


def spatter_with(x: torch.Tensor, severity: int, noise: torch.Tensor) -> torch.Tensor:
    """Spatter given its standard-normal field `noise` [N, H, W].

    A smoothed, thresholded liquid layer; at severities 1-3 water: the layer's 8-bit values
    times an embossed, equalised distance-to-edge map (Canny 50/150, chamfer distance capped
    at 20), normalised, in pale turquoise; at 4-5 mud: the smoothed layer mask in brown."""
    loc, scale, sigma, threshold, intensity, mud = SPATTER[severity - 1]
    liquid = gaussian_filter((loc + scale * noise)[:, None].double(), sigma)
    liquid = torch.where(liquid < threshold, torch.zeros_like(liquid), liquid)
    if mud:
        mask = gaussian_filter((liquid > threshold).double(), intensity)
        mask = torch.where(mask < 0.8, torch.zeros_like(mask), mask).to(x.dtype)
        colour = torch.tensor(MUD, dtype=x.dtype, device=x.device)[None, :, None, None]
        return (x * (1 - mask) + colour * mask).clamp(0, 1)
    layer = torch.floor(liquid * 255).clamp(0, 255)
    # OpenCV's dtypes: the distance map is float32, its blur float32 (summed in double) and
    # truncated to 8 bits; the blur of the 8-bit embossed map is rounded to 8 bits
    distance = chamfer_distance(canny(layer, 50, 150), 20.0).float().double()
    distance = torch.floor(box3(distance).float().double())
    distance = equalize_hist(distance)
    distance = torch.round(filter3x3(distance, EMBOSS)).clamp(0, 255)
    distance = torch.round(box3(distance))
    mask = layer * distance
    peak = mask.flatten(1).amax(dim=1)[:, None, None, None]
    mask = torch.where(peak > 0, mask / torch.where(peak > 0, peak, 1.0), 0.0) * intensity
    colour = torch.tensor(WATER, dtype=x.dtype, device=x.device)[None, :, None, None]
    return (x + mask.to(x.dtype) * colour).clamp(0, 1)


def spatter(x: torch.Tensor, severity: int, generator: Generators = None) -> torch.Tensor:
    """Water drops (severities 1-3) or mud (4-5)."""

    def draw(shape: tuple[int, ...], g: torch.Generator | None) -> torch.Tensor:
        return torch.randn(shape, generator=g, device=x.device, dtype=torch.float64)

    return spatter_with(x, severity, sample(x.shape[0], tuple(x.shape[-2:]), generator, draw))
