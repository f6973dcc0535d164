"""A suite's options are declared once, in its module: the CLI's flags, their help, the
refusal without the suite and the validation all come from that declaration."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import typer
from typer.testing import CliRunner

from shiftbench import EvalConfig, ShiftbenchError
from shiftbench.cli import app
from shiftbench.cli.app import user_errors
from shiftbench.cli.groups import Group, _suite_option, takes
from shiftbench.config import options_class
from shiftbench.suites import OPTIONS
from shiftbench.suites.options import SuiteOptions, option

runner = CliRunner()


def _options_of(command: str) -> dict[str, object]:
    group = typer.main.get_command(app)
    params = group.commands[command].params  # type: ignore[attr-defined]
    return {name: p for p in params for name in p.opts if name.startswith("--")}


@pytest.mark.parametrize("command", ["eval", "compare"])
def test_every_suite_option_is_a_flag_with_its_declared_help(command: str) -> None:
    flags = _options_of(command)
    for name, (_, declared) in OPTIONS.items():
        flag = "--" + name.replace("_", "-")
        assert flag in flags, f"{command} has no {flag}"
        assert flags[flag].help == declared.help  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ToyOptions(SuiteOptions):
    """Two options of a suite that is not registered."""

    rounds: int = option(2, "Rounds per image.", minimum=1)
    pattern: str = option("grid", "grid or ring.", choices=("grid", "ring"))


def test_a_new_suites_options_become_flags_checked_as_declared() -> None:
    toy = typer.Typer()
    params = tuple(
        _suite_option(name, declared, ToyOptions.defaults()[name])
        for name, declared in ToyOptions.declared().items()
    )

    @toy.command()
    @takes(Group("settings", params))
    def run(*, settings: dict) -> None:
        with user_errors():
            given = {k: v for k, v in settings.items() if v is not None}
            print(ToyOptions(**given))

    assert (
        "ToyOptions(rounds=3, pattern='ring')"
        in runner.invoke(toy, ["--rounds", "3", "--pattern", "ring"]).output
    )
    assert "ToyOptions(rounds=2, pattern='grid')" in runner.invoke(toy, []).output
    refused = runner.invoke(toy, ["--rounds", "0"])
    assert refused.exit_code == 2 and "--rounds must be >= 1" in refused.output
    assert "--pattern must be one of grid, ring" in runner.invoke(toy, ["--pattern", "x"]).output
    with pytest.raises(ShiftbenchError, match=r"^rounds must be >= 1$"):  # Python: parameters
        ToyOptions(rounds=0)


def test_an_option_without_its_suite_is_refused_on_the_command_line_even_at_its_default(
    tmp_path,
) -> None:
    args = ["--suite", "clean", "--shift-passes", "5", "--data", str(tmp_path)]
    result = runner.invoke(app, ["eval", "test_resnet", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "error: --shift-passes is read by the consistency suite, which is not selected (--suite)"
    )
    assert not (tmp_path / "o").exists()


def test_the_suites_defaults_are_their_declarations() -> None:
    config = EvalConfig(suites=("consistency", "translation", "corruption"))
    for name, (suite, _) in OPTIONS.items():
        assert config.option(name) == options_class(suite).defaults()[name]
        assert config.to_dict()[name] == EvalConfig().to_dict()[name]
