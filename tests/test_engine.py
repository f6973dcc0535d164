"""Forward batching across suites, memory formats, AMP and compile padding."""

from __future__ import annotations

from pathlib import Path

import torch

from shiftbench.api import evaluate
from shiftbench.data.views import crop_views
from shiftbench.models.preprocess import Preprocess
from shiftbench.run.engine import Forward, ViewQueue, resolve_device

from .helpers import LinearProbe, config, wrap

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


def asking(views_list, received):
    """A suite-like run that asks for each views in turn and keeps the logits it gets."""
    for views in views_list:
        received.append((views, (yield views)))


def test_queue_packs_views_of_all_runs_into_full_batches() -> None:
    model = LinearProbe(8, 5)
    queue = ViewQueue(Forward(model, PRE, config(batch_size=4), torch.device("cpu")))
    calls = []
    original = queue.forward.logits
    queue.forward.logits = lambda x: calls.append(len(x)) or original(x)
    first, second = requests()[:2], requests()[2:]
    received: list = []
    queue.add(asking(first, received))  # asks for 5 views, then 3 more once it has the 5
    queue.add(asking(second, received))  # asks for 9 views
    while queue.busy:
        queue.step()
    assert calls == [4, 4, 4, 4, 1]  # 17 views, full batches across requests and runs
    assert not queue.requests and len(received) == 3
    for views, logits in received:
        torch.testing.assert_close(logits, reference(model, views))


def test_channels_last_and_amp_match_plain() -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    x = requests()[2].materialize(0, 9)

    def run(**options):
        return Forward(model, PRE, config(batch_size=9, **options), torch.device("cpu")).logits(x)

    plain, nhwc, bf16 = run(), run(channels_last=True), run(amp="bf16")
    torch.testing.assert_close(plain, nhwc)
    assert bf16.dtype == torch.float32
    torch.testing.assert_close(plain, bf16, atol=0.05, rtol=0.05)


def test_compile_pads_short_batches_to_one_shape(monkeypatch) -> None:
    seen = []

    def fake_compile(module, dynamic):
        assert dynamic is False
        return lambda x: seen.append(x.shape[0]) or module(x)

    monkeypatch.setattr(torch, "compile", fake_compile)
    model = LinearProbe(8, 5)
    views = requests()[0]
    forward = Forward(model, PRE, config(batch_size=8, compile=True), torch.device("cpu"))
    out = forward.logits(views.materialize(0, 5))
    assert seen == [8] and out.shape == (5, 5)
    torch.testing.assert_close(out, reference(model, views))


def test_resolve_device() -> None:
    assert resolve_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected


def test_batches_mixing_uint8_and_float_views_keep_their_scale(folder: Path) -> None:
    """Corrupted windows are floats in 0..1, shifted windows uint8: a forward batch holding
    both must not see the uint8 ones as floats in 0..255 (every suite's records are those
    it gets when it runs alone)."""
    model = wrap(LinearProbe(16, 3), 16)
    for batch_size in (5, 16):
        both = evaluate(model, folder, config(
            suites=("consistency", "corruption"), corruptions=("contrast",), severities=(3,),
            batch_size=batch_size,
        ))  # fmt: skip
        alone = evaluate(model, folder, config(suites=("consistency",), batch_size=batch_size))
        for key, value in alone.records.items():
            assert torch.equal(value, both.records[key]), (batch_size, key)
