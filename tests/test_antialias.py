"""Anti-aliasing: BlurPool against numpy, converted families against the released models,
the generic rule, APS invariance, and the errors."""

from __future__ import annotations

import math
import re

import antialiased_cnns
import numpy as np
import pytest
import timm
import torch
import torchvision
from torch import nn

from shiftbench import ShiftbenchError
from shiftbench.antialias import ApsPool, BlurPool, adapt_released_keys, antialias

NUMPY_PAD = {"reflect": "reflect", "replicate": "edge", "zero": "constant", "circular": "wrap"}
TAPS = {1: [1], 2: [1, 1], 3: [1, 2, 1], 4: [1, 3, 3, 1], 5: [1, 4, 6, 4, 1]}
TAPS |= {6: [1, 5, 10, 10, 5, 1], 7: [1, 6, 15, 20, 15, 6, 1]}


def numpy_blurpool(x: np.ndarray, k: int, stride: int, pad: str) -> np.ndarray:
    """The paper's layer written out: pad (floor, ceil) of k-1, correlate, subsample."""
    a = np.array(TAPS[k], dtype=np.float64)
    kernel = np.outer(a, a) / np.outer(a, a).sum()
    before, after = (k - 1) // 2, math.ceil((k - 1) / 2)
    padded = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), mode=NUMPY_PAD[pad])
    n, c, h, w = x.shape
    out = np.zeros((n, c, h, w))
    for i in range(h):
        for j in range(w):
            out[:, :, i, j] = (padded[:, :, i : i + k, j : j + k] * kernel).sum(axis=(2, 3))
    return out[:, :, ::stride, ::stride]


@pytest.mark.parametrize("k", range(1, 8))
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("pad", ["reflect", "replicate", "zero", "circular"])
def test_blurpool_equals_numpy(k: int, stride: int, pad: str) -> None:
    x = np.random.default_rng(k * 10 + stride).normal(size=(2, 3, 9, 10))
    layer = BlurPool(3, filt_size=k, stride=stride, pad_type=pad)
    out = layer(torch.from_numpy(x)).numpy()
    expected = numpy_blurpool(x, k, stride, pad)
    assert out.shape == expected.shape == (2, 3, math.ceil(9 / stride), math.ceil(10 / stride))
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_blurpool_filter_is_a_buffer_and_matches_the_released_layer() -> None:
    ours = BlurPool(4, filt_size=4)
    assert "filt" in dict(ours.named_buffers()) and not list(ours.parameters())
    assert ours.filt.shape == (4, 1, 4, 4)
    released = antialiased_cnns.BlurPool(4, filt_size=4, stride=2)
    x = torch.randn(2, 4, 56, 56)
    torch.testing.assert_close(ours(x), released(x))
    assert ours(x).shape[-1] == 28  # timm's BlurPool2d gives 29 here
    assert "filt" not in BlurPool(4, persistent=False).state_dict()


def test_bad_filters_are_clear_errors() -> None:
    with pytest.raises(ShiftbenchError, match=r"1\.\.7"):
        BlurPool(3, filt_size=8)
    with pytest.raises(ShiftbenchError, match="pad type"):
        BlurPool(3, pad_type="mirror")
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    with pytest.raises(ShiftbenchError, match=r"BlurPool at 2\.1: a 2x2 feature map is too small"):
        antialias(model, 5, input_size=8)


RELEASED = ["resnet18", "resnet50", "vgg11_bn", "densenet121", "mobilenet_v2", "alexnet"]


@pytest.mark.parametrize("name", RELEASED)
def test_converted_torchvision_equals_released_model(name: str) -> None:
    torch.manual_seed(0)
    released = getattr(antialiased_cnns, name)(pretrained=False, filter_size=4).eval()
    ours = antialias(torchvision.models.get_model(name), 4, input_size=96)
    state = released.state_dict()
    adapted = adapt_released_keys(ours, state)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in adapted.items()
    }
    ours.load_state_dict(adapted, strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), released(x))


@pytest.mark.parametrize("name", ["resnet18", "densenet121"])
def test_stem_conversion_equals_released_pool_only_false(name: str) -> None:
    released = getattr(antialiased_cnns, name)(filter_size=3, pool_only=False).eval()
    ours = antialias(torchvision.models.get_model(name), 3, pool_only=False, input_size=96)
    ours.load_state_dict(released.state_dict(), strict=True)
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), released(x))


def test_reference_module_paths() -> None:
    r18 = antialias(torchvision.models.resnet18()).state_dict()
    for key in (
        "maxpool.1.filt",
        "layer2.0.conv2.0.filt",
        "layer2.0.conv2.1.weight",
        "layer2.0.downsample.0.filt",
        "layer2.0.downsample.1.weight",
        "layer2.0.downsample.2.running_mean",
    ):
        assert key in r18, key
    assert "layer1.0.conv2.0.filt" not in r18  # layer1 has stride 1
    r50 = antialias(torchvision.models.resnet50()).state_dict()
    assert "layer3.0.conv3.0.filt" in r50 and "layer3.0.conv3.1.weight" in r50
    vgg = antialias(torchvision.models.vgg11_bn())
    pools = [i for i, m in enumerate(vgg.features) if isinstance(m, BlurPool)]
    # vgg11_bn pools at 3, 7, 14, 21, 28; each becomes MaxPool(2, 1) + BlurPool, shifting later ones
    assert pools == [4, 9, 17, 25, 33]
    dense = antialias(torchvision.models.densenet121())
    assert isinstance(dense.features.max0, nn.MaxPool2d) and dense.features.max0.stride == 1
    assert "features.pool0.filt" in dense.state_dict()
    assert "features.transition1.pool.filt" in dense.state_dict()
    mobile = antialias(torchvision.models.mobilenet_v2()).state_dict()
    assert "features.2.conv.2.filt" in mobile and "features.2.conv.3.weight" in mobile


def test_released_legacy_keys_are_adapted() -> None:
    dense = antialias(torchvision.models.densenet121())
    pattern = re.compile(r"(denselayer\d+\.(?:norm|conv))([12])\.")
    legacy = {pattern.sub(r"\1.\2.", k): v for k, v in dense.state_dict().items()}
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    dense.load_state_dict(adapt_released_keys(dense, legacy), strict=True)
    mobile = antialias(torchvision.models.mobilenet_v2())
    released = {
        k.replace("classifier.1.", "classifier.0."): v for k, v in mobile.state_dict().items()
    }
    mobile.load_state_dict(adapt_released_keys(mobile, released), strict=True)


def test_baseline_weights_carry_over_unchanged() -> None:
    """Parameters map one to one in order; buffers too, skipping the blur filters."""
    for name in ("resnet18", "resnet50", "densenet121", "mobilenet_v2", "vgg11_bn", "alexnet"):
        base = torchvision.models.get_model(name).eval()
        converted = antialias(base, 4)
        pairs = zip(base.parameters(), converted.parameters(), strict=True)
        assert all(torch.equal(a, b) for a, b in pairs), name
        kept = [b for n, b in converted.named_buffers() if not n.endswith("filt")]
        assert all(torch.equal(a, b) for a, b in zip(base.buffers(), kept, strict=True)), name
    assert torchvision.models.resnet18().maxpool.kernel_size == 3


def test_filter_size_one_keeps_outputs_of_strided_conv_and_pool_net() -> None:
    """Subsampling after a stride-1 conv/pool equals the strided conv/pool exactly."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2, 2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.MaxPool2d(3, 2, padding=1),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    ).eval()
    converted = antialias(net, 1, pad_type="zero", pool_only=False, input_size=29)
    assert converted.antialias_report.counts() == {"strided conv": 2, "max-pool": 2}
    x = torch.randn(4, 3, 29, 29)
    with torch.no_grad():
        torch.testing.assert_close(converted(x), net(x))


def test_stride_one_model_is_unchanged_and_says_so() -> None:
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.MaxPool2d(3, 1, 1), nn.Flatten())
    converted = antialias(net, 1, pad_type="zero", input_size=8)
    assert converted.antialias_report.changes == []
    assert "nothing to convert" in converted.antialias_report.notes[0]
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(converted(x), net(x))


class SmallNet(nn.Module):
    """A network no family rule knows: stem, depthwise strided conv, shortcut, avg-pool."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1, groups=8), nn.BatchNorm2d(8), nn.SiLU())
        self.shortcut = nn.Conv2d(8, 8, 1, stride=2)
        self.pool = nn.AvgPool2d(2)
        self.patch = nn.Conv2d(8, 8, 2, stride=2)
        self.head = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.dw(x) + self.shortcut(x)
        x = self.patch(self.pool(x))
        return self.head(x.mean((2, 3)))


def test_generic_rule_keeps_shapes_and_parameters() -> None:
    net = SmallNet().eval()
    converted = antialias(net, 3, input_size=64)
    report = converted.antialias_report
    assert report.rule == "generic"
    assert report.counts() == {"strided conv": 1, "shortcut": 1, "avg-pool": 1}
    reasons = {c.path: c.detail for c in report.skipped}
    assert "stem's first downsampling" in reasons["stem.0"]
    assert reasons["patch"] == "patchify conv (kernel = stride)"
    assert isinstance(converted.dw[2], nn.Sequential)  # pool after the SiLU
    assert isinstance(converted.dw[2][1], BlurPool)
    x = torch.randn(2, 3, 64, 64)
    assert converted(x).shape == net(x).shape
    assert sum(p.numel() for p in converted.parameters()) == sum(
        p.numel() for p in net.parameters()
    )
    stem = antialias(net, 3, pool_only=False, input_size=64).antialias_report
    assert stem.counts()["strided conv"] == 2


class ConvNormAct(nn.Sequential):
    """A block named like timm's, holding a conv: its name has "Norm", yet it is no norm."""


class ParallelBranches(nn.Module):
    """RepVGG's downsampling: a 3x3 and a 1x1 strided branch summed, then an activation."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.kxk = ConvNormAct(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16))
        self.one = ConvNormAct(nn.Conv2d(8, 16, 1, stride=2), nn.BatchNorm2d(16))
        self.act = nn.ReLU()
        self.head = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        return self.head(self.act(self.one(x) + self.kxk(x)).mean((2, 3)))  # 1x1 branch first


def test_generic_pool_stays_inside_its_branch() -> None:
    """The pool of a strided conv goes after its norm, inside its branch, not after the
    activation that follows the sum of two branches (the 1x1 branch is pooled on its own)."""
    converted = antialias(ParallelBranches().eval(), 3, method="aps", input_size=32)
    details = {c.path: c.detail for c in converted.antialias_report.changes}
    assert details["kxk.0"] == "stride 2 -> 1, pool after its norm (kxk.1)"
    assert details["one.0"] == "pool in front of the 1x1 conv, now at stride 1"
    assert converted(torch.randn(2, 3, 32, 32)).shape == (2, 4)


class FixedReshape(nn.Module):
    """AvgPool(2) on an 11x11 map gives 5x5, BlurPool would give 6x6, and the head's
    hard-coded reshape would then fail: the pool must be left as it is, and reported."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.pool = nn.AvgPool2d(2)
        self.head = nn.Linear(4 * 5 * 5, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.down(torch.relu(self.stem(x)))))
        return self.head(x.view(x.shape[0], 4 * 5 * 5))


def test_a_size_change_that_breaks_a_later_layer_is_put_back() -> None:
    converted = antialias(FixedReshape().eval(), 3, input_size=41)  # 41 -> 21 -> 11 -> 5
    report = converted.antialias_report
    assert [c.path for c in report.changes] == ["down"]
    assert {c.path: c.detail for c in report.skipped}["pool"] == "output size would change"
    assert converted(torch.randn(2, 3, 41, 41)).shape == (2, 3)


@pytest.mark.parametrize("size", [32, 33, 35])
def test_ceil_mode_max_pools_convert_and_keep_their_windows(size: int) -> None:
    """GoogLeNet's and SqueezeNet's MaxPool(3, 2, ceil_mode=True) keeps a last, partial window.
    Converted with filter 1 (subsampling, no blur) the network must compute exactly what it did,
    at even and odd sizes; with a blur its output keeps its size."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(4, 4, 3, padding=1), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.Flatten(), nn.LazyLinear(3),
    ).eval()  # fmt: skip
    x = torch.randn(2, 3, size, size)
    expected = net(x)
    plain = antialias(net, 1, pad_type="zero", pool_only=False, input_size=size)
    assert plain.antialias_report.counts() == {"max-pool": 2}
    torch.testing.assert_close(plain(x), expected)
    blurred = antialias(net, 3, pool_only=False, input_size=size)
    assert blurred.antialias_report.counts() == {"max-pool": 2}
    assert blurred(x).shape == expected.shape and torch.isfinite(blurred(x)).all()


def test_blurpool_blurs_every_channel_whatever_it_was_built_for() -> None:
    """timm builds some aa_layers for a block's output width and applies them to its input:
    the blur must neither duplicate nor drop channels."""
    x = torch.randn(2, 16, 12, 12)
    expected = BlurPool(16, 3)(x)
    torch.testing.assert_close(BlurPool(32, 3)(x), expected)
    torch.testing.assert_close(BlurPool(8, 3)(x), expected)
    model = timm.create_model("lcnet_050", num_classes=3).eval()  # such a block
    converted = antialias(model, 3, input_size=64)
    assert converted.antialias_report.rule == "timm aa_layer"
    assert converted(torch.randn(1, 3, 64, 64)).shape == (1, 3)


def test_a_timm_model_that_refuses_aa_layer_by_assertion_takes_the_generic_rule() -> None:
    model = timm.create_model("resnest14d", num_classes=3).eval()
    report = antialias(model, 3, input_size=64).antialias_report
    assert report.rule == "generic" and "does not take aa_layer" in report.notes[0]


def test_timm_models_are_rebuilt_with_aa_layer_and_same_weights() -> None:
    model = timm.create_model("test_resnet", num_classes=4).eval()
    converted = antialias(model, 4, input_size=64)
    report = converted.antialias_report
    assert report.rule == "timm aa_layer" and report.counts()["aa_layer"] >= 2
    assert set(converted.state_dict()) == set(model.state_dict())
    converted.load_state_dict(model.state_dict(), strict=True)
    assert converted(torch.randn(1, 3, 64, 64)).shape == (1, 4)


def test_patchify_models_report_nothing_converted() -> None:
    model = timm.create_model("test_vit", num_classes=3).eval()
    report = antialias(model, 4, input_size=model.pretrained_cfg["input_size"][-1]).antialias_report
    assert report.rule == "generic" and not report.changes
    assert any("patchify" in c.detail for c in report.skipped)


def test_aps_layer_is_shift_invariant_up_to_a_shift() -> None:
    layer = ApsPool(3, stride=2)
    x = torch.randn(2, 3, 8, 8)
    out = layer(x)
    shifted = layer(torch.roll(x, (1, 3), dims=(2, 3)))
    norms = sorted(out.flatten(1).norm(dim=1).tolist())
    assert sorted(shifted.flatten(1).norm(dim=1).tolist()) == pytest.approx(norms)


def test_aps_resnet_is_exactly_invariant_to_circular_shifts() -> None:
    torch.manual_seed(0)
    model = antialias(
        torchvision.models.resnet18(num_classes=10), method="aps", circular_pad=True, input_size=64
    )
    report = model.antialias_report
    assert report.counts()["stem conv"] == 1 and report.counts()["circular padding"] > 10
    x = torch.randn(6, 3, 64, 64)
    with torch.no_grad():
        base = model(x)
        for dy, dx in ((1, 0), (0, 1), (5, 3), (-7, 11)):
            shifted = model(torch.roll(x, (dy, dx), dims=(2, 3)))
            assert torch.equal(shifted.argmax(1), base.argmax(1))
            torch.testing.assert_close(shifted, base, atol=1e-4, rtol=1e-4)


def test_baseline_resnet_is_not_circular_invariant() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = torch.randn(6, 3, 64, 64)
    with torch.no_grad():
        assert not torch.allclose(model(torch.roll(x, (1, 0), dims=(2, 3))), model(x), atol=1e-4)


@pytest.mark.parametrize(
    "options",
    [
        ["--antialias", "4"],
        ["--antialias", "2", "--aa-pad", "zero", "--aa-stem"],
        ["--antialias", "5", "--circular-pad"],
        ["--antialias", "aps"],
        ["--antialias", "aps", "--aps-filter", "3", "--aa-pad", "reflect", "--circular-pad"],
    ],
)
def test_conversion_flags_convert_the_same_way_again(options: list[str]) -> None:
    """The flags printed for a converted file, read back by the CLI's parser, reproduce its
    settings (what `eval` checks a file's metadata against)."""
    from shiftbench.antialias import conversion_flags, convert_spec
    from shiftbench.models.variants import antialias_spec

    def spec(flags: list[str]):
        value = {f: flags[i + 1] for i, f in enumerate(flags[:-1]) if f.startswith("--")}
        stem = True if "--aa-stem" in flags else (False if "--no-aa-stem" in flags else None)
        return antialias_spec(
            value["--antialias"], value.get("--aa-pad"), stem,
            int(value.get("--aps-filter", 1)), "--circular-pad" in flags,
        )  # fmt: skip

    model = torchvision.models.resnet18(num_classes=3)
    first = convert_spec(model, spec(options), 64).antialias_report.settings()
    flags = conversion_flags(first).split()
    assert convert_spec(model, spec(flags), 64).antialias_report.settings() == first
