"""The anti-aliasing path end to end: eval --antialias, convert, released weights, errors."""

from __future__ import annotations

import json
from pathlib import Path

import antialiased_cnns
import pandas as pd
import pytest
import torch
import torchvision
from safetensors import safe_open
from safetensors.torch import load_file
from typer.testing import CliRunner

from shiftbench import ShiftbenchError, load_model, scan_image_folder
from shiftbench.antialias import AntialiasSpec, antialias
from shiftbench.cli import app
from shiftbench.cli.app import flag
from shiftbench.data.folders import load_canvas

from .helpers import TINY_OPTIONS

CPU = torch.device("cpu")

runner = CliRunner()


def resnet18_aa3(folder: Path, weights: Path, out: Path) -> list[str]:
    """eval of tv/resnet18 converted with BlurPool-3, with weights."""
    data = ["--data", str(folder), "--antialias", "3", "--weights", str(weights)]
    return ["eval", "tv/resnet18", *TINY_OPTIONS, *data, "--out", str(out)]


def test_eval_with_blurpool_records_the_conversion(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = [
        "eval",
        "test_resnet",
        *TINY_OPTIONS,
        "--data",
        str(folder),
        "--antialias",
        "3",
        "--suite",
        "all",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "timm aa_layer rule" in result.stderr
    meta = json.loads((out / "results.json").read_text())
    report = meta["model"]["antialias"]
    assert report["rule"] == "timm aa_layer" and report["filter_size"] == 3
    assert report["weights"] == "random" and report["counts"]["aa_layer"] >= 2
    assert set(pd.read_csv(out / "metrics.csv").variant) == {"aa3"}


def varied_aps_checkpoint(folder: Path, path: Path) -> None:
    """An APS ResNet-18 (circular padding) whose head separates the folder's images.

    A random network's logits share one large offset, so every image would get the same
    class and 100% consistency would prove nothing; the head is fitted to spread them."""
    torch.manual_seed(0)
    model = antialias(
        torchvision.models.resnet18(num_classes=3),
        filter_size=1,
        method="aps",
        circular_pad=True,
        input_size=32,
    )
    images = scan_image_folder(folder, 3)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = torch.stack(
        [load_canvas(folder / i.path, 40, "bilinear")[:, 4:36, 4:36] for i in images.items]
    )
    x = (x.float() / 255 - mean) / std
    features = []
    model.avgpool.register_forward_hook(lambda m, a, out: features.append(out.flatten(1)))
    with torch.no_grad():
        model(x)
    centred = features[0] - features[0].mean(0)
    direction = torch.randn(3, centred.shape[1])
    scale = 3.0 / (centred @ direction.T).std()
    model.fc.weight.data = direction * scale
    model.fc.bias.data = -(features[0].mean(0) @ model.fc.weight.data.T)
    torch.save(model.state_dict(), path)


def test_aps_with_circular_padding_is_fully_circular_consistent(
    folder: Path, tmp_path: Path
) -> None:
    weights = tmp_path / "aps.pth"
    varied_aps_checkpoint(folder, weights)
    out = tmp_path / "aps"
    args = [
        "eval",
        "tv/resnet18",
        *TINY_OPTIONS,
        "--data",
        str(folder),
        "--suite",
        "clean,circular",
    ]
    args += ["--weights", str(weights), "--antialias", "aps", "--circular-pad", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (
        json.loads((out / "results.json").read_text())["model"]["antialias"]["weights"]
        == "anti-aliased"
    )
    metrics = pd.read_csv(out / "metrics.csv").set_index(["suite", "metric"])
    assert metrics.loc[("circular", "consistency"), "value"] == 100.0
    predictions = load_file(str(out / "records.safetensors"))["circular.pred"]
    assert len(predictions.unique()) == 3  # a model that tells the images apart


def test_convert_then_eval_the_saved_weights(folder: Path, tmp_path: Path) -> None:
    saved = tmp_path / "r18_aa3.safetensors"
    made = runner.invoke(
        app,
        [
            "convert",
            "tv/resnet18",
            "--no-pretrained",
            "--num-classes",
            "3",
            "--antialias",
            "3",
            "--out",
            str(saved),
        ],
    )
    assert made.exit_code == 0, made.output
    with safe_open(str(saved), "pt") as handle:
        keys = set(handle.keys())
        described = json.loads(handle.metadata()["model"])
    assert "maxpool.1.filt" in keys and described["antialias"]["filter_size"] == 3
    out = tmp_path / "out"
    result = runner.invoke(app, resnet18_aa3(folder, saved, out))
    assert result.exit_code == 0, result.output
    meta = json.loads((out / "results.json").read_text())
    assert meta["model"]["antialias"]["weights"] == "anti-aliased"
    assert "without fine-tuning" not in result.stderr


def test_a_converted_file_is_evaluated_with_the_options_it_was_converted_with(
    folder: Path, tmp_path: Path
) -> None:
    """Zero padding changes no key of the state dict, so only the file's metadata can tell
    that a run with reflect padding would evaluate another function than was converted."""
    saved = tmp_path / "zero.safetensors"
    model = ["tv/resnet18", "--no-pretrained", "--num-classes", "3"]
    made = runner.invoke(
        app, ["convert", *model, "--antialias", "3", "--aa-pad", "zero", "--out", str(saved)]
    )
    assert made.exit_code == 0, made.output
    hint = made.stderr.split("evaluate it with: ")[1].split()
    assert hint == [
        "shiftbench", "eval", "tv/resnet18", "--num-classes", "3", "--antialias", "3",
        "--aa-pad", "zero", "--no-aa-stem", "--weights", str(saved),
    ]  # fmt: skip
    data = ["--data", str(folder), "--img-size", "32", "--max-shift", "8"]
    ran = runner.invoke(app, [*hint[1:], *data, "--out", str(tmp_path / "ok")])
    assert ran.exit_code == 0, ran.output
    reflect = runner.invoke(
        app, ["eval", *model[:1], "--num-classes", "3", "--antialias", "3", "--weights",
              str(saved), *data, "--out", str(tmp_path / "reflect")],
    )  # fmt: skip
    assert reflect.exit_code == 2 and not (tmp_path / "reflect").exists()
    assert (
        "was converted with --antialias 3 --aa-pad zero --no-aa-stem, this run converts with "
        "--antialias 3 --no-aa-stem" in reflect.stderr
    )
    plain = runner.invoke(
        app, ["eval", *model[:1], "--num-classes", "3", "--weights", str(saved), *data]
    )
    assert plain.exit_code == 2
    assert "evaluate it with --antialias 3 --aa-pad zero --no-aa-stem" in plain.stderr


def test_released_checkpoint_loads_after_conversion(tmp_path: Path) -> None:
    released = antialiased_cnns.resnet18(filter_size=4, num_classes=5)
    path = tmp_path / "resnet18_lpf4.pth"
    torch.save({"state_dict": released.state_dict()}, path)
    model = load_model(
        "tv/resnet18",
        weights=path,
        num_classes=5,
        antialias=AntialiasSpec(filter_size=4),
        img_size=64,
    )
    assert model.antialias.weights == "anti-aliased" and model.variant == "aa4"
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), released.eval()(x))


def test_baseline_checkpoint_loads_before_conversion_and_warns(
    folder: Path, tmp_path: Path
) -> None:
    path = tmp_path / "baseline.pth"
    torch.save(torchvision.models.resnet18(num_classes=3).state_dict(), path)
    model = load_model(
        "tv/resnet18", weights=path, num_classes=3, antialias=AntialiasSpec(filter_size=3)
    )
    assert model.antialias.weights == "baseline"
    result = runner.invoke(app, resnet18_aa3(folder, path, tmp_path / "out"))
    assert result.exit_code == 0 and "without fine-tuning" in result.stderr


def test_antialiased_checkpoint_without_antialias_says_what_to_add(tmp_path: Path) -> None:
    path = tmp_path / "aa.pth"
    torch.save(antialiased_cnns.resnet18(filter_size=4, num_classes=3).state_dict(), path)
    result = runner.invoke(
        app,
        [
            "convert",
            "tv/resnet18",
            "--num-classes",
            "3",
            "--weights",
            str(path),
            "--antialias",
            "0",
            "--out",
            str(tmp_path / "x.safetensors"),
        ],
    )
    assert result.exit_code == 2 and "needs --antialias" in result.stderr
    with pytest.raises(ShiftbenchError, match="add antialias with its filter size") as caught:
        load_model("tv/resnet18", weights=path, num_classes=3)
    assert "add --antialias with its filter size" in caught.value.naming(flag)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--antialias", "9"], "filter size must be 1..7"),
        (["--antialias", "x"], "--antialias takes a filter size 1..7 or aps"),
        (["--antialias", "4", "--aa-pad", "mirror"], "pad type must be one of"),
        (["--circular-pad"], "need --antialias"),
        (["--antialias", "7", "--img-size", "16"], "too small for reflect padding"),
    ],
)
def test_bad_antialias_options_are_one_line(
    folder: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    args = ["eval", "tv/resnet18", "--no-pretrained", "--num-classes", "3", "--data", str(folder)]
    result = runner.invoke(app, [*args, *extra, "--out", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("spec", ["aa4", "aps"])
def test_antialiased_models_with_bf16_and_channels_last_on_the_cpu(folder: Path, spec: str) -> None:
    """A converted model gives the same logits in NHWC as in NCHW (BlurPool's depthwise
    conv, APS's polyphase choice), and every suite runs on it in bf16 and NHWC
    (CUDA: tests/test_cuda.py)."""
    from shiftbench import evaluate
    from shiftbench.run.engine import Forward
    from shiftbench.suites import parse_suite_names

    from .helpers import config

    conversion = AntialiasSpec(filter_size=4) if spec == "aa4" else AntialiasSpec("aps", 1)
    torch.manual_seed(0)
    model = load_model(
        "test_resnet", pretrained=False, num_classes=3, img_size=64, antialias=conversion
    )
    model.module.train()
    with torch.no_grad():  # batch-norm statistics of inputs: logits that depend on the input
        model.module(torch.rand(32, 3, 64, 64))
    model.module.eval()
    x = torch.rand(9, 3, 64, 64)

    def logits(**options: object) -> torch.Tensor:
        forward = Forward(model.module, model.preprocess, config(batch_size=9, **options), CPU)
        with torch.inference_mode():
            return forward.logits(x)

    plain, nhwc, bf16 = logits(), logits(channels_last=True), logits(amp="bf16")
    assert float(plain.std(dim=0).min()) > 1e-3  # the check below can fail
    torch.testing.assert_close(nhwc, plain, rtol=1e-5, atol=1e-6)
    assert bf16.dtype == torch.float32 and float((bf16 - plain).abs().max()) < 0.01
    suites = (*parse_suite_names("all"), "corruption")
    settings = {"suites": suites, "corruptions": ("contrast",), "severities": (2,)}
    reference = evaluate(model, folder, config(**settings))
    fast = evaluate(model, folder, config(**settings, amp="bf16", channels_last=True))
    assert [m.key for m in fast.metrics] == [m.key for m in reference.metrics]
    assert {k: v.shape for k, v in fast.records.items()} == {
        k: v.shape for k, v in reference.records.items()
    }
