"""Model names, offline behaviour, safe weight loading, user model files, preprocessing."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import pytest
import timm
import torch
from safetensors.torch import save_file

from shiftbench import ShiftbenchError, load_model, load_weights
from shiftbench.cli.app import flag
from shiftbench.models.preprocess import IMAGENET_MEAN
from shiftbench.models.sources import resolve_name
from shiftbench.models.weights import read_state_dict


def test_resolve_names() -> None:
    assert resolve_name("resnet18") == ("timm", "resnet18")
    assert resolve_name("timm/convnext_tiny.fb_in1k") == ("timm", "convnext_tiny.fb_in1k")
    assert resolve_name("tv/resnet18") == ("torchvision", "resnet18")
    assert resolve_name("tv/resnet50.IMAGENET1K_V1") == ("torchvision", "resnet50.IMAGENET1K_V1")
    assert resolve_name("alexnet") == ("torchvision", "alexnet")  # not in timm


def test_unknown_name_lists_closest() -> None:
    with pytest.raises(ShiftbenchError, match=r"unknown model 'resnet5O'.*resnet50"):
        resolve_name("resnet5O")
    with pytest.raises(ShiftbenchError, match="unknown model"):
        resolve_name("tv/not_a_model")


def test_timm_preprocessing_from_config_and_overrides() -> None:
    model = load_model("test_resnet", pretrained=False)
    assert model.source == "timm" and model.num_classes == 1000
    p = model.preprocess
    assert (p.input_size, p.interpolation, p.mean) == (160, "bilinear", (0.5, 0.5, 0.5))
    assert p.reference_resize == 168  # floor(160 / crop_pct 0.95)
    custom = load_model(
        "test_resnet",
        pretrained=False,
        num_classes=7,
        img_size=48,
        interpolation="bicubic",
        mean=(0.1, 0.2, 0.3),
    )
    assert custom.num_classes == 7
    assert (custom.preprocess.input_size, custom.preprocess.interpolation) == (48, "bicubic")
    assert custom.preprocess.mean == (0.1, 0.2, 0.3) and custom.preprocess.std == (0.5, 0.5, 0.5)
    assert custom.preprocess.reference_resize is None  # 168 belongs to the 160-px input


def test_pretrained_names_are_recorded_with_the_weights_they_resolve_to() -> None:
    from dataclasses import replace

    from shiftbench.models.loading import default_weights_note
    from shiftbench.models.sources import published_name

    # a library's default can change; the tag recorded loads the same weights again
    assert published_name("timm", "test_resnet") == "test_resnet.r160_in1k"
    assert published_name("timm", "resnet50.tv_in1k") == "resnet50.tv_in1k"
    assert published_name("torchvision", "resnet50") == "resnet50.IMAGENET1K_V2"
    assert published_name("torchvision", "resnet50.IMAGENET1K_V1") == "resnet50.IMAGENET1K_V1"
    assert published_name("torchvision", "resnet18") == "resnet18.IMAGENET1K_V1"
    # tv/resnet50's default is not the weights the published figures are of: said, with the name
    model = load_model("tv/resnet50", pretrained=False)
    loaded = replace(model, pretrained=published_name("torchvision", "resnet50"))
    note = default_weights_note(loaded)
    assert note is not None and "IMAGENET1K_V2" in note and "tv/resnet50.IMAGENET1K_V1" in note
    assert default_weights_note(model) is None  # random weights
    v1 = replace(model, architecture="resnet50.IMAGENET1K_V1", pretrained="resnet50.IMAGENET1K_V1")
    assert default_weights_note(v1) is None
    resnet18 = load_model("tv/resnet18", pretrained=False)
    assert default_weights_note(replace(resnet18, pretrained="resnet18.IMAGENET1K_V1")) is None


def test_published_weights_with_another_resize_get_a_note() -> None:
    from dataclasses import replace

    from shiftbench.api import resize_notes
    from shiftbench.data.views import Geometry

    timm_card = replace(load_model("test_resnet", pretrained=False), pretrained="test_resnet")
    (line,) = resize_notes([timm_card], Geometry(160, 32), "resize")
    assert "test_resnet was published with Resize(168) + CenterCrop(160)" in line
    assert "this run resizes to Resize(192) (--canvas resize)" in line
    assert resize_notes([timm_card, timm_card], Geometry(160, 32), "resize") == [
        line
    ]  # variants: once
    assert resize_notes([timm_card], Geometry(160, 8), "resize") == []  # canvas 168: the card's own
    (padded,) = resize_notes([timm_card], Geometry(160, 8), "pad")  # the image: Resize(160)
    assert "this run resizes to Resize(160) (--canvas pad)" in padded
    assert resize_notes([replace(timm_card, pretrained=None)], Geometry(160, 32), "resize") == []
    torchvision_card = replace(load_model("tv/resnet18", pretrained=False), pretrained="resnet18")
    assert resize_notes([torchvision_card], Geometry(224, 32), "resize") == []  # 256, as the paper


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"img_size": 0}, "--img-size must be >= 1, got 0"),
        ({"interpolation": "cubic"}, "unknown interpolation 'cubic'"),
        ({"std": (0.0, 1.0, 1.0)}, "--std must be finite numbers > 0"),
        ({"std": (float("nan"), 1.0, 1.0)}, "--std must be finite numbers > 0"),
        ({"mean": (float("inf"), 0.0, 0.0)}, "--mean must be finite numbers"),
    ],
)
def test_preprocessing_overrides_that_would_make_garbage(override: dict, message: str) -> None:
    # a zero std divides by zero: every probability NaN, every prediction class 0
    with pytest.raises(ShiftbenchError) as caught:
        load_model("test_resnet", pretrained=False, **override)
    assert re.search(message, caught.value.naming(flag))  # as the CLI shows it
    assert "--" not in str(caught.value)  # from Python, the parameter's name


def test_torchvision_preprocessing_from_weight_transforms() -> None:
    model = load_model("tv/resnet18", pretrained=False, num_classes=5)
    p = model.preprocess
    assert (p.input_size, p.interpolation, p.mean, p.reference_resize) == (
        224,
        "bilinear",
        IMAGENET_MEAN,
        256,
    )
    assert model.num_classes == 5 and model.pretrained is None


@pytest.mark.parametrize("name", ["test_resnet", "tv/resnet18"])
def test_offline_without_cache_fails_fast_with_advice(no_cache, monkeypatch, name: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.perf_counter()
    with pytest.raises(ShiftbenchError) as caught:
        load_model(name)
    assert re.search(r"not cached.*--weights PATH, use --no-pretrained", caught.value.naming(flag))
    assert re.search(r"not cached.*weights PATH, use pretrained=False", str(caught.value))
    assert time.perf_counter() - started < 5


def test_unreachable_host_fails_fast(no_cache, monkeypatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(*args, **kwargs):
        raise OSError(-2, "Name or service not known")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ShiftbenchError, match="unreachable"):
        load_model("tv/resnet18")


def test_pretrained_requests_that_cannot_be_met(no_cache) -> None:
    # each is refused before any download: no_cache fails the test if one is tried
    with pytest.raises(ShiftbenchError, match="no pretrained weights"):
        load_model("cspresnet50w")
    with pytest.raises(ShiftbenchError, match=r"unknown pretrained tag.*test_resnet\.r160_in1k"):
        load_model("test_resnet.nope")
    with pytest.raises(ShiftbenchError, match="random head"):
        load_model("test_resnet", num_classes=10)


@pytest.fixture
def tiny_state() -> dict[str, torch.Tensor]:
    return timm.create_model("test_resnet", num_classes=4).state_dict()


def test_weights_nested_and_prefixed(tmp_path: Path, tiny_state) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in tiny_state.items()}}, path)
    model = load_model("test_resnet", weights=path, num_classes=4)
    assert model.weights == str(path) and len(model.weights_sha256) == 64
    for key, value in model.module.state_dict().items():
        assert torch.equal(value, tiny_state[key])


def test_weights_safetensors(tmp_path: Path, tiny_state) -> None:
    path = tmp_path / "w.safetensors"
    save_file({f"_orig_mod.{k}": v.contiguous() for k, v in tiny_state.items()}, str(path))
    model = load_model("test_resnet", weights=path, num_classes=4)
    assert torch.equal(model.module.state_dict()["fc.weight"], tiny_state["fc.weight"])


def test_weights_mismatch_lists_keys(tmp_path: Path, tiny_state) -> None:
    state = dict(tiny_state)
    state.pop("fc.bias")
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    module = timm.create_model("test_resnet", num_classes=4)
    with pytest.raises(ShiftbenchError, match=r"missing: fc\.bias; unexpected: extra\.weight"):
        load_weights(module, path)
    with pytest.raises(ShiftbenchError, match=r"shape: fc\.weight"):
        torch.save(timm.create_model("test_resnet", num_classes=9).state_dict(), path)
        load_weights(module, path)


class Payload:
    """A pickled object that weights_only loading must refuse."""


def test_unsafe_and_garbage_checkpoints_refused(tmp_path: Path) -> None:
    unsafe = tmp_path / "unsafe.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": Payload()}, unsafe)
    with pytest.raises(ShiftbenchError, match="weights_only=True"):
        read_state_dict(unsafe)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"\x00\x01not a checkpoint")
    with pytest.raises(ShiftbenchError, match="not a readable checkpoint"):
        read_state_dict(garbage)
    text = tmp_path / "text.pth"  # unpickled as opcodes: torch's error advises weights_only=False
    text.write_text("garbage\n")
    with pytest.raises(ShiftbenchError) as refused:
        read_state_dict(text)
    message = str(refused.value)
    assert message.startswith(f"{text} is not a readable checkpoint")
    assert "False" not in message and "\n" not in message
    with pytest.raises(ShiftbenchError, match="not found"):
        read_state_dict(tmp_path / "absent.pth")


def test_model_file(tmp_path: Path) -> None:
    arch = tmp_path / "arch.py"
    arch.write_text(
        "import torch.nn as nn\n"
        "def build(num_classes=3):\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),"
        " nn.Linear(4, num_classes))\n"
        "def not_a_model():\n"
        "    return 42\n"
    )
    model = load_model("mynet", model_file=f"{arch}:build", img_size=20)
    assert model.source == "file" and model.num_classes == 3
    assert (
        load_model("mynet", model_file=f"{arch}:build", num_classes=6, img_size=20).num_classes == 6
    )
    with pytest.raises(ShiftbenchError, match="has no function 'missing'"):
        load_model("mynet", model_file=f"{arch}:missing")
    with pytest.raises(ShiftbenchError, match=r"not a torch\.nn\.Module"):
        load_model("mynet", model_file=f"{arch}:not_a_model")
    with pytest.raises(ShiftbenchError, match=r"FILE\.py:FUNCTION"):
        load_model("mynet", model_file=str(arch))
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(ShiftbenchError, match="failed to import: RuntimeError: boom"):
        load_model("mynet", model_file=f"{broken}:build")


def test_input_size_the_model_cannot_take(tmp_path: Path) -> None:
    arch = tmp_path / "fixed.py"
    arch.write_text(
        "import torch.nn as nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))\n"
    )
    with pytest.raises(ShiftbenchError, match="failed on a 1x3x16x16 input"):
        load_model("fixed", model_file=f"{arch}:build", img_size=16)


def test_checkpoint_saved_on_a_gpu_loads_on_the_cpu() -> None:
    # tests/fixtures/cuda_saved.pth was written by torch.save on an H200 with CUDA tensors
    state = read_state_dict(Path(__file__).parent / "fixtures" / "cuda_saved.pth")
    assert set(state) == {"weight", "bias"}
    assert state["weight"].device.type == "cpu"
    assert torch.equal(state["weight"], torch.arange(12.0).view(3, 4))


COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Path, torch.nn.Module]:
    """A Hugging Face cache holding `hf-hub:someone/tiny` at COMMIT (as timm saves a model for
    the hub), with every download refused."""
    import huggingface_hub
    from timm.models import _hub

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests must not touch the network")

    # offline as a user would set it, and every connection refused should that not hold
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    torch.manual_seed(0)
    model = timm.create_model("test_resnet", num_classes=6).eval()
    repo = tmp_path / "hub" / "models--someone--tiny"
    _hub.save_for_hf(model, str(repo / "snapshots" / COMMIT), safe_serialization=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return repo / "snapshots" / COMMIT, model


def test_timm_hub_and_local_folder_names_load_their_config_and_weights(hub) -> None:
    folder, saved = hub
    x = torch.randn(2, 3, 64, 64)
    for name in ("hf-hub:someone/tiny", f"local-dir:{folder}"):
        model = load_model(name, img_size=64)
        assert model.source == "timm" and model.num_classes == 6
        assert model.preprocess.mean == (0.5, 0.5, 0.5)  # from the saved config
        with torch.no_grad():
            torch.testing.assert_close(model.module(x), saved(x))
    # the revision loaded is recorded, so a rerun loads the same files after the repo moves on
    assert load_model("hf-hub:someone/tiny").architecture == f"hf-hub:someone/tiny@{COMMIT}"
    assert load_model(f"hf-hub:someone/tiny@{COMMIT}", pretrained=False).pretrained is None


def test_timm_hub_names_that_cannot_load_say_why(hub) -> None:
    folder, _ = hub
    (folder / "model.safetensors").unlink()
    with pytest.raises(ShiftbenchError, match=r"hf-hub:someone/tiny: pretrained weights not cac"):
        load_model("hf-hub:someone/tiny")
    assert load_model("hf-hub:someone/tiny", pretrained=False).num_classes == 6
    with pytest.raises(ShiftbenchError, match=r"config.json not cached \(offline\): fetch them"):
        load_model("hf-hub:someone/other", pretrained=False)
    with pytest.raises(ShiftbenchError, match="a Hugging Face repository is ORG/NAME"):
        resolve_name("hf-hub:tiny")
    with pytest.raises(ShiftbenchError, match="names no repository or folder"):
        resolve_name("hf-hub:")
    with pytest.raises(ShiftbenchError, match=r"no config\.json in"):
        resolve_name(f"local-dir:{folder.parent}")


def test_timm_hub_names_keep_their_colon_in_compare_specs() -> None:
    from shiftbench.models.variants import parse_spec

    spec = parse_spec("hf-hub:someone/tiny@main:aa=3:label=tiny3")
    assert (spec.name, spec.aa, spec.label) == ("hf-hub:someone/tiny@main", "3", "tiny3")


@pytest.mark.parametrize("timm_keeps_args", [True, False])
def test_a_local_timm_model_with_its_own_arguments_keeps_timms_aa_layer_placement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timm_keeps_args: bool
) -> None:
    """Rebuilt with aa_layer from its name alone, a model saved with non-default arguments
    (here a narrower stem) would not take its own weights and fall back to the generic rule.
    Filter 1 with zero padding subsamples exactly as the strided layers did: same logits.
    timm before 1.0.31 builds the model from its config's arguments without keeping them on it
    (simulated by removing them): shiftbench reads them from the config itself."""
    from timm.models import _hub

    from shiftbench.antialias import AntialiasSpec

    if not timm_keeps_args:
        create = timm.create_model

        def forgetful(*args, **kwargs):
            model = create(*args, **kwargs)
            model.__dict__.pop("pretrained_model_args", None)
            return model

        monkeypatch.setattr(timm, "create_model", forgetful)
    torch.manual_seed(0)
    narrow = timm.create_model("test_resnet", num_classes=5, stem_width=8).eval()
    _hub.save_for_hf(narrow, str(tmp_path / "narrow"), model_args={"stem_width": 8})
    spec = AntialiasSpec(filter_size=1, pad_type="zero")
    model = load_model(f"local-dir:{tmp_path / 'narrow'}", antialias=spec, img_size=64)
    assert model.antialias.rule == "timm aa_layer" and model.antialias.notes == []
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model.module(x), narrow(x))


def test_a_model_source_is_one_registered_object(monkeypatch) -> None:
    """A new source (here `toy/WIDTH`, a conv net of that width) is one ModelSource and one
    entry in SOURCES: names resolve to it, it builds, and its preprocessing is used."""
    from torch import nn

    from shiftbench.models import sources
    from shiftbench.models.preprocess import Preprocess

    class ToySource(sources.ModelSource):
        name = "toy"

        def match(self, name: str) -> str | None:
            return name[4:] if name.startswith("toy/") else None

        def build(self, arch: str, pretrained: bool, num_classes: int | None) -> nn.Module:
            width = int(arch)
            return nn.Sequential(nn.Conv2d(3, width, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(width, num_classes or 5))  # fmt: skip

        def native_preprocess(self, arch: str, module: nn.Module) -> Preprocess:
            return Preprocess(40, "bicubic", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), None)

        def names(self) -> list[str]:
            return ["toy/8", "toy/16"]

    monkeypatch.setattr(sources, "SOURCES", [ToySource(), *sources.SOURCES])
    assert resolve_name("toy/8") == ("toy", "8")
    model = load_model("toy/8", pretrained=False)
    assert model.source == "toy" and model.num_classes == 5 and model.architecture == "8"
    assert model.preprocess.input_size == 40 and model.preprocess.interpolation == "bicubic"
    with pytest.raises(ShiftbenchError, match=r"closest: toy/8"):
        resolve_name("toy8")
