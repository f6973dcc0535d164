"""A procedurally generated, labelled image folder for offline runs and tests.

Ten classes: five shapes (disc, square, diamond, triangle, cross), each solid or hollow, at
random positions and sizes. The class lives in the low-frequency shape; a high-frequency
stripe texture of random orientation and period (3-5 px) fills object and background and
carries no class information, so aliasing in a network's downsampling matters. Deterministic
from the seed. This is synthetic data: its numbers say nothing about ImageNet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import ShiftbenchError

SHAPES = ("disc", "square", "diamond", "triangle", "cross")
CLASS_NAMES = tuple(f"{shape}_{fill}" for fill in ("solid", "hollow") for shape in SHAPES)


def _shape_mask(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    if shape == "disc":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        return np.maximum(np.abs(dy), np.abs(dx)) <= radius
    if shape == "diamond":
        return np.abs(dy) + np.abs(dx) <= radius
    if shape == "triangle":
        return (dy <= radius) & (np.abs(dx) <= (dy + radius) / 2)
    bar = radius / 3
    return ((np.abs(dx) <= bar) & (np.abs(dy) <= radius)) | (
        (np.abs(dy) <= bar) & (np.abs(dx) <= radius)
    )


def _stripes(rng: np.random.Generator, y: np.ndarray, x: np.ndarray) -> np.ndarray:
    angle = rng.uniform(0, np.pi)
    period = rng.uniform(3.0, 5.0)
    phase = rng.uniform(0, 2 * np.pi)
    return np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)


def render_image(
    label: int,
    size: int,
    rng: np.random.Generator,
    radius: tuple[float, float] = (0.18, 0.3),
    texture: float = 0.18,
) -> np.ndarray:
    """One uint8 [size, size, 3] image of class `label` (an index into CLASS_NAMES): the
    object's radius is drawn from `radius` (fractions of the side), the stripes have
    amplitude `texture`."""
    shape, fill = CLASS_NAMES[label].split("_")
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    r = rng.uniform(*radius) * size
    cy, cx = rng.uniform(r + 1, size - r - 1, size=2)
    mask = _shape_mask(shape, y - cy, x - cx, r)
    if fill == "hollow":
        mask &= ~_shape_mask(shape, y - cy, x - cx, r * 0.55)
    background = rng.uniform(0.15, 0.45, size=3)
    foreground = rng.uniform(0.6, 0.95, size=3)
    base = np.where(mask[..., None], foreground, background)
    stripes = texture * _stripes(rng, y, x)[..., None]
    noise = rng.normal(0, 0.03, size=(size, size, 3))
    return (np.clip(base + stripes + noise, 0, 1) * 255).round().astype(np.uint8)


def generate_images(
    root: str | Path,
    classes: int = 10,
    per_class: int = 20,
    size: int = 64,
    seed: int = 0,
    radius: tuple[float, float] = (0.18, 0.3),
    texture: float = 0.18,
) -> Path:
    """Write `per_class` PNG images for each of the first `classes` classes under `root`
    (object size and texture strength as in `render_image`)."""
    if not 2 <= classes <= len(CLASS_NAMES):
        raise ShiftbenchError(f"{{classes}} must be between 2 and {len(CLASS_NAMES)}", "classes")
    if per_class < 1 or size < 16:
        raise ShiftbenchError("{per_class} must be >= 1 and {size} >= 16", "per_class", "size")
    root = Path(root)
    rng = np.random.default_rng(seed)
    try:
        for label in range(classes):
            folder = root / f"{label:02d}_{CLASS_NAMES[label]}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                pixels = render_image(label, size, rng, radius, texture)
                Image.fromarray(pixels).save(folder / f"{i:04d}.png")
    except OSError as exc:
        raise ShiftbenchError(f"cannot write images to {root}: {exc.strerror or exc}") from None
    return root
