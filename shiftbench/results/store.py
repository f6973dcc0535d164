"""Output folders: claimed before a run, written whole or not at all, and holding a list of
the files shiftbench wrote there, so that a new set replaces exactly the old one.

Each folder that shiftbench writes into gets a hidden `.shiftbench-files.json` naming the
files of each kind of set it holds: "results" (one evaluation: metrics, curves, records),
"report" (report.md, plots, the paired comparison) and "training" (trained models). A new
set of a kind removes the files of the earlier set of that kind that it does not write
again; new results also remove the earlier report, which described the results they
replace. A file shiftbench did not write (a user's `curve_mine.csv`) is never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime, timezone
from pathlib import Path

from ..errors import Interrupted, WriteError
from ..run.checkpoint import PARTIAL, discard, interrupted
from ..tensorfiles import write_whole

MANIFEST = ".shiftbench-files.json"
COMPARISON = "comparison.json"
# What a set of each kind wrote before folders had a manifest (shiftbench 0.1.0's first
# releases): fixed names, plus the curve files its results.json lists.
_UNLISTED = {
    "results": ("metrics.csv", "results.json", "images.csv", "records.safetensors"),
    "report": (
        "report.md",
        "comparison.csv",
        COMPARISON,
        "plot_accuracy_consistency.png",
        "plot_diagonal_top1.png",
        "plot_translation_worst_top1.png",
        "plot_prob_true_examples.png",
        "plot_corruption_errors.png",
        "plot_filters_tv.png",
    ),
    "training": ("models.toml", "train.json"),
}


def default_output_dir(model_name: str) -> Path:
    """`results/<model>/<UTC timestamp>/`, with the model name made path-safe."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_") or "model"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("results") / safe / stamp


def holds_results(folder: Path) -> bool:
    """Whether `folder` holds finished results: one run's, or a comparison's."""
    return (folder / "results.json").is_file() or (folder / COMPARISON).is_file()


def prepare_output_dir(out: Path) -> Path | None:
    """Make sure `out` can be written before any work starts; the outermost folder this call
    created (`out` or one of its parents), None when `out` was there."""
    missing = [folder for folder in (out, *out.parents) if not folder.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".probe-"):
            pass
    except OSError as exc:
        _remove_empty(out, missing[-1] if missing else None)
        raise WriteError(f"cannot write to output folder {out}: {exc.strerror or exc}") from None
    return missing[-1] if missing else None


def _remove_empty(out: Path, created: Path | None) -> None:
    """Remove `out` and its parents up to `created` while they are empty (what a failed run
    made and left nothing in)."""
    if created is None:
        return
    for folder in (out, *out.parents):
        try:
            folder.rmdir()
        except OSError:  # not empty, or gone
            return
        if folder == created:
            return


@contextmanager
def claimed_dir(out: Path) -> Iterator[None]:
    """`out`, checked writable before any work starts; if the work fails or is interrupted,
    the folders this created are removed again while they are empty."""
    created = prepare_output_dir(out)
    try:
        yield
    except BaseException:
        _remove_empty(out, created)
        raise


@contextmanager
def run_output_dir(out: Path, resume: bool = False) -> Iterator[None]:
    """The output folder of an evaluation (`claimed_dir`). If the run fails or is
    interrupted, the checkpoint it started is removed when it holds no finished chunk (a
    resumed run's, there before it, is left): the folder is as it was, unless finished
    chunks are kept for `--resume`, which an interruption's message then says."""
    with claimed_dir(out):
        try:
            yield
        except BaseException as exc:
            kept = interrupted(out)
            if not kept and not resume:
                discard(out)
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, Interrupted):
                raise Interrupted(_interrupted_line(out, kept)) from None
            raise


def _interrupted_line(out: Path, kept: int | None) -> str:
    """What an interrupted run leaves in `out`, and how to go on."""
    if kept:
        return (
            f"interrupted: {kept} finished chunk(s) kept in {out / PARTIAL}; "
            f"--resume {out} continues from them"
        )
    earlier = " (the earlier results there are untouched)" if holds_results(out) else ""
    return f"interrupted: nothing was written to {out}{earlier}"


def written_files(folder: Path) -> dict[str, list[str]]:
    """The files of each kind of set that shiftbench wrote into `folder` (see the module's
    docstring); for a folder written before manifests, the names those sets had."""
    try:
        listed = json.loads((folder / MANIFEST).read_text())
        if isinstance(listed, dict):
            return {kind: _file_names(names) for kind, names in listed.items()}
    except (OSError, ValueError, TypeError):
        pass
    found = {k: [n for n in names if (folder / n).is_file()] for k, names in _UNLISTED.items()}
    try:
        curves = json.loads((folder / "results.json").read_text()).get("curves", [])
        found["results"] += [f"curve_{c['key']}.csv" for c in curves if isinstance(c, dict)]
    except (OSError, ValueError, AttributeError, KeyError, TypeError):
        pass
    return {kind: _file_names(names) for kind, names in found.items() if names}


def _file_names(names: list) -> list[str]:
    """The entries that name a file of the folder itself: a list edited by hand (or a curve
    key with a slash) never makes shiftbench remove a file elsewhere."""
    return [str(n) for n in names if str(n) == Path(str(n)).name and str(n) not in ("", ".", "..")]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def publish(out: Path, write: Callable[[Path], None], kind: str) -> list[Path]:
    """Let `write` fill a hidden staging folder inside `out`, then move its files into place
    as the folder's set of `kind`: an interrupted run leaves no half-written result file,
    and a failed write (a full disk) is one error naming the folder. The files of the
    earlier set of that kind that this one does not write are removed (for "results", the
    earlier report's too), and nothing else."""
    prepare_output_dir(out)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    earlier = written_files(out)
    try:
        write(staging)
        mode = 0o666 & ~_umask()
        written = []
        for path in sorted(staging.iterdir()):
            path.chmod(mode)
            target = out / path.name
            os.replace(path, target)
            written.append(target)
        names = [p.name for p in written]
        replaced = [kind, "report"] if kind == "results" else [kind]
        for stale in {n for k in replaced for n in earlier.pop(k, [])} - set(names):
            (out / stale).unlink(missing_ok=True)
        _write_manifest(out, {**earlier, kind: names})
    except OSError as exc:
        raise WriteError(f"cannot write the results to {out}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return written


def _write_manifest(out: Path, sets: dict[str, list[str]]) -> None:
    write_whole(out / MANIFEST, (json.dumps(sets, indent=1, sort_keys=True) + "\n").encode())


def remove_written(folder: Path) -> None:
    """Remove every file shiftbench wrote into `folder` (and the folder, if that empties
    it): a variant folder that a new comparison no longer has."""
    for names in written_files(folder).values():
        for name in names:
            (folder / name).unlink(missing_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)
    with suppress(OSError):
        folder.rmdir()
