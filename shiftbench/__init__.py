"""shiftbench: measure the shift (in)variance of image classifiers and what anti-aliasing buys.

Public API: `load_model`, `wrap_module`, `evaluate`, `write_results`, `EvalConfig`,
`scan_image_folder`.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .api import evaluate
from .config import EvalConfig
from .data import ImageSet, scan_image_folder
from .errors import ShiftbenchError
from .models import LoadedModel, Preprocess, load_model, load_weights, wrap_module
from .report import write_results
from .results import EvalResult

__all__ = [
    "EvalConfig",
    "EvalResult",
    "ImageSet",
    "LoadedModel",
    "Preprocess",
    "ShiftbenchError",
    "__version__",
    "evaluate",
    "load_model",
    "load_weights",
    "scan_image_folder",
    "wrap_module",
    "write_results",
]
