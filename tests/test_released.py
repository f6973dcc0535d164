"""Weights from the network: `--weights released` (the antialiased-cnns weights, chosen as
the package chooses them) and `--weights URL`, fetched once into torch's hub cache (never
from the network here)."""

from __future__ import annotations

import hashlib
import importlib
import socket
from pathlib import Path

import antialiased_cnns
import pytest
import torch
import torchvision
from torch import nn
from typer.testing import CliRunner

from shiftbench import AntialiasSpec, ShiftbenchError, antialias, load_model
from shiftbench.antialias import adapt_released_keys
from shiftbench.antialias.released import BASE_URL, FILES, released_url
from shiftbench.cli import app
from shiftbench.models.variants import parse_spec, read_models_toml

from .helpers import write_folder

AA4 = AntialiasSpec(filter_size=4)
RESNET18_AA4 = BASE_URL + "resnet18_lpf4_finetune-8cc58f59.pth"


def test_the_table_is_the_packages() -> None:
    urls: dict[str, str] = {}
    for module in ("resnet", "densenet", "mobilenet", "alexnet", "vgg"):
        urls |= importlib.import_module(f"antialiased_cnns.{module}").model_urls
    assert {BASE_URL + name for name in FILES} == set(urls.values())


def test_the_url_is_the_one_the_package_loads() -> None:
    # the file antialiased_cnns.resnet50 loads for its released weights at filter K: the
    # fine-tuned one at 4, else lpfK (no download here: only the URLs are compared)
    assert released_url("resnet50", 4).endswith("/resnet50_lpf4_finetune-cad66808.pth")
    assert released_url("resnet50", 3).endswith("/resnet50_lpf3-a4e868d2.pth")
    assert released_url("resnet50", 4, scratch=True).endswith("/resnet50_lpf4-994b528f.pth")
    assert released_url("vgg16_bn", 5).endswith("/vgg16_bn_lpf5-c500b52f.pth")
    with pytest.raises(ShiftbenchError, match="resnet152 weights for filter size 3; it released"):
        released_url("resnet152", 3)
    with pytest.raises(ShiftbenchError, match="no from-scratch tv/resnet152"):
        released_url("resnet152", 4, scratch=True)
    with pytest.raises(ShiftbenchError, match="no weights for tv/convnext_tiny; it did for"):
        released_url("convnext_tiny", 4)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty torch hub cache; the network refused."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _released_resnet18(path: Path) -> nn.Module:
    """A random-weight released ResNet-18 (filter 4), saved as the release saves it."""
    torch.manual_seed(0)
    model = antialiased_cnns.resnet18(filter_size=4).eval()
    for parameter in model.parameters():
        parameter.data.normal_(0, 0.05)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict()}, path)
    return model


def test_released_weights_load_from_the_cache(hub: Path) -> None:
    file = hub / "resnet18_lpf4_finetune-8cc58f59.pth"
    reference = _released_resnet18(file)
    loaded = load_model("tv/resnet18", weights="released", antialias=AA4)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x), reference(x), atol=1e-5)
    assert loaded.weights == RESNET18_AA4
    assert loaded.weights_sha256 == hashlib.sha256(file.read_bytes()).hexdigest()
    assert loaded.antialias is not None and loaded.antialias.weights == "anti-aliased"


@pytest.fixture
def served(hub: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str | None]]:
    """Every host reachable and every download a released ResNet-18 (filter 4); the list of
    (url, hash prefix checked) downloads so far."""
    calls: list[tuple[str, str | None]] = []

    def download(url: str, destination: str, hash_prefix: str | None = None) -> None:
        calls.append((url, hash_prefix))
        _released_resnet18(Path(destination))

    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: socket.socket())
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    return calls


def test_released_weights_download_once_with_their_hash_checked(
    served: list[tuple[str, str | None]], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_model("tv/resnet18", weights="released", antialias=AA4)
    load_model("tv/resnet18", weights="released", antialias=AA4)
    assert served == [(RESNET18_AA4, "8cc58f59")]

    def corrupted(url: str, destination: str, hash_prefix: str | None = None) -> None:
        raise RuntimeError(f'invalid hash value (expected "{hash_prefix}", got "0000")')

    monkeypatch.setattr(torch.hub, "download_url_to_file", corrupted)
    with pytest.raises(ShiftbenchError, match=r"could not download .*resnet18_lpf3.*invalid hash"):
        load_model("tv/resnet18", weights="released", antialias=AntialiasSpec(filter_size=3))


def test_released_weights_offline_fail_fast_naming_the_file(
    hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ShiftbenchError, match=f"fetch {RESNET18_AA4} into {hub}"):
        load_model("tv/resnet18", weights="released", antialias=AA4)


def test_released_weights_need_a_torchvision_model_and_a_filter(hub: Path) -> None:
    with pytest.raises(ShiftbenchError, match="released torchvision models; use tv/NAME"):
        load_model("test_resnet", weights="released", antialias=AA4)
    with pytest.raises(ShiftbenchError, match="needs antialias K"):
        load_model("tv/resnet18", weights="released")
    with pytest.raises(ShiftbenchError, match="needs antialias K"):
        load_model("tv/resnet18", weights="released-scratch", antialias=AntialiasSpec("aps", 1))


def test_a_models_file_keeps_the_keyword(tmp_path: Path) -> None:
    toml = tmp_path / "models.toml"
    toml.write_text(
        '[[model]]\nname = "tv/resnet50"\naa = 4\nweights = "released"\n\n'
        '[[model]]\nname = "tv/resnet50"\naa = 4\nweights = "lpf4.pth"\n'
    )
    released, local = read_models_toml(toml)
    assert released.weights == "released"
    assert local.weights == str(tmp_path / "lpf4.pth")


@pytest.mark.parametrize("arch", sorted({name.split("_lpf")[0] for name in FILES}))
def test_every_released_architecture_loads_strictly(arch: str) -> None:
    """The converted torchvision model has every key and shape of the released one (built on
    the meta device: no memory, no init), so `--weights released` loads for all 23."""
    with torch.device("meta"):
        theirs = getattr(antialiased_cnns, arch)(filter_size=4).state_dict()
        ours = antialias(getattr(torchvision.models, arch)(), 4)
    expected = {key: value.shape for key, value in ours.state_dict().items()}
    assert {k: v.shape for k, v in adapt_released_keys(ours, theirs).items()} == expected


def test_weights_from_a_url_download_once_into_the_hub_cache(
    hub: Path, served: list[tuple[str, str | None]], tmp_path: Path
) -> None:
    url = "https://example.org/models/resnet18_aa4-8cc58f59.pth"
    out = tmp_path / "out"
    data = write_folder(tmp_path / "data", classes=2, per_class=1)
    args = ["eval", "tv/resnet18", "--antialias", "4", "--weights", url, "--num-classes",
            "1000", "--data", str(data), "--suite", "clean", "--out", str(out)]  # fmt: skip
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 2 and "2 class folders but the model has 1000" in done.output
    assert served == [(url, "8cc58f59")] and (hub / "resnet18_aa4-8cc58f59.pth").is_file()
    loaded = load_model("tv/resnet18", weights=url, antialias=AA4)
    assert served == [(url, "8cc58f59")]  # cached: not fetched again
    assert loaded.weights == url and loaded.antialias.weights == "anti-aliased"


def test_a_url_survives_model_specs_and_files(tmp_path: Path) -> None:
    url = "https://example.org/models/a-1234.pth"
    spec = parse_spec(f"tv/resnet50:aa=4:weights={url}:label=mine")
    assert (spec.weights, spec.label, spec.aa) == (url, "mine", "4")
    port = "http://example.org:8080/models/a.pth"
    assert parse_spec(f"tv/resnet50:weights={port}:aa=4").weights == port
    with pytest.raises(ShiftbenchError, match="'oops' is not key=value"):
        parse_spec("tv/resnet50:aa=4:oops")
    toml = tmp_path / "models.toml"
    toml.write_text(f'[[model]]\nname = "tv/resnet50"\nweights = "{url}"\n')
    assert read_models_toml(toml)[0].weights == url


def test_only_a_hash_shaped_name_is_checked(served: list[tuple[str, str | None]]) -> None:
    """`resnet-50.pth` is a name, not a hash: no check (torch hub's hashes are 8+ hex digits)."""
    for name in ("resnet-50.pth", "r18-1234abcd.pth.tar", "plain.pth"):
        load_model("tv/resnet18", weights=f"https://example.org/{name}", antialias=AA4)
    assert [checked for _, checked in served] == [None, "1234abcd", None]
    with pytest.raises(ShiftbenchError, match="names no file to download"):
        load_model("tv/resnet18", weights="https://example.org/models/", antialias=AA4)
