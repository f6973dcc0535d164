"""shiftbench: measure the shift (in)variance of image classifiers and what anti-aliasing buys.

Public API: `load_model`, `wrap_module`, `antialias`, `corrupt`, `evaluate`,
`evaluate_many`, `evaluate_imagenet_c`, `released_images`, `write_results`,
`write_comparison`, `save_converted`, `EvalConfig`, `AntialiasSpec`, `scan_image_folder`.

The names are imported when first used (PEP 562), so `import shiftbench` and the command's
start do not wait for torch and timm before they are needed.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Each public name and the module that defines it.
_WHERE = {
    "AntialiasSpec": "antialias",
    "antialias": "antialias",
    "evaluate": "api",
    "evaluate_many": "api",
    "save_converted": "api",
    "EvalConfig": "config",
    "corrupt": "corruptions",
    "released_images": "corruptions",
    "ImageSet": "data.folders",
    "scan_image_folder": "data.folders",
    "ShiftbenchError": "errors",
    "evaluate_imagenet_c": "imagenet_c",
    "LoadedModel": "models.loading",
    "Preprocess": "models.preprocess",
    "load_model": "models.loading",
    "load_weights": "models.weights",
    "wrap_module": "models.loading",
    "write_comparison": "results.report",
    "write_results": "results.report",
    "EvalResult": "results.result",
}

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

if TYPE_CHECKING:
    from .antialias import AntialiasSpec, antialias
    from .api import evaluate, evaluate_many, save_converted
    from .config import EvalConfig
    from .corruptions import corrupt, released_images
    from .data.folders import ImageSet, scan_image_folder
    from .errors import ShiftbenchError
    from .imagenet_c import evaluate_imagenet_c
    from .models.loading import LoadedModel, load_model, wrap_module
    from .models.preprocess import Preprocess
    from .models.weights import load_weights
    from .results.report import write_comparison, write_results
    from .results.result import EvalResult


class _Package(types.ModuleType):
    """The package's module type. Importing the subpackage `shiftbench.antialias` sets the
    package's attribute of that name to the subpackage; `shiftbench.antialias` stays the
    conversion function the package exports, as it was when the names were imported eagerly."""

    def __setattr__(self, name: str, value: object) -> None:
        if name == "antialias" and isinstance(value, types.ModuleType):
            value = value.antialias
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package


def __getattr__(name: str) -> object:
    if name not in _WHERE:
        raise AttributeError(f"module 'shiftbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])
