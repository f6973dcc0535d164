"""Each on-the-fly corruption against the original ImageNet-C code, transcribed here with its
own libraries (PIL, scikit-image, scipy, OpenCV), on real photographs."""

from __future__ import annotations

from io import BytesIO

import cv2
import numpy as np
import pytest
import skimage as sk
import torch
from PIL import Image
from scipy.ndimage import zoom as scizoom
from skimage import data
from skimage.filters import gaussian

from shiftbench import ShiftbenchError
from shiftbench.corruptions import ALL, FUNCTIONS, SEVERITIES, corrupt


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    """Resize(256) + CenterCrop(224) of three photographs, as ImageNet-C's inputs were made."""
    from torchvision import transforms

    prepare = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    return [prepare(Image.fromarray(p)) for p in (data.astronaut(), data.coffee(), data.chelsea())]


def disk(radius: int, alias_blur: float) -> np.ndarray:
    if radius <= 8:
        grid, ksize = np.arange(-8, 8 + 1), (3, 3)
    else:
        grid, ksize = np.arange(-radius, radius + 1), (5, 5)
    xx, yy = np.meshgrid(grid, grid)
    aliased = np.array((xx**2 + yy**2) <= radius**2, dtype=np.float32)
    aliased /= np.sum(aliased)
    return cv2.GaussianBlur(aliased, ksize=ksize, sigmaX=alias_blur)


def clipped_zoom(img: np.ndarray, factor: float) -> np.ndarray:
    h = img.shape[0]
    ch = int(np.ceil(h / factor))
    top = (h - ch) // 2
    img = scizoom(img[top : top + ch, top : top + ch], (factor, factor, 1), order=1)
    trim = (img.shape[0] - h) // 2
    return img[trim : trim + h, trim : trim + h]


def reference(name: str, image: Image.Image, severity: int) -> np.ndarray:
    """The original corruption (deterministic ones), float in [0, 255]."""
    x = np.array(image) / 255.0
    if name == "gaussian_blur":
        c = [1, 2, 3, 4, 6][severity - 1]
        return np.clip(gaussian(x, sigma=c, channel_axis=-1), 0, 1) * 255
    if name == "defocus_blur":
        c = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
        kernel = disk(*c)
        out = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=-1)
        return np.clip(out, 0, 1) * 255
    if name == "zoom_blur":
        factors = [
            np.arange(1, 1.11, 0.01),
            np.arange(1, 1.16, 0.01),
            np.arange(1, 1.21, 0.02),
            np.arange(1, 1.26, 0.02),
            np.arange(1, 1.31, 0.03),
        ][severity - 1]
        x = x.astype(np.float32)
        out = np.zeros_like(x)
        for factor in factors:
            out += clipped_zoom(x, factor)
        return np.clip((x + out) / (len(factors) + 1), 0, 1) * 255
    if name == "contrast":
        c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
        means = np.mean(x, axis=(0, 1), keepdims=True)
        return np.clip((x - means) * c + means, 0, 1) * 255
    if name == "brightness":
        c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
        hsv = sk.color.rgb2hsv(x)
        hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
        return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255
    if name == "saturate":
        c = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)][severity - 1]
        hsv = sk.color.rgb2hsv(x)
        hsv[:, :, 1] = np.clip(hsv[:, :, 1] * c[0] + c[1], 0, 1)
        return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255
    if name == "pixelate":
        c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
        small = image.resize((int(224 * c), int(224 * c)), Image.BOX)
        return np.array(small.resize((224, 224), Image.BOX), dtype=np.float64)
    if name == "jpeg_compression":
        c = [25, 18, 15, 10, 7][severity - 1]
        buffer = BytesIO()
        image.save(buffer, "JPEG", quality=c)
        return np.array(Image.open(buffer), dtype=np.float64)
    raise KeyError(name)


def plasma_fractal(
    rng: np.random.Generator, mapsize: int = 256, wibbledecay: float = 3
) -> np.ndarray:
    maparray = np.empty((mapsize, mapsize), dtype=np.float64)
    maparray[0, 0] = 0
    stepsize, wibble = mapsize, 100.0

    def wibbledmean(array: np.ndarray) -> np.ndarray:
        return array / 4 + wibble * rng.uniform(-wibble, wibble, array.shape)

    while stepsize >= 2:
        half = stepsize // 2
        cornerref = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        squareaccum = cornerref + np.roll(cornerref, shift=-1, axis=0)
        squareaccum += np.roll(squareaccum, shift=-1, axis=1)
        maparray[half:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(squareaccum)
        drgrid = maparray[half:mapsize:stepsize, half:mapsize:stepsize]
        ulgrid = maparray[0:mapsize:stepsize, 0:mapsize:stepsize]
        ltsum = drgrid + np.roll(drgrid, 1, axis=0) + ulgrid + np.roll(ulgrid, -1, axis=1)
        maparray[0:mapsize:stepsize, half:mapsize:stepsize] = wibbledmean(ltsum)
        ttsum = drgrid + np.roll(drgrid, 1, axis=1) + ulgrid + np.roll(ulgrid, -1, axis=0)
        maparray[half:mapsize:stepsize, 0:mapsize:stepsize] = wibbledmean(ttsum)
        stepsize //= 2
        wibble /= wibbledecay
    maparray -= maparray.min()
    return maparray / maparray.max()


def noisy_reference(
    name: str, image: Image.Image, severity: int, rng: np.random.Generator
) -> np.ndarray:
    """The original random corruptions, float in [0, 255]."""
    x = np.array(image) / 255.0
    if name == "fog":
        c = [(1.5, 2), (2, 2), (2.5, 1.7), (2.5, 1.5), (3, 1.4)][severity - 1]
        peak = x.max()
        x = x + c[0] * plasma_fractal(rng, wibbledecay=c[1])[:224, :224][..., np.newaxis]
        return np.clip(x * peak / (peak + c[0]), 0, 1) * 255
    if name == "gaussian_noise":
        c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
        return np.clip(x + rng.normal(size=x.shape, scale=c), 0, 1) * 255
    if name == "shot_noise":
        c = [60, 25, 12, 5, 3][severity - 1]
        return np.clip(rng.poisson(x * c) / c, 0, 1) * 255
    if name == "impulse_noise":
        c = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
        return np.clip(sk.util.random_noise(x, mode="s&p", amount=c, rng=rng), 0, 1) * 255
    if name == "speckle_noise":
        c = [0.15, 0.2, 0.35, 0.45, 0.6][severity - 1]
        return np.clip(x + x * rng.normal(size=x.shape, scale=c), 0, 1) * 255
    raise KeyError(name)


DETERMINISTIC = [
    "gaussian_blur", "defocus_blur", "zoom_blur", "contrast", "brightness", "saturate",
    "pixelate", "jpeg_compression",
]  # fmt: skip
RANDOM = ["gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "fog"]
DRAWS = 8  # random corruptions are compared on the mean PSNR over this many draws per photo


def ours(images: list[Image.Image], name: str, severity: int, seed: int = 0) -> np.ndarray:
    batch = torch.stack([torch.from_numpy(np.array(i)).permute(2, 0, 1) for i in images])
    out = corrupt(batch, name, severity, torch.Generator().manual_seed(seed))
    return out.permute(0, 2, 3, 1).numpy().astype(np.float64) * 255


def psnr(clean: np.ndarray, corrupted: np.ndarray) -> float:
    mse = np.mean((clean.astype(np.float64) - corrupted) ** 2)
    return 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize("name", DETERMINISTIC)
def test_deterministic_corruptions_match_the_original(photos, name: str) -> None:
    for severity in range(1, 6):
        got = ours(photos, name, severity)
        for image, mine in zip(photos, got, strict=True):
            expected = reference(name, image, severity)
            difference = np.abs(mine - expected).mean()
            assert difference <= 1.0, f"{name} s{severity}: mean |diff| {difference:.3f}/255"


def mean_psnr(photos, name: str, severity: int) -> float:
    """Mean PSNR over DRAWS draws; draw k uses the same seed at every severity (paired)."""
    clean = np.stack([np.array(p) for p in photos])
    return float(np.mean([psnr(clean, ours(photos, name, severity, seed=k)) for k in range(DRAWS)]))


@pytest.mark.parametrize("name", RANDOM)
def test_random_corruptions_match_the_originals_psnr(photos, name: str) -> None:
    rng = np.random.default_rng(0)
    for severity in range(1, 6):
        expected = [
            psnr(np.array(image), noisy_reference(name, image, severity, rng))
            for image in photos
            for _ in range(DRAWS)
        ]
        got = [
            psnr(np.array(image), mine)
            for k in range(DRAWS)
            for image, mine in zip(
                photos, ours(photos, name, severity, seed=100 * severity + k), strict=True
            )
        ]
        assert abs(np.mean(got) - np.mean(expected)) < 0.5, f"{name} s{severity}"


# Not ordered by PSNR in the original parameters: saturate (severities 1-2 desaturate, 3-5
# oversaturate); frost (3 and 4 differ only in the image weight, .7 -> .65, which with the same
# crop raises the PSNR); fog (3 and 4 share the haze strength 2.5 and differ only in the
# fractal's roughness, so their PSNRs are equal within noise); elastic_transform (1 and 2
# are large smooth warps, 3 to 5 small local ones: AlexNet's errors .53 .70 .56 .64 .81);
# glass_blur (2 has a wider neighbourhood but one pass where 1 has two; 4 against 3 alike).
UNORDERED = {"saturate", "frost", "fog", "elastic_transform", "glass_blur"}


@pytest.mark.parametrize("name", sorted(set(FUNCTIONS) - UNORDERED))
def test_damage_grows_with_severity(photos, name: str) -> None:
    scores = [mean_psnr(photos, name, s) for s in range(1, 6)]
    assert scores == sorted(scores, reverse=True), f"{name}: PSNR {scores}"


@pytest.mark.parametrize(
    ("name", "severities"),
    [
        ("frost", (1, 2, 3, 5)),
        ("fog", (1, 2, 3, 5)),
        ("elastic_transform", (3, 4, 5)),
        ("glass_blur", (1, 3, 5)),
    ],
)
def test_damage_grows_where_the_parameters_are_ordered(photos, name: str, severities) -> None:
    scores = [mean_psnr(photos, name, s) for s in severities]
    assert scores == sorted(scores, reverse=True)


def test_seeded_generator_repeats_and_devices_agree(photos) -> None:
    a = ours(photos, "impulse_noise", 3, seed=7)
    b = ours(photos, "impulse_noise", 3, seed=7)
    c = ours(photos, "impulse_noise", 3, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_requests() -> None:
    x = torch.zeros(1, 3, 8, 8)
    with pytest.raises(ShiftbenchError, match="unknown corruption"):
        corrupt(x, "rain", 1)
    with pytest.raises(ShiftbenchError, match="severity must be"):
        corrupt(x, "contrast", 6)
    with pytest.raises(ShiftbenchError, match="square"):
        corrupt(torch.zeros(1, 3, 8, 9), "contrast", 1)
    # below 16 px defocus_blur's disk (up to 21 wide) and glass_blur outgrow the image
    with pytest.raises(ShiftbenchError, match=r"at least 16 px .* got 8"):
        corrupt(x, "defocus_blur", 1)


def test_every_corruption_runs_from_the_smallest_size_it_takes() -> None:
    """At 16 px and at an odd size, every corruption and severity keeps shape and range."""
    for size in (16, 17):
        x = torch.randint(0, 256, (1, 3, size, size), dtype=torch.uint8)
        for name in ALL:
            for severity in SEVERITIES:
                y = corrupt(x, name, severity, [torch.Generator().manual_seed(0)])
                assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1, (name, severity)


def test_frost_equals_the_original_for_the_same_draws(photos) -> None:
    from shiftbench.corruptions.weather import FROST_FILES, frost_folder, frost_with

    folder = frost_folder()
    batch = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos]).float()
    choices = [(0, 10, 300), (3, 100, 2), (4, 250, 400)]
    for severity in range(1, 6):
        c = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
        got = frost_with(batch / 255, severity, choices).permute(0, 2, 3, 1).numpy() * 255
        for image, (index, top, left), mine in zip(photos, choices, got, strict=True):
            frost = cv2.imread(str(folder / FROST_FILES[index]))
            frost = frost[top : top + 224, left : left + 224][..., [2, 1, 0]]
            expected = np.clip(c[0] * np.array(image) + c[1] * frost, 0, 255)
            assert np.abs(mine - expected).mean() <= 1.0


def test_frost_draws_like_the_original() -> None:
    from shiftbench.corruptions import weather

    seen = []
    original = weather.frost_with
    weather.frost_with = lambda x, s, choices: seen.extend(choices) or original(x, s, choices)
    try:
        generators = [torch.Generator().manual_seed(i) for i in range(400)]
        corrupt(torch.rand(400, 3, 224, 224), "frost", 1, generators)
    finally:
        weather.frost_with = original
    photos = weather.frost_photos(torch.device("cpu"))
    counts = np.bincount([i for i, _, _ in seen], minlength=5)
    assert len(counts) == 5 and counts.min() > 50  # five photographs, never the sixth
    for index, top, left in seen:
        assert 0 <= top < photos[index].shape[1] - 224 and 0 <= left < photos[index].shape[2] - 224


def test_frost_without_the_photographs_says_what_to_install(monkeypatch) -> None:
    import importlib.util

    from shiftbench.corruptions import weather

    weather.frost_photos.cache_clear()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ShiftbenchError, match="pip install --no-deps imagecorruptions"):
        corrupt(torch.rand(1, 3, 32, 32), "frost", 1)
    weather.frost_photos.cache_clear()


def elastic_reference(image: Image.Image, severity: int, affine_noise, dx_noise, dy_noise):
    """The original elastic transform with its random numbers given."""
    from scipy.ndimage import map_coordinates

    c = [
        (244 * 2, 244 * 0.7, 244 * 0.1),
        (244 * 2, 244 * 0.08, 244 * 0.2),
        (244 * 0.05, 244 * 0.01, 244 * 0.02),
        (244 * 0.07, 244 * 0.01, 244 * 0.02),
        (244 * 0.12, 244 * 0.01, 244 * 0.02),
    ][severity - 1]
    image = np.array(image, dtype=np.float32) / 255.0
    shape = image.shape
    shape_size = shape[:2]
    center_square = np.float32(shape_size) // 2
    square_size = min(shape_size) // 3
    pts1 = np.float32(
        [
            center_square + square_size,
            [center_square[0] + square_size, center_square[1] - square_size],
            center_square - square_size,
        ]
    )
    pts2 = pts1 + affine_noise.astype(np.float32)
    matrix = cv2.getAffineTransform(pts1, pts2)
    image = cv2.warpAffine(image, matrix, shape_size[::-1], borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(dx_noise, c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dy = (gaussian(dy_noise, c[1], mode="reflect", truncate=3) * c[0]).astype(np.float32)
    dx, dy = dx[..., np.newaxis], dy[..., np.newaxis]
    x, y, z = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]), np.arange(shape[2]))
    indices = np.reshape(y + dy, (-1, 1)), np.reshape(x + dx, (-1, 1)), np.reshape(z, (-1, 1))
    moved = map_coordinates(image, indices, order=1, mode="reflect").reshape(shape)
    return np.clip(moved, 0, 1) * 255


def test_elastic_equals_the_original_for_the_same_draws(photos) -> None:
    from shiftbench.corruptions.digital import ELASTIC, elastic_with

    rng = np.random.default_rng(3)
    batch = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos]) / 255
    for severity in range(1, 6):
        affine = ELASTIC[severity - 1][2]
        offsets = rng.uniform(-affine, affine, size=(3, 3, 2))
        fields = rng.uniform(-1, 1, size=(3, 2, 224, 224))
        got = elastic_with(
            batch.float(),
            severity,
            torch.from_numpy(offsets),
            torch.from_numpy(fields[:, 0]),
            torch.from_numpy(fields[:, 1]),
        )
        got = got.permute(0, 2, 3, 1).numpy() * 255
        for i, image in enumerate(photos):
            expected = elastic_reference(image, severity, offsets[i], fields[i, 0], fields[i, 1])
            difference = np.abs(got[i] - expected).mean()
            assert difference <= 1.0, f"elastic s{severity}: {difference:.3f}/255"


def glass_reference(image: np.ndarray, severity: int, offsets: np.ndarray) -> np.ndarray:
    """The original glass blur (its loop, its numpy "swap") with the offsets given, float in
    [0, 255]; `offsets` [passes, visited, 2] are the (dx, dy) the original would draw."""
    sigma, delta, passes = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][
        severity - 1
    ]
    size = image.shape[0]
    x = np.uint8(gaussian(image / 255.0, sigma=sigma, channel_axis=-1) * 255)
    for i in range(passes):
        k = 0
        for h in range(size - delta, delta, -1):
            for w in range(size - delta, delta, -1):
                dx, dy = offsets[i, k]
                k += 1
                h_prime, w_prime = h + dy, w + dx
                x[h, w], x[h_prime, w_prime] = x[h_prime, w_prime], x[h, w]
    return np.clip(gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


@pytest.mark.parametrize("severity", range(1, 6))
def test_glass_blur_equals_the_original_loop(severity: int) -> None:
    from shiftbench.corruptions.blur import GLASS, glass_offsets, glass_with

    _, delta, passes = GLASS[severity - 1]
    images = np.random.default_rng(severity).integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    offsets = glass_offsets(2, 24, delta, passes, torch.Generator().manual_seed(severity), "cpu")
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).double() / 255
    got = glass_with(batch, severity, offsets).permute(0, 2, 3, 1).numpy() * 255
    for i in range(2):
        expected = glass_reference(images[i], severity, offsets[i].numpy())
        assert np.abs(got[i] - expected).max() < 1e-6


def test_glass_blur_on_a_photograph(photos) -> None:
    from shiftbench.corruptions.blur import glass_offsets, glass_with

    image = np.array(photos[0])
    offsets = glass_offsets(1, 224, 1, 2, torch.Generator().manual_seed(0), "cpu")
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].double() / 255
    got = glass_with(batch, 1, offsets)[0].permute(1, 2, 0).numpy() * 255
    expected = glass_reference(image, 1, offsets[0].numpy())
    assert np.abs(got - expected).mean() <= 1.0
    assert np.abs(expected - image).mean() > 5  # the corruption did something


def imagemagick_motion_blur(
    image: np.ndarray, radius: int, sigma: float, angle: float
) -> np.ndarray:
    """ImageMagick's MotionBlurImage written out (edge virtual pixels), 8-bit result; image is
    uint8 [H, W] or [H, W, C]."""
    import math

    width = 2 * radius + 1
    kernel = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2))
    kernel /= kernel.sum()
    point_x = width * math.sin(math.radians(angle))
    point_y = width * math.cos(math.radians(angle))
    hyp = math.hypot(point_x, point_y)
    h, w = image.shape[:2]
    out = np.zeros(image.shape, dtype=np.float64)
    for i in range(width):
        ox = math.ceil(i * point_y / hyp - 0.5)
        oy = math.ceil(i * point_x / hyp - 0.5)
        rows = np.clip(np.arange(h) + oy, 0, h - 1)
        cols = np.clip(np.arange(w) + ox, 0, w - 1)
        out += kernel[i] * image[rows][:, cols].astype(np.float64)
    return np.floor(out + 0.5)


def test_motion_blur_equals_imagemagicks_algorithm(photos) -> None:
    from shiftbench.corruptions.blur import MOTION, motion_with

    batch = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos]) / 255
    angles = [-44.0, 3.7, 31.2]
    for severity in range(1, 6):
        radius, sigma = MOTION[severity - 1]
        got = motion_with(batch.float(), radius, sigma, angles).permute(0, 2, 3, 1).numpy()
        for image, angle, mine in zip(photos, angles, got * 255, strict=True):
            expected = imagemagick_motion_blur(np.array(image), radius, sigma, angle)
            assert np.abs(mine - expected).mean() <= 1.0


def test_snow_equals_the_original_for_the_same_draws(photos) -> None:
    from shiftbench.corruptions.weather import SNOW, snow_with

    rng = np.random.default_rng(5)
    batch = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos]) / 255
    for severity in range(1, 6):
        c = SNOW[severity - 1]
        flakes = rng.standard_normal((3, 224, 224))
        angles = list(rng.uniform(-135, -45, 3))
        got = snow_with(batch.float(), severity, torch.from_numpy(flakes), angles)
        got = got.permute(0, 2, 3, 1).numpy() * 255
        for i, image in enumerate(photos):
            x = np.array(image, dtype=np.float32) / 255.0
            layer = (c[0] + c[1] * flakes[i]).astype(np.float64)
            layer = clipped_zoom(layer[..., np.newaxis], c[2])
            layer[layer < c[3]] = 0
            layer = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
            layer = imagemagick_motion_blur(layer, c[4], c[5], angles[i]) / 255.0
            layer = layer[..., np.newaxis]
            grey = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(224, 224, 1)
            x = c[6] * x + (1 - c[6]) * np.maximum(x, grey * 1.5 + 0.5)
            expected = np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255
            assert np.abs(got[i] - expected).mean() <= 1.0, f"snow s{severity}"


def spatter_reference(image: Image.Image, severity: int, noise: np.ndarray) -> np.ndarray:
    """The original spatter with its normal field given (noise = standard normal)."""
    c = [
        (0.65, 0.3, 4, 0.69, 0.6, 0),
        (0.65, 0.3, 3, 0.68, 0.6, 0),
        (0.65, 0.3, 2, 0.68, 0.5, 0),
        (0.65, 0.3, 1, 0.65, 1.5, 1),
        (0.67, 0.4, 1, 0.65, 1.5, 1),
    ][severity - 1]
    x = np.array(image, dtype=np.float32) / 255.0
    liquid_layer = c[0] + c[1] * noise
    liquid_layer = gaussian(liquid_layer, sigma=c[2])
    liquid_layer[liquid_layer < c[3]] = 0
    if c[5] == 0:
        liquid_layer = (liquid_layer * 255).astype(np.uint8)
        dist = 255 - cv2.Canny(liquid_layer, 50, 150)
        dist = cv2.distanceTransform(dist, cv2.DIST_L2, 5)
        _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
        dist = cv2.blur(dist, (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        ker = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
        dist = cv2.filter2D(dist, cv2.CV_8U, ker)
        dist = cv2.blur(dist, (3, 3)).astype(np.float32)
        m = cv2.cvtColor(liquid_layer * dist, cv2.COLOR_GRAY2BGRA)
        m /= np.max(m, axis=(0, 1))
        m *= c[4]
        color = np.concatenate(
            (
                175 / 255.0 * np.ones_like(m[..., :1]),
                238 / 255.0 * np.ones_like(m[..., :1]),
                238 / 255.0 * np.ones_like(m[..., :1]),
            ),
            axis=2,
        )
        color = cv2.cvtColor(color, cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(np.clip(x + m * color, 0, 1), cv2.COLOR_BGRA2BGR) * 255
    m = np.where(liquid_layer > c[3], 1, 0)
    m = gaussian(m.astype(np.float32), sigma=c[4])
    m[m < 0.8] = 0
    color = np.concatenate(
        (
            63 / 255.0 * np.ones_like(x[..., :1]),
            42 / 255.0 * np.ones_like(x[..., :1]),
            20 / 255.0 * np.ones_like(x[..., :1]),
        ),
        axis=2,
    )
    color *= m[..., np.newaxis]
    x *= 1 - m[..., np.newaxis]
    return np.clip(x + color, 0, 1) * 255


def test_spatter_equals_the_original_for_the_same_noise(photos) -> None:
    from shiftbench.corruptions.weather import spatter_with

    rng = np.random.default_rng(11)
    batch = torch.stack([torch.from_numpy(np.array(p)).permute(2, 0, 1) for p in photos]) / 255
    for severity in range(1, 6):
        noise = rng.standard_normal((3, 224, 224))
        got = spatter_with(batch.float(), severity, torch.from_numpy(noise))
        got = got.permute(0, 2, 3, 1).numpy() * 255
        for i, image in enumerate(photos):
            expected = spatter_reference(image, severity, noise[i])
            difference = np.abs(got[i] - expected).mean()
            assert difference <= 0.01, f"spatter s{severity}: {difference:.3f}/255"
