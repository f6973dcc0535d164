"""`shiftbench compare`: variants in one pass, paired differences, specs, files, errors."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from shiftbench.api import evaluate, evaluate_many
from shiftbench.cli import app
from shiftbench.errors import ShiftbenchError
from shiftbench.models.variants import (
    VariantSpec,
    check_labels,
    expand_antialias,
    labels_for,
    parse_spec,
    read_models_toml,
)
from shiftbench.results.paired import mcnemar_exact, paired_differences
from shiftbench.results.report import Comparison, read_saved, write_comparison
from shiftbench.results.result import EvalResult

from .helpers import TINY_OPTIONS, Blind, LinearProbe, config, wrap

runner = CliRunner()
ALL_SHIFTS = ("clean", "consistency", "diagonal", "circular", "translation")


def test_one_pass_gives_each_model_its_own_results(folder: Path) -> None:
    """Sharing decoding and draws changes no number: each model's records equal those of its
    own evaluation, even when the attack needs very different views per model."""
    settings = config(suites=(*ALL_SHIFTS, "corruption"), corruptions=("shot_noise",),
                      severities=(2,), batch_size=7)  # fmt: skip
    models = [wrap(Blind(3), 16), wrap(LinearProbe(16, 3), 16), wrap(LinearProbe(16, 3, 1), 16)]
    together = evaluate_many(models, folder, settings, labels=["blind", "probe", "probe1"])
    assert [r.label for r in together] == ["blind", "probe", "probe1"]
    views = [r.timing["views"] for r in together]
    assert views[0] != views[1]  # the attack needs more views for one model than another
    for model, shared in zip(models, together, strict=True):
        alone = evaluate(model, folder, settings)
        assert alone.records.keys() == shared.records.keys()
        for key, value in alone.records.items():
            assert torch.equal(value, shared.records[key]), key
        assert [m.value for m in alone.metrics] == [m.value for m in shared.metrics]


def test_models_must_share_the_input(folder: Path) -> None:
    with pytest.raises(ShiftbenchError, match="input size 20 but"):
        evaluate_many([wrap(Blind(3), 16), wrap(Blind(3), 20)], folder, config())


def _saved(results: list, out: Path):
    return write_comparison(results, out, resamples=500)


def test_a_model_against_itself_differs_by_nothing(tmp_path: Path, folder: Path) -> None:
    probe = wrap(LinearProbe(16, 3), 16)
    twin = wrap(copy.deepcopy(probe.module), 16)
    results = evaluate_many([probe, twin], folder, config(suites=ALL_SHIFTS), labels=["a", "b"])
    _, differences = _saved(results, tmp_path / "cmp")
    assert differences
    for d in differences:
        assert (d.difference, d.ci_low, d.ci_high) == (0.0, 0.0, 0.0), d.key
        assert d.p_value in (None, 1.0)
        assert d.verdict == "n.s."


def test_differences_and_tests_match_a_naive_count(tmp_path: Path, folder: Path) -> None:
    """A blind model is perfectly consistent; a pixel-linear one is not: the difference of
    consistency equals the difference of the two rates, and McNemar's p comes from the
    images on which one model agreed more often than the other."""
    models = [wrap(LinearProbe(16, 3), 16), wrap(Blind(3), 16)]
    results = evaluate_many(models, folder, config(), labels=["probe", "blind"])
    variants, differences = _saved(results, tmp_path / "cmp")
    found = {d.key: d for d in differences}
    d = found["consistency.consistency"]
    probe_agree = results[0].records["consistency.agree"].double().mean(dim=1)
    blind_agree = results[1].records["consistency.agree"].double().mean(dim=1)
    assert torch.all(blind_agree == 1.0)
    assert d.difference == pytest.approx(100 * float((blind_agree - probe_agree).mean()))
    better = int((blind_agree > probe_agree).sum())
    assert d.p_value == pytest.approx(mcnemar_exact(better, 0))
    assert d.ci_low <= d.difference <= d.ci_high
    assert d.verdict == ("better" if d.p_value < 0.05 and d.ci_low > 0 else "n.s.")
    assert found["clean.prob_true"].p_value is None  # a mean, not a rate: no McNemar
    # the saved files alone give the same differences
    again = paired_differences(read_saved(tmp_path / "cmp"), resamples=500)
    assert [x.to_dict() for x in again] == [x.to_dict() for x in differences]
    assert [v.label for v in variants] == ["probe", "blind"]


def test_unpaired_results_are_refused(tmp_path: Path, folder: Path) -> None:
    a = evaluate(wrap(Blind(3), 16), folder, config(seed=0))
    b = evaluate(wrap(Blind(3), 16), folder, config(seed=1))
    with pytest.raises(ShiftbenchError, match=r"not paired: config.seed"):
        write_comparison([a, b], tmp_path / "cmp")


def test_specs_parse_names_with_colons_and_typed_options() -> None:
    spec = parse_spec("tv/resnet50:aa=4:weights=lpf4.pth:label=LPF-4:aa_stem=false")
    assert (spec.name, spec.aa, spec.weights, spec.label, spec.aa_stem) == (
        "tv/resnet50", "4", "lpf4.pth", "LPF-4", False,
    )  # fmt: skip
    assert parse_spec("hf-hub:timm/resnet50.a1_in1k:aa=aps").name == "hf-hub:timm/resnet50.a1_in1k"
    own = parse_spec("mynet:model_file=arch.py:build:weights=mynet.pth:aa=3")
    assert (own.model_file, own.weights, own.aa) == ("arch.py:build", "mynet.pth", "3")
    defaults = VariantSpec("", pretrained=False, img_size=32)
    assert parse_spec("resnet18:img_size=64", defaults) == VariantSpec(
        "resnet18", pretrained=False, img_size=64
    )
    for bad, message in [
        ("resnet18:depth=4", "unknown option 'depth'"),
        ("resnet18:img_size=big", "whole number"),
        ("resnet18:pretrained=maybe", "true or false"),
        ("resnet18:aa=4:extra", "not key=value"),
        ("mynet:model_file=arch.py:build:extra", "not key=value"),
        (":aa=4", "no name"),
    ]:
        with pytest.raises(ShiftbenchError, match=message):
            parse_spec(bad)


def test_antialias_lists_expand_models_without_their_own_aa() -> None:
    specs = [parse_spec("resnet18"), parse_spec("resnet50:aa=aps")]
    expanded = expand_antialias(specs, "0,3,5")
    assert [(s.name, s.aa) for s in expanded] == [
        ("resnet18", "0"), ("resnet18", "3"), ("resnet18", "5"), ("resnet50", "aps"),
    ]  # fmt: skip
    assert [s.converted for s in expanded] == [False, True, True, True]
    with pytest.raises(ShiftbenchError, match=r"filter size 1\.\.7 or aps"):
        expand_antialias(specs, "0,big")


def test_models_toml_resolves_paths_from_its_folder(tmp_path: Path) -> None:
    file = tmp_path / "conf" / "models.toml"
    file.parent.mkdir()
    file.write_text(
        '[[model]]\nname = "tv/resnet50"\nlabel = "base"\n\n'
        '[[model]]\nname = "tv/resnet50"\naa = 4\nweights = "w/lpf4.pth"\n'
    )
    specs = read_models_toml(file)
    assert [(s.label, s.aa) for s in specs] == [("base", None), (None, "4")]
    assert specs[1].weights == str(file.parent / "w" / "lpf4.pth")
    file.write_text('[[model]]\nname = "x"\ncolour = "red"\n')
    with pytest.raises(ShiftbenchError, match="unknown option 'colour'"):
        read_models_toml(file)
    file.write_text("[[model]]\nlabel = 'no name'\n")
    with pytest.raises(ShiftbenchError, match="needs name"):
        read_models_toml(file)


def test_labels_are_variants_then_models_and_unique() -> None:
    class Loaded:
        def __init__(self, variant: str) -> None:
            self.variant = variant

    one = [parse_spec("r18"), parse_spec("r18:aa=4"), parse_spec("r18")]
    assert labels_for(one, [Loaded("baseline"), Loaded("aa4"), Loaded("baseline")]) == [
        "baseline", "aa4", "baseline #2",
    ]  # fmt: skip
    two = [parse_spec("r18"), parse_spec("r50:label=big")]
    assert labels_for(two, [Loaded("baseline"), Loaded("baseline")]) == ["r18 (baseline)", "big"]
    with pytest.raises(ShiftbenchError, match=r"same label: x$"):
        check_labels([parse_spec("a:label=x"), parse_spec("b:label=x"), parse_spec("c:label=y")])
    # a labelled spec expanded by --antialias names each of its variants
    expanded = expand_antialias([parse_spec("r18:label=mine"), parse_spec("r50")], "0,4,aps")
    assert [s.label for s in expanded] == [
        "mine (baseline)", "mine (aa4)", "mine (aps)", None, None, None,
    ]  # fmt: skip
    check_labels(expanded)


def _compare(folder: Path, out: Path, *extra: str) -> object:
    return runner.invoke(
        app,
        ["compare", "test_resnet", "--antialias", "0,3", *TINY_OPTIONS, "--data", str(folder),
         "--out", str(out), "--bootstrap", "300", *extra],
    )  # fmt: skip


def test_compare_cli_writes_variants_comparison_and_report(tmp_path: Path, folder: Path) -> None:
    out = tmp_path / "cmp"
    done = _compare(folder, out, "-s", "clean,consistency,diagonal")
    assert done.exit_code == 0, done.output
    assert "aa3 - baseline" in done.output
    document = json.loads((out / "comparison.json").read_text())
    assert document["variants"] == ["baseline", "aa3"]
    assert document["bootstrap"] == {"resamples": 300, "seed": 0}
    for name in ("baseline", "aa3"):
        saved = json.loads((out / name / "results.json").read_text())
        assert saved["label"] == name
        assert saved["config"]["suites"] == ["clean", "consistency", "diagonal"]
    # same initialisation: the converted twin keeps every weight of the baseline
    base = read_saved(out / "baseline")[0]
    aa3 = read_saved(out / "aa3")[0]
    assert base.model["parameters"] == aa3.model["parameters"]
    with open(out / "comparison.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert {r["variant"] for r in rows} == {"aa3"}
    assert {r["metric"] for r in rows} >= {"clean.top1", "consistency.consistency"}
    report = (out / "report.md").read_text()
    table = [line for line in report.splitlines() if line.startswith("| clean.top1 |")]
    assert len(table) == 2  # the side-by-side table and the paired one
    assert all(cell.strip() for cell in table[1].strip("|").split("|"))
    # report re-renders the same paired numbers from the saved files alone
    before = (out / "comparison.csv").read_text()
    (out / "comparison.csv").unlink()
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0, again.output
    assert (out / "comparison.csv").read_text() == before


def test_compare_refuses_bad_input_with_one_line(tmp_path: Path, folder: Path) -> None:
    cases = [
        (["compare", "test_resnet", "--data", str(folder)], "at least two variants"),
        (["compare", "--data", str(folder)], "compare needs models"),
        (
            ["compare", "test_resnet", "test_resnet", "--aa-pad", "zero", "--data", str(folder)],
            "need a converted variant",
        ),
        (
            [
                "compare",
                "test_resnet",
                "test_resnet:img_size=40",
                *TINY_OPTIONS,
                "--data",
                str(folder),
            ],
            "must share",
        ),
        (["compare", "test_resnet", "--antialias", "0,4", "--bootstrap", "0"], "--bootstrap"),
        (["compare", "test_resnet:colour=red", "--antialias", "0,4"], "unknown option"),
    ]
    for argv, message in cases:
        out = tmp_path / "never"
        done = runner.invoke(app, [*argv, "--out", str(out)])
        assert done.exit_code == 2, (argv, done.output)
        assert message in done.output, (argv, done.output)
        assert len(done.output.strip().splitlines()) <= 2, done.output
        assert not out.exists()


def test_a_saved_comparison_reads_back_as_it_was_written(tmp_path: Path, folder: Path) -> None:
    probe = wrap(LinearProbe(16, 3), 16)
    results = evaluate_many([probe, wrap(Blind(3), 16)], folder, config(), labels=["probe", "b"])
    written = _saved(results, tmp_path / "cmp")
    again = Comparison.load(tmp_path / "cmp")
    assert [v.label for v in again.variants] == [v.label for v in written.variants]
    assert [v.metrics for v in again.variants] == [v.metrics for v in written.variants]
    assert again.differences == written.differences
    listed = EvalResult.load(tmp_path / "cmp" / "probe", images=True).images
    assert listed.paths() == results[0].images.paths()
    with pytest.raises(ShiftbenchError, match="not a shiftbench comparison"):
        Comparison.load(tmp_path / "cmp" / "probe")
