"""The command lines in README.md and docs/ name commands and options that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

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
    missing = [f.name for f in fields(EvalConfig) if f"`{f.name}`" not in api]
    assert missing == [], f"docs/api.md does not name EvalConfig's {missing}"


def test_every_option_of_every_command_is_documented() -> None:
    text = "".join(path.read_text() for path in DOCUMENTS)
    undocumented = {
        name: sorted(o for o in options_of(command) - {"--help"} if o.startswith("--")
                     and not o.startswith("--no-") and o not in text)
        for name, command in typer.main.get_command(app).commands.items()  # type: ignore[attr-defined]
    }  # fmt: skip
    assert {name: opts for name, opts in undocumented.items() if opts} == {}
