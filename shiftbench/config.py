"""Everything that decides an evaluation's numbers and speed, in one validated record."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

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


def _setting(
    default: object, *, suite: str | None = None, compared: bool = False, speed: bool = False
) -> Any:
    """A setting of `EvalConfig` with its role declared once: the `suite` that reads it (set
    to another value than its default while that suite is not selected, it is refused);
    whether `shiftbench check` compares it (`compared`: two results that differ in it are not
    comparable; the settings the suites resolve are compared apart); and whether it changes
    only the `speed` (a resumed run may change it)."""
    return field(default=default, metadata={"suite": suite, "compared": compared, "speed": speed})


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
    max_shift: int = _setting(32, compared=True)
    shift_passes: int = _setting(5, suite="consistency", compared=True)
    attack_mode: str = _setting("crop", suite="translation")
    attack_radius: int | None = _setting(None, suite="translation")
    attack_step: int | None = _setting(None, suite="translation")
    seed: int = _setting(0, compared=True)
    limit: int | None = _setting(None, compared=True)
    image_list: str | None = None
    batch_size: int | str = _setting(64, speed=True)
    workers: int = _setting(DEFAULT_WORKERS, speed=True)
    device: str = _setting("auto", speed=True)
    amp: str = _setting("none", compared=True)
    channels_last: bool = _setting(False, speed=True)
    compile: bool = _setting(False, speed=True)
    corruptions: tuple[str, ...] | None = _setting(None, suite="corruption", compared=True)
    severities: tuple[int, ...] = _setting((1, 2, 3, 4, 5), suite="corruption", compared=True)
    jpeg_like_release: bool = _setting(False, suite="corruption", compared=True)
    chunk_size: int = 1024
    decode: str = _setting("pil", compared=True)
    canvas: str = _setting("resize", compared=True)

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
        for name, suite in SUITE_SETTINGS.items():
            value = getattr(self, name)
            value = tuple(value) if isinstance(value, list) else value  # as results.json has it
            if suite not in self.suites and value != DEFAULTS[name]:
                raise ShiftbenchError(
                    f"{name} is read by the {suite} suite, which is not selected (suites)"
                )

    @classmethod
    def from_dict(cls, saved: dict) -> EvalConfig:
        """The configuration recorded in a results.json (`to_dict`), ignoring unknown keys
        and the settings of suites it did not run (they had no effect)."""
        suites = saved.get("suites") or DEFAULT_SUITES
        known = {f.name for f in fields(cls)}
        values = {
            k: v
            for k, v in saved.items()
            if k in known and (k not in SUITE_SETTINGS or SUITE_SETTINGS[k] in suites)
        }
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


DEFAULTS = {f.name: f.default for f in fields(EvalConfig)}
# The settings read by one suite only, and that suite.
SUITE_SETTINGS = {
    f.name: f.metadata["suite"] for f in fields(EvalConfig) if f.metadata.get("suite")
}
# The settings whose difference makes two results incomparable (`shiftbench check`).
COMPARED_SETTINGS = tuple(f.name for f in fields(EvalConfig) if f.metadata.get("compared"))
# The settings that change how fast, not what, is computed: a resumed run may change them.
SPEED_SETTINGS = tuple(f.name for f in fields(EvalConfig) if f.metadata.get("speed"))
