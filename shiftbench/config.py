"""Everything that decides an evaluation's numbers and speed, in one validated record."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields

from .errors import ShiftbenchError

AMP_MODES = ("none", "bf16", "fp16")
# Where JPEG files are decoded: PIL in the loader workers, or torchvision on the device.
DECODERS = ("pil", "device")
ATTACK_MODES = ("crop", "pad")
# How an image becomes its canvas: resized to it (the paper's ImageNet protocol), or resized to
# the window and padded with black to it (images at the model's size, as CIFAR-10's).
CANVAS_MODES = ("resize", "pad")
DEFAULT_SUITES = ("clean", "consistency")
# timm's default of 4 decoding processes, or fewer on a machine with fewer cores.
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
# Engstrom et al. translate ImageNet images by up to 24 px at 224: 10.7% of the side.
PAD_ATTACK_FRACTION = 0.107
# The largest seed torch.manual_seed takes for random-initialised weights, and numpy too.
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class EvalConfig:
    """Options of one evaluation; recorded whole in results.json so the run can be repeated.

    `batch_size` counts views per forward pass; "auto" starts large on a GPU and halves on
    out-of-memory.
    `attack_radius`/`attack_step` left as None take the suite defaults for `attack_mode`;
    `corruptions` None takes every corruption available (on the fly, or on disk).
    `chunk_size` images make a chunk: the unit of checkpoints and of the shares of
    torchrun processes. `image_list` is a file naming the images to evaluate (paths
    relative to the data root, one per line); `limit` applies after it. `canvas` "pad" makes
    each canvas from the image resized to the window and a black border, instead of
    resizing the image to the canvas.
    """

    suites: tuple[str, ...] = DEFAULT_SUITES
    max_shift: int = 32
    shift_passes: int = 5
    attack_mode: str = "crop"
    attack_radius: int | None = None
    attack_step: int | None = None
    seed: int = 0
    limit: int | None = None
    image_list: str | None = None
    batch_size: int | str = 64
    workers: int = DEFAULT_WORKERS
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    corruptions: tuple[str, ...] | None = None
    severities: tuple[int, ...] = (1, 2, 3, 4, 5)
    jpeg_like_release: bool = False
    chunk_size: int = 1024
    decode: str = "pil"
    canvas: str = "resize"

    def __post_init__(self) -> None:
        checks = [
            (self.max_shift >= 0, "--max-shift must be >= 0"),
            (self.shift_passes >= 1, "--shift-passes must be >= 1"),
            (
                isinstance(self.seed, int) and 0 <= self.seed <= MAX_SEED,
                f"--seed must be a whole number from 0 to {MAX_SEED}",
            ),
            (
                self.batch_size == "auto"
                or (isinstance(self.batch_size, int) and self.batch_size >= 1),
                "--batch-size must be a number >= 1 or auto",
            ),
            (self.workers >= 0, "--workers must be >= 0"),
            (self.chunk_size >= 1, "--chunk-size must be >= 1"),
            (self.decode in DECODERS, f"--decode must be one of {', '.join(DECODERS)}"),
            (self.canvas in CANVAS_MODES, f"--canvas must be one of {', '.join(CANVAS_MODES)}"),
            (self.limit is None or self.limit >= 1, "--limit must be >= 1"),
            (self.amp in AMP_MODES, f"--amp must be one of {', '.join(AMP_MODES)}"),
            (
                self.attack_mode in ATTACK_MODES,
                f"--attack-mode must be one of {', '.join(ATTACK_MODES)}",
            ),
            (self.attack_radius is None or self.attack_radius >= 0, "--attack-radius must be >= 0"),
            (self.attack_step is None or self.attack_step >= 1, "--attack-step must be >= 1"),
            (bool(self.suites), "no suite selected"),
        ]
        for ok, message in checks:
            if not ok:
                raise ShiftbenchError(message)

    @classmethod
    def from_dict(cls, saved: dict) -> EvalConfig:
        """The configuration recorded in a results.json (`to_dict`), ignoring unknown keys."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in saved.items() if k in known}
        for key in ("suites", "corruptions", "severities"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        """JSON-ready copy of every option."""
        out = asdict(self)
        out["suites"] = list(self.suites)
        out["corruptions"] = list(self.corruptions) if self.corruptions else None
        out["severities"] = list(self.severities)
        return out
