"""The outcome of an evaluation: metrics, curves, per-image records and how they were made."""

from __future__ import annotations

import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from ..data.folders import ImageItems
from ..data.jpeg import jpeg_backend
from ..suites import Curve, Metric, metric_key

METRIC_COLUMNS = ["model", "variant", "suite", "metric", "value", "ci_low", "ci_high", "n"]


@dataclass
class EvalResult:
    """Everything one evaluation produced; `report.write_results` saves it."""

    model: dict
    variant: str
    data: dict
    config: dict
    suites: dict[str, dict]
    metrics: list[Metric]
    curves: list[Curve]
    records: dict[str, torch.Tensor]
    images: ImageItems  # the evaluated images
    skipped: list[tuple[str, str]]
    environment: dict
    timing: dict = field(default_factory=dict)
    label: str | None = None

    def metric(self, key: str) -> Metric:
        """The metric `suite.name`; a bare suite name gives that suite's headline metric."""
        key = metric_key(key)
        for metric in self.metrics:
            if metric.key == key:
                return metric
        raise KeyError(key)

    def metrics_frame(self) -> pd.DataFrame:
        """Metrics in long form: one row per model, variant, suite and metric."""
        rows = [
            {
                "model": self.model["name"],
                "variant": self.label or self.variant,
                "suite": m.suite,
                "metric": m.name,
                "value": m.value,
                "ci_low": m.ci_low,
                "ci_high": m.ci_high,
                "n": m.n,
            }
            for m in self.metrics
        ]
        return pd.DataFrame(rows, columns=METRIC_COLUMNS)

    def to_json(self) -> dict:
        """The content of results.json: metrics and curves with every setting behind them."""
        from .. import __version__

        return {
            "shiftbench": __version__,
            "model": self.model,
            "variant": self.variant,
            "label": self.label,
            "data": {**self.data, "skipped": [{"path": p, "reason": r} for p, r in self.skipped]},
            "config": self.config,
            "suites": self.suites,
            "environment": self.environment,
            "timing": self.timing,
            "metrics": [{"key": m.key, **asdict(m)} for m in self.metrics],
            "curves": [{"key": c.key, **asdict(c)} for c in self.curves],
            "higher_is_better": {m.key: m.higher_is_better for m in self.metrics},
        }


def data_kind(data: dict) -> str:
    """The kind of data a saved result was measured on (`ImageSet.kind`); results written
    before kinds were recorded tell the released ImageNet-C files by their description."""
    return data.get("kind") or ("imagenet_c" if "imagenet_c" in data else "folder")


def _git_revision() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment(device: torch.device) -> dict:
    """Versions, device, source revision, and the command line and folder it ran from,
    recorded with every result."""
    import timm
    import torchvision

    from .. import __version__

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    return {
        "shiftbench": __version__,
        "shiftbench_git": _git_revision(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "timm": timm.__version__,
        "platform": platform.platform(),
        "device": str(device),
        "device_name": name or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "jpeg": jpeg_backend(),
        "numerics": numerics(device),
        "command": shlex.join(sys.argv),
        "cwd": os.getcwd(),
    }


def numerics(device: torch.device) -> dict:
    """The PyTorch settings that decide float32 arithmetic: matmul precision everywhere and,
    on CUDA, the cuDNN version, TF32 for convolutions and matmuls (PyTorch's defaults: on
    for convolutions, off for matmuls, so "fp32" convolutions on Ampere and later GPUs run in
    TF32) and cuDNN's algorithm search (off unless the caller turned it on)."""
    settings: dict = {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    if device.type == "cuda":
        settings |= {
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
            "matmul_allow_tf32": torch.backends.cuda.matmul.allow_tf32,
            "cudnn_benchmark": torch.backends.cudnn.benchmark,
            "cudnn_deterministic": torch.backends.cudnn.deterministic,
        }
    return settings
