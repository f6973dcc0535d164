"""Forward batching across suites, memory formats, AMP and compile padding."""

from __future__ import annotations

import torch

from shiftbench.engine import Forward, resolve_device
from shiftbench.models import Preprocess
from shiftbench.views import crop_views

from .helpers import LinearProbe, config

PRE = Preprocess(8, "bilinear", (0.5, 0.4, 0.3), (0.2, 0.25, 0.3))


def requests():
    generator = torch.Generator().manual_seed(0)
    canvases = torch.randint(0, 256, (4, 3, 12, 12), dtype=torch.uint8, generator=generator)
    made = []
    for count in (5, 3, 9):
        slot = torch.randint(0, 4, (count,), generator=generator)
        top = torch.randint(0, 5, (count,), generator=generator)
        made.append(crop_views(canvases, slot, top, top.flip(0), 8))
    return made


def reference(model: torch.nn.Module, views) -> torch.Tensor:
    x = views.materialize(0, len(views)).float() / 255
    mean = torch.tensor(PRE.mean).view(1, 3, 1, 1)
    std = torch.tensor(PRE.std).view(1, 3, 1, 1)
    return model((x - mean) / std).float()


def test_views_of_several_requests_share_batches() -> None:
    model = LinearProbe(8, 5)
    forward = Forward(model, PRE, config(batch_size=4), torch.device("cpu"))
    calls = []
    original = forward.logits
    forward.logits = lambda x: calls.append(len(x)) or original(x)
    made = requests()
    out = forward(made)
    assert calls == [4, 4, 4, 4, 1]  # 17 views in full batches of 4 across requests
    for views, logits in zip(made, out, strict=True):
        torch.testing.assert_close(logits, reference(model, views))


def test_channels_last_and_amp_match_plain() -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    made = requests()
    plain = Forward(model, PRE, config(batch_size=6), torch.device("cpu"))(made)
    nhwc = Forward(model, PRE, config(batch_size=6, channels_last=True), torch.device("cpu"))(made)
    bf16 = Forward(model, PRE, config(batch_size=6, amp="bf16"), torch.device("cpu"))(made)
    for a, b, c in zip(plain, nhwc, bf16, strict=True):
        torch.testing.assert_close(a, b)
        assert c.dtype == torch.float32
        torch.testing.assert_close(a, c, atol=0.05, rtol=0.05)


def test_compile_pads_short_batches_to_one_shape(monkeypatch) -> None:
    seen = []

    def fake_compile(module, dynamic):
        assert dynamic is False
        return lambda x: seen.append(x.shape[0]) or module(x)

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = LinearProbe(8, 5)
    made = requests()
    out = Forward(model, PRE, config(batch_size=4, compile=True), torch.device("cpu"))(made)
    assert set(seen) == {4} and [len(o) for o in out] == [5, 3, 9]
    torch.testing.assert_close(out[2], reference(model, made[2]))


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
