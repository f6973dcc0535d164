"""The outcome of an evaluation: metrics, curves, per-image records and how they were made."""

from __future__ import annotations

import csv
import json
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
from ..errors import ShiftbenchError, first_line
from ..suites import Curve, Metric, metric_key
from ..tensorfiles import read_tensors

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
    folder: Path | None = None  # where a result read back (`load`) was saved

    @classmethod
    def from_json(
        cls,
        document: object,
        records: dict[str, torch.Tensor] | None = None,
        images: ImageItems | None = None,
        folder: Path | None = None,
    ) -> EvalResult:
        """A result from the content of its results.json (`to_json`), with its per-image
        `records` and `images` when they were saved; a document of another shape is refused
        with one line (what is wrong with it)."""
        problem = _shape_problem(document)
        if problem:
            raise ShiftbenchError(f"not a shiftbench results.json: {problem}")
        assert isinstance(document, dict)
        data = dict(document["data"])
        skipped = [(s["path"], s["reason"]) for s in data.pop("skipped", None) or []]
        return cls(
            model=document["model"],
            variant=document.get("variant") or "",
            data=data,
            config=document["config"],
            suites=document.get("suites") or {},
            metrics=[_metric(m) for m in document["metrics"]],
            curves=[_curve(c) for c in document.get("curves") or []],
            records=records or {},
            images=images if images is not None else ImageItems.build([], [], []),
            skipped=skipped,
            environment=document.get("environment") or {},
            timing=document.get("timing") or {},
            label=document.get("label"),
            folder=folder,
        )

    @classmethod
    def load(cls, path: str | Path, records: bool = True, images: bool = False) -> EvalResult:
        """A result saved by `write_results`: its folder, or its results.json file (a file
        of another name is read alone), with the per-image `records` saved beside it (what
        paired statistics and plots need; the gates read the numbers alone) and, when asked,
        the listing of `images` from images.csv (3.75 M rows for ImageNet-C)."""
        path = Path(path)
        file = path if path.is_file() else path / "results.json"
        try:
            document = json.loads(file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ShiftbenchError(f"{file} is not a readable results.json: {exc}") from None
        folder = file.parent
        beside = file.name == "results.json"
        tensors = folder / "records.safetensors"
        try:
            saved = read_tensors(tensors)[0] if records and beside and tensors.is_file() else {}
        except (OSError, ValueError) as exc:
            raise ShiftbenchError(f"{tensors} is not readable: {first_line(exc)}") from None
        listing = _read_images(folder / "images.csv") if images and beside else None
        try:
            return cls.from_json(document, saved, listing, folder)
        except ShiftbenchError as exc:
            raise ShiftbenchError(f"{file} is {exc}") from None

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


def _shape_problem(document: object) -> str | None:
    """What keeps `document` from being read as results.json (None: nothing), so that a
    file of another shape is one line, not a TypeError deep in the gates."""
    if not isinstance(document, dict):
        return f"a JSON {type(document).__name__}, not an object"
    for key in ("model", "config", "data"):
        if not isinstance(document.get(key), dict):
            return f"'{key}' is missing or not an object"
    if not isinstance(document["model"].get("preprocess"), dict):
        return "'model.preprocess' is missing or not an object"
    if not isinstance(document.get("suites", {}), dict):
        return "'suites' is not an object"
    metrics = document.get("metrics")
    if not isinstance(metrics, list):
        return "'metrics' is missing or not a list"
    for position, metric in enumerate(metrics):
        if not (
            isinstance(metric, dict)
            and isinstance(metric.get("key"), str)
            and isinstance(metric.get("higher_is_better"), bool)
            and (metric.get("value") is None or _is_number(metric["value"]))
        ):
            return f"metrics[{position}] needs a key, a numeric value and higher_is_better"
    return None


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _metric(saved: dict) -> Metric:
    suite, _, name = saved["key"].partition(".")
    return Metric(
        saved.get("suite", suite), saved.get("name", name), saved.get("value"),
        saved.get("ci_low"), saved.get("ci_high"), saved.get("n", 0), saved["higher_is_better"],
    )  # fmt: skip


def _curve(saved: dict) -> Curve:
    suite, _, name = saved["key"].partition(".")
    return Curve(
        saved.get("suite", suite), saved.get("name", name), saved["x_name"], saved["x"],
        saved["value"], saved["ci_low"], saved["ci_high"], saved["n"],
        saved.get("higher_is_better", True),
    )  # fmt: skip


def _read_images(file: Path) -> ImageItems | None:
    """The listing images.csv saved (index, path, label), or None without one."""
    try:
        with open(file, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ShiftbenchError(f"{file} is not readable: {first_line(exc)}") from None
    try:
        return ImageItems.build(
            (int(r["index"]) for r in rows), (r["path"] for r in rows),
            (int(r["label"]) for r in rows),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError):
        raise ShiftbenchError(f"{file} is not a shiftbench images.csv") from None


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
