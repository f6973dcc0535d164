"""The command lines in README.md and docs/ name commands and options that exist."""

from __future__ import annotations

import re
import shlex
import shutil
import textwrap
from pathlib import Path

import pytest
import torch
import typer
from safetensors.torch import save_file

from shiftbench.cli import app

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def command_lines(path: Path) -> list[str]:
    """Lines of fenced code blocks that run shiftbench (directly or under torchrun)."""
    lines, fenced, joined = [], False, ""
    for raw in path.read_text().splitlines():
        if raw.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        joined += raw.rstrip("\\").strip() + " "
        if raw.rstrip().endswith("\\"):
            continue
        line, joined = joined.split("#")[0].strip(), ""
        if re.search(r"(^|-m )shiftbench \w", line):
            lines.append(line)
    return lines


def options_of(command: object) -> set[str]:
    params = command.params  # type: ignore[attr-defined]
    return {name for p in params for name in (*p.opts, *p.secondary_opts)}


CASES = [
    (path.relative_to(ROOT).as_posix(), line) for path in DOCUMENTS for line in command_lines(path)
]


@pytest.mark.parametrize(("document", "line"), CASES)
def test_documented_commands_exist(document: str, line: str) -> None:
    words = shlex.split(line)
    start = words.index("shiftbench") + 1
    command = typer.main.get_command(app).commands.get(words[start])  # type: ignore[attr-defined]
    assert command is not None, f"{document}: no command '{words[start]}' in: {line}"
    known = options_of(command) | {"--help"}
    used = {w.split("=")[0] for w in words[start + 1 :] if w.startswith("--")}
    assert used <= known, f"{document}: unknown {sorted(used - known)} in: {line}"


def test_the_documents_have_commands() -> None:
    assert len(CASES) > 40


def test_the_api_docs_name_every_evaluation_setting() -> None:
    from dataclasses import fields

    from shiftbench import EvalConfig

    api = (ROOT / "docs" / "api.md").read_text()
    from shiftbench.suites import OPTIONS

    missing = [f.name for f in fields(EvalConfig) if f"`{f.name}`" not in api]
    assert missing == [], f"docs/api.md does not name EvalConfig's {missing}"
    undeclared = [name for name in OPTIONS if f"{name}=" not in api]
    assert undeclared == [], f"docs/api.md does not name the suite options {undeclared}"


def test_every_option_of_every_command_is_documented() -> None:
    text = "".join(path.read_text() for path in DOCUMENTS)
    undocumented = {
        name: sorted(o for o in options_of(command) - {"--help"} if o.startswith("--")
                     and not o.startswith("--no-") and o not in text)
        for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
    }  # fmt: skip
    assert {name: opts for name, opts in undocumented.items() if opts} == {}


def _folded_runs(page: str) -> list[str]:
    """The shiftbench commands of a GitHub Actions page's `run:` steps, folded (`>`) or not."""
    commands = []
    for block in re.findall(r"run: >\n((?:\s{10}.*\n)+)|run: (shiftbench .*)\n", page):
        text = " ".join(line.strip() for line in (block[0] or block[1]).splitlines())
        if text.startswith("shiftbench "):
            commands.append(text)
    return commands


def test_the_ci_page_runs_as_written(tmp_path: Path, monkeypatch) -> None:
    """docs/ci.md's commands, with its pyproject.toml gates, in the combination it shows: the
    command lines (resnet50 replaced by a tiny model) and the workflow's steps. Each runs to a
    verdict (exit 0, or 1 where the tiny model misses the page's `min` gate), never an error."""
    from typer.testing import CliRunner

    from .helpers import TINY_RESNET, write_folder

    page = (ROOT / "docs" / "ci.md").read_text()
    toml = re.search(r"```toml\n(.*?)```", page, re.S)
    assert toml is not None
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(toml.group(1)))
    monkeypatch.chdir(tmp_path)
    write_folder(tmp_path / "val")
    write_folder(tmp_path / "val-subset")
    (tmp_path / "models").mkdir()
    arch = (
        "import torch.nn as nn\n"
        "def build(num_classes=3):\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2),\n"
        "        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))\n"
    )
    (tmp_path / "models" / "arch.py").write_text(arch)
    built: dict = {}
    exec(arch, built)
    torch.manual_seed(0)
    save_file(built["build"]().state_dict(), str(tmp_path / "model.safetensors"))
    runner = CliRunner()
    suites = ["--suite", "clean,consistency,diagonal"]
    for name in ("main", "today"):
        made = runner.invoke(
            app, ["eval", *TINY_RESNET, "--data", "val", *suites, "--out", f"results/{name}"]
        )
        assert made.exit_code == 0, made.output
    workflow = _folded_runs(page)
    # the page's command block; the third line found is the workflow's folded step's start
    *lines, folded = command_lines(ROOT / "docs" / "ci.md")
    assert len(lines) == 2 and len(workflow) == 2 and workflow[0].startswith(folded)
    evaluate, gate = workflow
    steps = [*lines, evaluate, evaluate.replace("results/current", "results/main"), gate]
    for line in steps:
        words = shlex.split(line)[1:]
        if "resnet50" in words:
            at = words.index("resnet50")
            words[at : at + 1] = TINY_RESNET
        if "--out" in words and Path(words[words.index("--out") + 1]).exists():
            shutil.rmtree(words[words.index("--out") + 1])
        result = runner.invoke(app, words)
        assert result.exit_code in (0, 1), f"{line}\n{result.output}"
        assert "error:" not in result.stderr, f"{line}\n{result.stderr}"
        if words[0] == "check" or "--baseline" in words:
            assert "shiftbench check" in result.stdout
        if result.exit_code == 1:
            assert "regression:" in result.stderr


def test_the_demo_figures_are_those_of_the_current_code() -> None:
    """README.md and docs/experiments.md show the figures benchmarks/demo_figures.py measured
    (docs/measurements/demo.json), and no code behind those figures changed since."""
    import json
    import sys

    from shiftbench.experiments.demo import figures_digest

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import demo_figures

    measured = json.loads(demo_figures.MEASURED.read_text())
    for path, text in demo_figures.documents(measured).items():
        assert path.read_text() == text, f"{path.name} does not show docs/measurements/demo.json"
    assert measured["figures_digest"] == figures_digest(), (
        "the code behind the demo's figures changed since they were measured: run "
        "python benchmarks/demo_figures.py and commit what it writes"
    )
