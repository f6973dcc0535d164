"""The regression gate: verdicts, exit codes, configuration, markdown."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shiftbench.api import evaluate
from shiftbench.cli import app
from shiftbench.results.check import Gate, check, markdown, mismatches, parse_gates

from .helpers import TINY_RESNET, LinearProbe, config, wrap, write_folder

runner = CliRunner()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_folder(tmp_path_factory.mktemp("data"))
    out = tmp_path_factory.mktemp("base")
    args = ["eval", *TINY_RESNET, "--data", str(folder), "--suite", "clean,consistency,diagonal"]
    assert runner.invoke(app, [*args, "--out", str(out)]).exit_code == 0
    return out


def shifted(results: dict, key: str, delta: float) -> dict:
    """A copy of results with one metric moved by `delta`."""
    changed = copy.deepcopy(results)
    for metric in changed["metrics"]:
        if metric["key"] == key:
            metric["value"] += delta
    return changed


def write(results: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
    return folder


def test_gates_and_directions(baseline: Path) -> None:
    base = json.loads((baseline / "results.json").read_text())
    gates = parse_gates("max-drop", ["consistency=0.5", "diagonal.flip_rate=1"])
    assert gates[0] == Gate("consistency.consistency", "max-drop", 0.5)
    ok = check(shifted(base, "consistency.consistency", -0.4), base, gates)
    assert {v.key: v.verdict for v in ok}["consistency.consistency"] == "ok"
    bad = check(shifted(base, "consistency.consistency", -0.6), base, gates)
    verdicts = {v.key: v for v in bad}
    assert verdicts["consistency.consistency"].verdict == "REGRESSION"
    assert verdicts["consistency.consistency"].change == pytest.approx(-0.6)
    assert verdicts["clean.top1"].verdict == "not gated"
    # lower is better: the flip rate rising by more than 1 point is the regression
    up = check(shifted(base, "diagonal.flip_rate", 1.5), base, gates)
    assert {v.key: v.verdict for v in up}["diagonal.flip_rate"] == "REGRESSION"
    down = check(shifted(base, "diagonal.flip_rate", -5), base, gates)
    assert {v.key: v.verdict for v in down}["diagonal.flip_rate"] == "ok"
    value = {v.key: v.current for v in ok}["clean.top1"]
    floor = parse_gates("min", [f"clean.top1={value + 1}"])
    assert {v.key: v.verdict for v in check(base, None, floor)}["clean.top1"] == "REGRESSION"


def test_cli_exit_codes(baseline: Path, tmp_path: Path) -> None:
    base = json.loads((baseline / "results.json").read_text())
    same = write(base, tmp_path / "same")
    worse = write(shifted(base, "consistency.consistency", -3.0), tmp_path / "worse")
    args = ["--baseline", str(baseline), "--max-drop", "consistency=0.5"]
    passed = runner.invoke(app, ["check", str(same), *args])
    assert passed.exit_code == 0, passed.output
    regressed = runner.invoke(app, ["check", str(worse), *args])
    assert regressed.exit_code == 1 and "regression: consistency.consistency" in regressed.stderr
    other = copy.deepcopy(base)
    other["config"]["seed"] = 7
    mismatched = write(other, tmp_path / "other")
    refused = runner.invoke(app, ["check", str(mismatched), *args])
    assert refused.exit_code == 2 and "config.seed: 0 -> 7" in refused.stderr
    allowed = runner.invoke(app, ["check", str(mismatched), *args, "--allow-mismatch"])
    assert allowed.exit_code == 0
    padded = copy.deepcopy(base)
    padded["config"]["canvas"] = "pad"
    assert mismatches(padded, base) == ["config.canvas: resize -> pad"]
    older = copy.deepcopy(base)  # written before --canvas existed: its canvas was resized
    del older["config"]["canvas"]
    assert mismatches(base, older) == [] and mismatches(padded, older) != []
    unknown = runner.invoke(
        app, ["check", str(same), "--baseline", str(baseline), "--max-drop", "nope.x=1"]
    )
    assert unknown.exit_code == 2 and "nope.x is not in the baseline results" in unknown.stderr
    unmeasured = runner.invoke(app, ["check", str(same), "--min", "nope.x=1"])
    assert unmeasured.exit_code == 2 and "nope.x is not in the current results" in unmeasured.stderr
    missing = runner.invoke(app, ["check", str(tmp_path / "nowhere"), *args])
    assert missing.exit_code == 2 and "no results.json" in missing.stderr
    holder = runner.invoke(app, ["check", str(tmp_path), *args])  # holds results per folder
    assert holder.exit_code == 2 and "it holds one per variant; name one of them (" in holder.stderr
    assert str(tmp_path / "same") in holder.stderr


def test_markdown_and_step_summary_parse_back(baseline: Path, tmp_path: Path, monkeypatch) -> None:
    base = json.loads((baseline / "results.json").read_text())
    worse = write(shifted(base, "clean.top1", -2.0), tmp_path / "worse")
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    out = tmp_path / "check.md"
    args = [
        "check",
        str(worse),
        "--baseline",
        str(baseline),
        "--max-drop",
        "clean.top1=1",
        "--markdown",
        str(out),
    ]
    assert runner.invoke(app, args).exit_code == 1
    text = out.read_text()
    assert summary.read_text() == text
    lines = [line for line in text.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == ["metric", "baseline", "current", "change", "gate", "verdict"]
    first = dict(
        zip(header, [cell.strip() for cell in lines[2].strip("|").split("|")], strict=True)
    )
    assert first["metric"] == "clean.top1" and first["verdict"] == "REGRESSION"
    assert float(first["change"]) == pytest.approx(-2.0) and first["gate"] == "max-drop 1"
    assert text.startswith("**shiftbench check: 1 regression(s)**")


def test_gates_from_pyproject(baseline: Path, tmp_path: Path, monkeypatch) -> None:
    base = json.loads((baseline / "results.json").read_text())
    worse = write(shifted(base, "consistency.consistency", -1.0), tmp_path / "worse")
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        "[tool.shiftbench.check]\nmax-drop = { consistency = 0.5 }\n"
    )
    monkeypatch.chdir(project)
    result = runner.invoke(app, ["check", str(worse), "--baseline", str(baseline)])
    assert result.exit_code == 1
    loose = tmp_path / "loose.toml"
    loose.write_text("[tool.shiftbench.check]\nmax-drop = { consistency = 2 }\n")
    relaxed = runner.invoke(
        app, ["check", str(worse), "--baseline", str(baseline), "--check-config", str(loose)]
    )
    assert relaxed.exit_code == 0
    absent = ["check", str(worse), "--check-config", str(tmp_path / "none.toml")]
    assert "check configuration not found" in runner.invoke(app, absent).stderr
    empty = tmp_path / "empty.toml"
    empty.write_text("[tool.other]\n")
    ungated = runner.invoke(app, ["check", str(worse), "--check-config", str(empty)])
    assert ungated.exit_code == 2 and "or a [tool.shiftbench.check] table" in ungated.stderr


def test_eval_gates_itself(baseline: Path, tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "data")
    args = ["eval", *TINY_RESNET, "--data", str(folder), "--suite", "clean,consistency,diagonal"]
    gated = [
        *args,
        "--baseline",
        str(baseline),
        "--max-drop",
        "consistency=0.5",
        "--out",
        str(tmp_path / "o"),
    ]
    result = runner.invoke(app, gated)
    assert result.exit_code == 0, result.output
    assert "shiftbench check" in result.stdout


@pytest.mark.parametrize(
    ("gating", "message"),
    [
        (["--baseline", "{tmp}/nowhere"], "no gate: give --max-drop / --min"),
        (["--max-drop", "consistency=0.5"], "--max-drop consistency.consistency needs --baseline"),
        (["--baseline", "{base}", "--max-drop", "circular=1"], "circular.consistency is not in"),
        (["--min", "translation=50"], "a gate reads the translation suite, which is not selected"),
        (["--check-config", "{tmp}/none.toml"], "check configuration not found"),
        (["--markdown", "{tmp}/v.md"], "--allow-mismatch and --markdown apply to gates"),
        # settings that differ from the baseline's are known before the run
        (
            ["--baseline", "{base}", "--seed", "1", "--max-drop", "clean=1"],
            "results are not comparable (config.seed: 0 -> 1)",
        ),
        (
            ["--baseline", "{base}", "--img-size", "40", "--max-drop", "clean=1"],
            "model.preprocess.input_size: 32 -> 40",
        ),
        # and so are the images, listed before the run when there is a baseline
        (
            ["--baseline", "{base}", "--limit", "5", "--max-drop", "clean=1"],
            "(config.limit: None -> 5; data.images_selected: 12 -> 5; data.images_sha256",
        ),
    ],
)
def test_eval_refuses_gates_it_cannot_apply_before_evaluating(
    baseline: Path, tmp_path: Path, gating: list[str], message: str, monkeypatch
) -> None:
    """Found after an evaluation of hours, these would waste it: eval reads them first."""
    import shiftbench.cli.evaluate

    def no_run(*args, **kwargs):
        raise AssertionError("evaluated before refusing the gates")

    monkeypatch.setattr(shiftbench.cli.evaluate, "evaluate", no_run)
    folder = write_folder(tmp_path / "data")
    options = [o.format(tmp=tmp_path, base=baseline) for o in gating]
    out = tmp_path / "out"
    args = ["eval", *TINY_RESNET, "--data", str(folder), "--out", str(out), *options]
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and message in result.stderr, result.output
    assert not out.exists()


def test_markdown_when_all_pass(baseline: Path) -> None:
    base = json.loads((baseline / "results.json").read_text())
    text = markdown(check(base, base, parse_gates("max-drop", ["clean.top1=0"])))
    assert text.startswith("**shiftbench check: passed** (1 gated metric(s))")


def test_the_selected_images_must_be_the_same(tmp_path: Path) -> None:
    """The same files under another root compare; a renamed file (same counts) does not."""
    first = write_folder(tmp_path / "first")
    moved = shutil.copytree(first, tmp_path / "elsewhere")
    renamed = shutil.copytree(first, tmp_path / "renamed")
    (renamed / "class_1" / "img_0.png").rename(renamed / "class_1" / "img_9.png")
    runs = [
        evaluate(wrap(LinearProbe(16, 3), 16), folder, config(suites=("clean",))).to_json()
        for folder in (first, moved, renamed)
    ]
    assert mismatches(runs[1], runs[0]) == []
    assert mismatches(runs[2], runs[0]) == [
        "data.images_sha256: the selected images differ (paths or labels)"
    ]
    # a --limit above the image count selects them all: the same images, the same numbers
    probe = wrap(LinearProbe(16, 3), 16)
    every = evaluate(probe, first, config(suites=("clean",), limit=1000)).to_json()
    assert mismatches(every, runs[0]) == []
    some = evaluate(probe, first, config(suites=("clean",), limit=4)).to_json()
    assert mismatches(some, runs[0])[:1] == ["config.limit: None -> 4"]
    assert "data.images_sha256: the selected images differ (paths or labels)" in mismatches(
        some, runs[0]
    )


def test_a_configured_gate_on_an_unselected_suite_names_its_file(
    baseline: Path, tmp_path: Path, monkeypatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.shiftbench.check]\nmax-drop = { "diagonal.flip_rate" = 1.0 }\n'
    )
    monkeypatch.chdir(tmp_path)
    folder = write_folder(tmp_path / "data")
    args = ["eval", *TINY_RESNET, "--data", str(folder), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--baseline", str(baseline)])
    assert result.exit_code == 2 and not (tmp_path / "o").exists()
    assert result.stderr.strip() == (
        "error: a gate reads the diagonal suite, which is not selected (--suite): the gate on "
        "diagonal.flip_rate comes from [tool.shiftbench.check] in pyproject.toml"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("[]", "a JSON list, not an object"),
        ('{"metrics": 5}', "'model' is missing or not an object"),
        (
            '{"model": {"preprocess": {}}, "config": {}, "data": {}, "metrics": 5}',
            "'metrics' is missing or not a list",
        ),
        (
            '{"model": {"preprocess": {}}, "config": {}, "data": {}, "metrics": [{"key": 1}]}',
            "metrics[0] needs a key, a numeric value and higher_is_better",
        ),
        ("{", "is not a readable results.json"),
        ("\udcff", "is not a readable results.json"),
    ],
)
@pytest.mark.parametrize("side", ["current", "baseline"])
def test_check_exits_2_for_a_results_file_of_another_shape(
    baseline: Path, tmp_path: Path, content: str, message: str, side: str
) -> None:
    """Exit 1 means a regression and nothing else: a CI job must never read a crash as one."""
    bad = tmp_path / "bad.json"
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    current, base = (bad, baseline) if side == "current" else (baseline, bad)
    result = runner.invoke(app, ["check", str(current), "--baseline", str(base),
                                 "--max-drop", "clean=1"])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {bad} is not a") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
