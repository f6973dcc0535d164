"""Result files (written whole or not at all) and terminal tables."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from rich.table import Table
from safetensors.torch import save_file

from .errors import ShiftbenchError
from .results import EvalResult
from .suites import Curve

CURVE_COLUMNS = ["x", "value", "ci_low", "ci_high", "n"]


def default_output_dir(model_name: str) -> Path:
    """`results/<model>/<UTC timestamp>/`, with the model name made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_") or "model"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("results") / safe / stamp


def prepare_output_dir(out: Path) -> bool:
    """Make sure `out` can be written before any work starts; True if this call created it."""
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        raise ShiftbenchError(
            f"cannot write to output folder {out}: {exc.strerror or exc}"
        ) from None
    return created


def discard_output_dir(out: Path, created: bool) -> None:
    """Remove an output folder this run created if it is still empty (the run failed)."""
    if created and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def _curve_csv(curve: Curve) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([curve.x_name, *CURVE_COLUMNS[1:]])
    for row in zip(curve.x, curve.value, curve.ci_low, curve.ci_high, curve.n, strict=True):
        writer.writerow(row)
    return buffer.getvalue()


def _images_csv(result: EvalResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["index", "path", "label"])
    for image in result.images:
        writer.writerow([image["index"], image["path"], image["label"]])
    return buffer.getvalue()


def _json_safe(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_results(result: EvalResult, out: str | Path) -> list[Path]:
    """Write metrics.csv, results.json, one CSV per curve, images.csv and records.safetensors.

    Files are staged in a hidden folder inside `out` and moved into place only when all of
    them are complete, so an interrupted run leaves no half-written result file.
    """
    out = Path(out)
    prepare_output_dir(out)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        result.metrics_frame().to_csv(staging / "metrics.csv", index=False)
        text = json.dumps(_json_safe(result.to_json()), indent=2, allow_nan=False)
        (staging / "results.json").write_text(text + "\n")
        for curve in result.curves:
            (staging / f"curve_{curve.key}.csv").write_text(_curve_csv(curve))
        (staging / "images.csv").write_text(_images_csv(result))
        records = {k: v.contiguous() for k, v in result.records.items()}
        save_file(records, str(staging / "records.safetensors"))
        mode = 0o666 & ~_umask()
        written = []
        for path in sorted(staging.iterdir()):
            path.chmod(mode)
            target = out / path.name
            os.replace(path, target)
            written.append(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _fmt(value: float, digits: int = 2) -> str:
    return "nan" if not math.isfinite(value) else f"{value:.{digits}f}"


def metrics_table(result: EvalResult) -> Table:
    """The metrics as a rich table: value, 95% interval and trial count per metric."""
    title = f"{result.model['name']} ({result.variant}) on {result.data['images_evaluated']} images"
    table = Table(title=title, title_justify="left")
    table.add_column("suite")
    table.add_column("metric")
    table.add_column("value %", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("n", justify="right")
    table.add_column("better", justify="center")
    for m in result.metrics:
        interval = f"{_fmt(m.ci_low)} - {_fmt(m.ci_high)}" if math.isfinite(m.ci_low) else ""
        better = "higher" if m.higher_is_better else "lower"
        table.add_row(m.suite, m.name, _fmt(m.value), interval, str(m.n), better)
    return table
