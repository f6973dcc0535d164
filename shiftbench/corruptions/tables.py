"""ImageNet-C constants: corruption names and groups, and AlexNet's top-1 errors.

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations" (ICLR 2019). AlexNet errors by severity 1..5 as used for CE; the clean error
0.4348 as in google-research's robustness_metrics, for relative CE.
"""

from __future__ import annotations

GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}
BENCHMARK: tuple[str, ...] = tuple(
    name for group, names in GROUPS.items() if group != "extra" for name in names
)
EXTRA: tuple[str, ...] = GROUPS["extra"]
ALL: tuple[str, ...] = BENCHMARK + EXTRA
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

ALEXNET_CLEAN_ERROR = 0.4348
ALEXNET_ERRORS: dict[str, tuple[float, float, float, float, float]] = {
    "gaussian_noise": (0.69528, 0.82542, 0.93554, 0.98138, 0.99452),
    "shot_noise": (0.71224, 0.85108, 0.93574, 0.98182, 0.99146),
    "impulse_noise": (0.78374, 0.89808, 0.94870, 0.98720, 0.99548),
    "defocus_blur": (0.65624, 0.73202, 0.85036, 0.91364, 0.94714),
    "glass_blur": (0.64308, 0.75054, 0.88806, 0.91622, 0.93344),
    "motion_blur": (0.58430, 0.70048, 0.82108, 0.89750, 0.92638),
    "zoom_blur": (0.70008, 0.76992, 0.80784, 0.84198, 0.87198),
    "snow": (0.71726, 0.88392, 0.86468, 0.91870, 0.94952),
    "frost": (0.61390, 0.79734, 0.88790, 0.89942, 0.93430),
    "fog": (0.67474, 0.76050, 0.84378, 0.87260, 0.94500),
    "brightness": (0.45140, 0.48502, 0.54048, 0.62166, 0.72440),
    "contrast": (0.64548, 0.76150, 0.88874, 0.97760, 0.99270),
    "elastic_transform": (0.52596, 0.70116, 0.55686, 0.64076, 0.80554),
    "pixelate": (0.52218, 0.54620, 0.73728, 0.87092, 0.91262),
    "jpeg_compression": (0.51002, 0.54718, 0.57294, 0.65458, 0.74778),
    "speckle_noise": (0.66192, 0.74440, 0.90246, 0.94548, 0.97268),
    "gaussian_blur": (0.54732, 0.70444, 0.82574, 0.89864, 0.95940),
    "spatter": (0.47196, 0.62194, 0.75052, 0.84132, 0.90182),
    "saturate": (0.59342, 0.65514, 0.51174, 0.70834, 0.82260),
}


def group_of(name: str) -> str:
    """The group (noise, blur, weather, digital, extra) of a corruption."""
    return next(group for group, names in GROUPS.items() if name in names)


DESCRIPTIONS: dict[str, str] = {
    "gaussian_noise": "x + N(0, c), c = .08 .12 .18 .26 .38",
    "shot_noise": "Poisson(x * c) / c, c = 60 25 12 5 3",
    "impulse_noise": "salt and pepper on each value, amount .03 .06 .09 .17 .27",
    "defocus_blur": "disk kernel of radius 3 4 6 8 10, slightly blurred",
    "glass_blur": "blur, local pixel exchanges in raster order, blur again",
    "motion_blur": "one-sided Gaussian line kernel, radius 10-20, random angle in +-45 deg",
    "zoom_blur": "average of the image zoomed about its centre, up to 1.11-1.31x",
    "snow": "motion-blurred snow layer over a greyed, brightened image",
    "frost": "a crop of one of five frost photographs mixed in",
    "fog": "plasma-fractal haze, contrast reduced",
    "brightness": "V channel of HSV + .1 .2 .3 .4 .5",
    "contrast": "(x - mean) * c + mean, c = .4 .3 .2 .1 .05",
    "elastic_transform": "random affine and smoothed displacement field, reflected edges",
    "pixelate": "box down to .6 .5 .4 .3 .25 of the size and back",
    "jpeg_compression": "JPEG at quality 25 18 15 10 7",
    "speckle_noise": "x + x * N(0, c), c = .15 .2 .35 .45 .6",
    "gaussian_blur": "Gaussian blur, sigma 1 2 3 4 6",
    "spatter": "water drops (severities 1-3) or mud (4-5)",
    "saturate": "S channel of HSV * c0 + c1",
}
