"""shiftbench: measure the shift (in)variance of image classifiers and what anti-aliasing buys.

Public API: `load_model`, `wrap_module`, `antialias`, `corrupt`, `evaluate`,
`evaluate_many`, `evaluate_imagenet_c`, `released_images`, `write_results`,
`write_comparison`, `save_converted`, `EvalConfig`, `AntialiasSpec`, `scan_image_folder`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .antialias import AntialiasSpec, antialias
from .api import evaluate, evaluate_many, save_converted
from .config import EvalConfig
from .corruptions import corrupt, released_images
from .data import ImageSet, scan_image_folder
from .errors import ShiftbenchError
from .imagenet_c import evaluate_imagenet_c
from .models import LoadedModel, Preprocess, load_model, load_weights, wrap_module
from .report import write_comparison, write_results
from .results import EvalResult

__all__ = [
    "AntialiasSpec",
    "EvalConfig",
    "EvalResult",
    "ImageSet",
    "LoadedModel",
    "Preprocess",
    "ShiftbenchError",
    "__version__",
    "antialias",
    "corrupt",
    "evaluate",
    "evaluate_imagenet_c",
    "evaluate_many",
    "load_model",
    "load_weights",
    "released_images",
    "save_converted",
    "scan_image_folder",
    "wrap_module",
    "write_comparison",
    "write_results",
]
