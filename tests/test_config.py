"""EvalConfig's settings each declare their role once (config._setting): the suite that reads
them, whether check compares them, whether a resumed run may change them. What the CLI
refuses holds from the Python API too."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from shiftbench import EvalConfig, ShiftbenchError, evaluate
from shiftbench.config import COMPARED_SETTINGS, SPEED_SETTINGS, SUITE_SETTINGS
from shiftbench.results.check import mismatches
from shiftbench.results.report import read_saved, write_results

from .helpers import LinearProbe, config, wrap


def test_each_setting_declares_its_role() -> None:
    assert SUITE_SETTINGS == {
        "shift_passes": "consistency", "attack_mode": "translation",
        "attack_radius": "translation", "attack_step": "translation",
        "subpixel_steps": "subpixel", "subpixel_interp": "subpixel",
        "embed_scales": "embedded", "embed_steps": "embedded",
        "perturbations": "perturbation", "difficulty": "perturbation",
        "corruptions": "corruption", "severities": "corruption", "jpeg_like_release": "corruption",
    }  # fmt: skip
    assert set(COMPARED_SETTINGS) == {
        "max_shift", "shift_passes", "seed", "limit", "amp", "corruptions", "severities",
        "jpeg_like_release", "decode", "canvas", "subpixel_steps", "subpixel_interp",
        "embed_scales", "embed_steps", "perturbations", "difficulty",
    }  # fmt: skip
    assert set(SPEED_SETTINGS) == {"batch_size", "workers", "device", "compile", "channels_last"}


@pytest.mark.parametrize(
    ("setting", "value", "suite"),
    [("shift_passes", 9, "consistency"), ("attack_step", 2, "translation"),
     ("severities", (3,), "corruption"), ("jpeg_like_release", True, "corruption")],
)  # fmt: skip
def test_a_setting_of_an_unselected_suite_is_refused_from_python(
    setting: str, value: object, suite: str
) -> None:
    with pytest.raises(ShiftbenchError, match=f"{setting} is read by the {suite} suite, which"):
        EvalConfig.from_settings(suites=("clean",), **{setting: value})
    with pytest.raises(ShiftbenchError, match=f"{setting} is read by the {suite} suite, which"):
        EvalConfig(suites=("clean",), options={suite: {setting: value}})
    # with its suite it is read, given by its flat name or in the suite's options
    flat = EvalConfig.from_settings(suites=("clean", suite), **{setting: value})
    assert flat == EvalConfig(suites=("clean", suite), options={suite: {setting: value}})
    assert flat.option(setting) == value
    # a saved configuration keeps only what its suites read
    assert EvalConfig.from_dict({"suites": ["clean"], setting: value}) == EvalConfig(
        suites=("clean",)
    )


def test_check_and_resume_compare_the_declared_settings_from_python(
    folder: Path, tmp_path: Path
) -> None:
    model = wrap(LinearProbe(16, 3), 16)
    settings = config(max_shift=4)
    first = evaluate(model, folder, settings, checkpoint=tmp_path / "a")
    write_results(first, tmp_path / "a")
    # a resumed run may change the speed settings, not one that changes the numbers
    faster = replace(settings, batch_size=3)
    assert evaluate(model, folder, faster, checkpoint=tmp_path / "a", resume=True) is not None
    write_results(first, tmp_path / "a")
    (tmp_path / "b").mkdir()
    evaluate(model, folder, settings, checkpoint=tmp_path / "b")
    with pytest.raises(ShiftbenchError, match=r"holds a run of something else \(config.seed"):
        evaluate(model, folder, replace(settings, seed=1), checkpoint=tmp_path / "b", resume=True)
    other = evaluate(model, folder, settings.with_settings(shift_passes=2))
    write_results(other, tmp_path / "c")
    saved = [read_saved(tmp_path / name)[0] for name in ("a", "c")]
    assert mismatches(saved[1], saved[0])[0] == "config.shift_passes: 3 -> 2"
