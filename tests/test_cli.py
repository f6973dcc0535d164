"""The command line end to end: files written (bad input: test_bad_input.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from shiftbench.cli import app

from .helpers import TINY_RESNET

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["eval", *args])


def test_eval_writes_every_file(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run(
        *TINY_RESNET, "--data", str(folder), "--suite", "all", "--out", str(out), "--seed", "3"
    )
    assert result.exit_code == 0, result.output
    assert "consistency" in result.stdout and "95% CI" in result.stdout
    # stderr is no terminal here, as in a CI log: progress comes as labelled lines
    assert "\nevaluating: 12/12 images (100%), " in result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        ".shiftbench-files.json",  # what shiftbench wrote here: the list a new run replaces
        "curve_diagonal.prob_true.csv",
        "curve_diagonal.top1.csv",
        "curve_embedded.flip_rate.csv",
        "curve_embedded.mac.csv",
        "curve_embedded.top1.csv",
        "curve_subpixel.consistency.ideal.csv",
        "curve_subpixel.mac.ideal.csv",
        "curve_subpixel.worst_top1.ideal.csv",
        "curve_translation.worst_top1.csv",
        "images.csv",
        "metrics.csv",
        "records.safetensors",
        "results.json",
    ]
    assert json.loads((out / ".shiftbench-files.json").read_text()) == {"results": names[1:]}
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == [
        "model",
        "variant",
        "suite",
        "metric",
        "value",
        "ci_low",
        "ci_high",
        "n",
    ]
    assert set(metrics.suite) == {
        "clean", "consistency", "diagonal", "circular", "translation", "subpixel", "embedded",
    }  # fmt: skip
    assert (metrics.ci_low <= metrics.value).all() and (metrics.value <= metrics.ci_high).all()
    meta = json.loads((out / "results.json").read_text())
    assert meta["config"]["seed"] == 3 and meta["config"]["suites"][-1] == "embedded"
    assert meta["data"]["images_evaluated"] == 12 and meta["data"]["skipped"] == []
    assert meta["environment"]["torch"] == torch.__version__
    # what decides float32 arithmetic (on the CPU, the matmul precision alone)
    numerics = meta["environment"]["numerics"]
    assert numerics == {"float32_matmul_precision": torch.get_float32_matmul_precision()}
    assert meta["higher_is_better"]["diagonal.flip_rate"] is False
    assert meta["suites"]["translation"]["radius"] == 4
    curve = pd.read_csv(out / "curve_diagonal.top1.csv")
    assert list(curve.offset) == list(range(9))
    images = pd.read_csv(out / "images.csv")
    assert len(images) == 12 and images.path[0] == "class_0/img_0.png"


def test_records_recompute_every_metric(folder: Path, tmp_path: Path) -> None:
    from shiftbench import EvalConfig
    from shiftbench.data.views import Geometry
    from shiftbench.suites import SUITES

    out = tmp_path / "out"
    assert (
        run(*TINY_RESNET, "--data", str(folder), "--suite", "all", "--out", str(out)).exit_code == 0
    )
    meta = json.loads((out / "results.json").read_text())
    records = load_file(str(out / "records.safetensors"))
    config = EvalConfig.from_dict(meta["config"])
    geometry = Geometry(
        meta["data"]["geometry"]["input_size"], meta["data"]["geometry"]["max_shift"]
    )
    saved = {m["key"]: m["value"] for m in meta["metrics"]}
    for name in config.suites:
        suite = SUITES[name](geometry, config)
        own = {k.split(".", 1)[1]: v for k, v in records.items() if k.startswith(f"{name}.")}
        for metric in suite.summarise(own)[0]:
            assert metric.value == pytest.approx(saved[metric.key])


def test_limit_is_loud(folder: Path, tmp_path: Path) -> None:
    result = run(*TINY_RESNET, "--data", str(folder), "--limit", "5", "--out", str(tmp_path / "o"))
    assert result.exit_code == 0
    assert "evaluating 5 of 12 images" in result.stderr


def test_corrupt_image_is_skipped_counted_and_named(folder: Path, tmp_path: Path) -> None:
    (folder / "class_2" / "[b]zz_broken.png").write_bytes(b"\x89PNG broken")
    out = tmp_path / "out"
    result = run(*TINY_RESNET, "--data", str(folder), "--out", str(out))
    assert result.exit_code == 0, result.output
    # named on the terminal as written: a name is never read as markup
    assert "1 unreadable file skipped, first class_2/[b]zz_broken.png (" in result.stderr
    meta = json.loads((out / "results.json").read_text())
    assert meta["data"]["images_evaluated"] == 12
    assert [s["path"] for s in meta["data"]["skipped"]] == ["class_2/[b]zz_broken.png"]


def test_failed_write_leaves_no_result_file(folder: Path, tmp_path: Path, monkeypatch) -> None:
    import shiftbench.results.report as report

    def explode(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_tensors", explode)
    out = tmp_path / "out"
    result = run(*TINY_RESNET, "--data", str(folder), "--out", str(out))
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot write the results to {out}: No space left on device"
    )
    # only the hidden checkpoint stays: the evaluation itself was finished
    assert [p.name for p in out.iterdir()] == [".partial"]
    monkeypatch.undo()
    again = run(*TINY_RESNET, "--data", str(folder), "--resume", str(out))
    assert again.exit_code == 0, again.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["timing"]["resumed_images"] == saved["data"]["images_evaluated"] == 12
    assert not (out / ".partial").exists()


def test_a_run_into_a_results_folder_replaces_the_whole_set(folder: Path, tmp_path: Path) -> None:
    """The curves of an earlier run with more suites must not stay beside the new results."""
    out = tmp_path / "out"
    first = run(*TINY_RESNET, "--data", str(folder), "--suite", "all", "--out", str(out))
    assert first.exit_code == 0 and len(list(out.glob("curve_*.csv"))) == 9
    second = run(*TINY_RESNET, "--data", str(folder), "--suite", "clean", "--out", str(out))
    assert second.exit_code == 0, second.output
    assert (
        f"results written to {out}; they replace the results of an earlier run there"
        in second.stderr
    )
    assert sorted(p.name for p in out.iterdir()) == [
        ".shiftbench-files.json", "images.csv", "metrics.csv", "records.safetensors",
        "results.json",
    ]  # fmt: skip


def test_python_dash_m_and_usage_error_is_one_line() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "shiftbench", "--help"], capture_output=True, text=True
    )
    assert ok.returncode == 0 and "eval" in ok.stdout
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "shiftbench",
            "eval",
            "resnet18",
            "--data",
            ".",
            "--batch-size",
            "x",
        ],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "Traceback" not in bad.stderr, bad.stderr


def test_random_initialised_models_repeat_with_the_seed(folder: Path, tmp_path: Path) -> None:
    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        assert (
            run(*TINY_RESNET, "--data", str(folder), "--seed", "5", "--out", str(out)).exit_code
            == 0
        )
        runs.append(load_file(str(out / "records.safetensors")))
    for key, value in runs[0].items():
        assert torch.equal(value, runs[1][key]), key


def test_help_keeps_placeholders_in_angle_brackets() -> None:
    """The help renders as markdown, where a bare <name> is an HTML tag and vanishes."""
    shown = runner.invoke(app, ["eval", "--help"], env={"COLUMNS": "200"}).output
    assert "<root>/<corruption>/<severity>/<synset>/<image>" in shown
    assert "results/<model>/<UTC timestamp>" in shown


def test_version() -> None:
    from shiftbench import __version__

    shown = runner.invoke(app, ["--version"])
    assert shown.exit_code == 0 and shown.output == f"shiftbench {__version__}\n"


def test_the_package_imports_its_names_when_first_used() -> None:
    """`import shiftbench` does not import torch (the command's start catches Ctrl-C while
    torch loads); every public name resolves, and `shiftbench.antialias` is the conversion
    function even after its subpackage has been imported."""
    probe = (
        "import sys, shiftbench\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
        "import shiftbench.antialias.blurpool\n"
        "from shiftbench import antialias\n"
        "assert callable(antialias) and shiftbench.antialias is antialias\n"
        "assert sorted(shiftbench.__all__) == sorted([*shiftbench._WHERE, '__version__'])\n"
        "assert all(getattr(shiftbench, name) is not None for name in shiftbench.__all__)\n"
    )
    ran = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
