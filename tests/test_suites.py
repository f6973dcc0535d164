"""Every suite against an independent computation: a naive per-image, per-view loop."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from shiftbench import evaluate, scan_image_folder
from shiftbench.data.folders import load_canvas
from shiftbench.data.views import Geometry
from shiftbench.suites import SUITES, parse_suite_names
from shiftbench.suites.base import image_generator
from shiftbench.suites.translation import ring_offsets

from .helpers import Blind, LinearProbe, PixelReader, config, wrap, write_folder

ALL_SHIFT = parse_suite_names("all")
SIZE = 16
SHIFT = 8


def naive_scores(model: torch.nn.Module, window: np.ndarray) -> np.ndarray:
    """Softmax probabilities of one HWC uint8 window, one forward pass per view."""
    x = torch.from_numpy(np.ascontiguousarray(window)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        logits = model(x)[0].double().numpy()
    e = np.exp(logits - logits.max())
    return e / e.sum()


def naive_predict(model: torch.nn.Module, window: np.ndarray) -> int:
    """Top-1 of one HWC uint8 window."""
    return int(np.argmax(naive_scores(model, window)))


def in_top5(probs: np.ndarray, label: int) -> bool:
    return label in np.argsort(-probs)[:5]


def naive_canvases(root: Path, canvas: int) -> list[tuple[int, int, np.ndarray]]:
    images = scan_image_folder(root, len([p for p in root.iterdir() if p.is_dir()]))
    return [
        (
            item.index,
            item.label,
            load_canvas(root / item.path, canvas, "bilinear").permute(1, 2, 0).numpy(),
        )
        for item in images.items
    ]


def translate(window: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift a window by (dy, dx) with a black border, by explicit slicing."""
    out = np.zeros_like(window)
    size = window.shape[0]
    ys, yd = (
        (slice(0, size - dy), slice(dy, size))
        if dy >= 0
        else (slice(-dy, size), slice(0, size + dy))
    )
    xs, xd = (
        (slice(0, size - dx), slice(dx, size))
        if dx >= 0
        else (slice(-dx, size), slice(0, size + dx))
    )
    out[yd, xd] = window[ys, xs]
    return out


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory: pytest.TempPathFactory):
    root = write_folder(tmp_path_factory.mktemp("probe"), classes=7, per_class=2)
    model = LinearProbe(SIZE, 7)
    result = evaluate(
        wrap(model, SIZE), root, config(suites=ALL_SHIFT, attack_radius=4, attack_step=2)
    )
    return root, model, result


def test_clean_and_consistency_match_naive_loop(probe_run) -> None:
    root, model, result = probe_run
    geometry = Geometry(SIZE, SHIFT)
    c = geometry.centre
    suite = SUITES["consistency"](geometry, config())
    top1, top5, prob, agree, shifted = [], [], [], [], []
    for index, label, canvas in naive_canvases(root, geometry.canvas):
        probs = naive_scores(model, canvas[c : c + SIZE, c : c + SIZE])
        top1.append(np.argmax(probs) == label)
        top5.append(in_top5(probs, label))
        prob.append(probs[label])
        for pair in suite.draws(index):
            preds = [
                naive_predict(model, canvas[t : t + SIZE, s : s + SIZE]) for t, s in pair.tolist()
            ]
            agree.append(preds[0] == preds[1])
            shifted += [p == label for p in preds]
    assert result.metric("clean.top1").value == pytest.approx(100 * np.mean(top1))
    assert result.metric("clean.top5").value == pytest.approx(100 * np.mean(top5))
    assert result.metric("clean.prob_true").value == pytest.approx(100 * np.mean(prob))
    assert 0 < np.mean(top5) < 1  # top-5 of 7 classes is not trivially right
    assert result.metric("consistency").value == pytest.approx(100 * np.mean(agree))
    assert result.metric("consistency.top1").value == pytest.approx(100 * np.mean(shifted))
    assert result.records["consistency.agree"].flatten().tolist() == agree
    assert 0 < result.metric("consistency").value < 100  # the probe is shift-sensitive


def test_diagonal_matches_naive_loop(probe_run) -> None:
    root, model, result = probe_run
    correct, top5, prob, flips = [], [], [], []
    for _, label, canvas in naive_canvases(root, SIZE + SHIFT):
        scores = [naive_scores(model, canvas[d : d + SIZE, d : d + SIZE]) for d in range(SHIFT + 1)]
        preds = [int(np.argmax(p)) for p in scores]
        correct.append([p == label for p in preds])
        top5.append([in_top5(p, label) for p in scores])
        prob.append([p[label] for p in scores])
        flips.append([a != b for a, b in itertools.pairwise(preds)])
    correct, prob = np.array(correct), np.array(prob)
    curve = next(c for c in result.curves if c.key == "diagonal.top1")
    assert curve.x == list(range(SHIFT + 1))
    assert curve.value == pytest.approx(list(100 * correct.mean(axis=0)))
    probability = next(c for c in result.curves if c.key == "diagonal.prob_true")
    assert probability.value == pytest.approx(list(100 * prob.mean(axis=0)))
    assert result.metric("diagonal.top1").value == pytest.approx(100 * correct.mean())
    assert result.metric("diagonal.top5").value == pytest.approx(100 * np.mean(top5))
    assert result.metric("diagonal.prob_true").value == pytest.approx(100 * prob.mean())
    assert result.metric("diagonal.flip_rate").value == pytest.approx(100 * np.mean(flips))


def test_circular_matches_naive_roll(probe_run) -> None:
    root, model, result = probe_run
    geometry = Geometry(SIZE, SHIFT)
    suite = SUITES["circular"](geometry, config())
    c = geometry.centre
    agree, correct = [], []
    for index, label, canvas in naive_canvases(root, geometry.canvas):
        window = canvas[c : c + SIZE, c : c + SIZE]
        shifts = suite.draws(index).tolist()
        assert all(-SHIFT <= v < SHIFT for pair in shifts for v in pair)
        preds = [naive_predict(model, np.roll(window, (dy, dx), axis=(0, 1))) for dy, dx in shifts]
        agree.append(preds[0] == preds[1])
        correct += [p == label for p in preds]
    assert result.records["circular.agree"].tolist() == agree
    assert result.metric("circular.consistency").value == pytest.approx(100 * np.mean(agree))
    assert result.metric("circular.top1").value == pytest.approx(100 * np.mean(correct))


def test_padded_canvas_matches_a_naive_loop_on_the_images_themselves(tmp_path: Path) -> None:
    """--canvas pad: the centre window is each image itself (here at the model's 16 px, as
    CIFAR-10's are at 32), the shifted windows are crops of it framed by black (np.pad), as
    training's padded random crops are, and the circular shifts roll the image itself."""
    root = write_folder(tmp_path, classes=5, per_class=3, size=(SIZE, SIZE))
    model = LinearProbe(SIZE, 5)
    suites = ("clean", "consistency", "circular")
    result = evaluate(wrap(model, SIZE), root, config(suites=suites, canvas="pad"))
    geometry = Geometry(SIZE, SHIFT)
    pairs, rolls = SUITES["consistency"](geometry, config()), SUITES["circular"](geometry, config())
    half = SHIFT // 2
    top1, agree, rolled = [], [], []
    for item in scan_image_folder(root, 5).items:
        with Image.open(root / item.path) as image:
            native = np.array(image.convert("RGB"))
        framed = np.pad(native, ((half, half), (half, half), (0, 0)))
        top1.append(naive_predict(model, native) == item.label)
        for pair in pairs.draws(item.index).tolist():
            preds = [naive_predict(model, framed[t : t + SIZE, s : s + SIZE]) for t, s in pair]
            agree.append(preds[0] == preds[1])
        shifts = rolls.draws(item.index).tolist()
        preds = [naive_predict(model, np.roll(native, (dy, dx), axis=(0, 1))) for dy, dx in shifts]
        rolled.append(preds[0] == preds[1])
    assert result.metric("clean.top1").value == pytest.approx(100 * np.mean(top1))
    assert result.records["consistency.agree"].flatten().tolist() == agree
    assert result.records["circular.agree"].tolist() == rolled
    assert 0 < result.metric("consistency").value < 100  # the black border does move things
    resized = evaluate(wrap(model, SIZE), root, config(suites=("clean",)))
    assert not torch.equal(resized.records["clean.pred"], result.records["clean.pred"])


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_translation_matches_exhaustive_grid(tmp_path: Path, mode: str) -> None:
    root = write_folder(tmp_path, per_class=3)
    model = LinearProbe(SIZE, 3, seed=1)
    cfg = config(suites=("translation",), attack_mode=mode, attack_radius=4, attack_step=2)
    result = evaluate(wrap(model, SIZE), root, cfg)
    geometry = Geometry(SIZE, SHIFT)
    c = geometry.centre
    offsets = [(dy, dx) for dy in (-4, -2, 0, 2, 4) for dx in (-4, -2, 0, 2, 4)]
    robust = []
    for _, label, canvas in naive_canvases(root, geometry.canvas):
        hits = {}
        for dy, dx in offsets:
            if mode == "crop":
                view = canvas[c + dy : c + dy + SIZE, c + dx : c + dx + SIZE]
            else:
                view = translate(canvas[c : c + SIZE, c : c + SIZE], dy, dx)
            hits[(dy, dx)] = naive_predict(model, view) == label
        robust.append(
            [
                all(h for (dy, dx), h in hits.items() if max(abs(dy), abs(dx)) <= r)
                for r in (0, 2, 4)
            ]
        )
    robust = np.array(robust)
    assert result.records["translation.robust"].numpy().tolist() == robust.tolist()
    curve = next(c for c in result.curves if c.key == "translation.worst_top1")
    assert curve.x == [0, 2, 4]
    assert curve.value == pytest.approx(list(100 * robust.mean(axis=0)))
    # early exit: ring k (1, 8, 16 views) is asked for only while the image is still robust
    expected_views = [1 + 8 * r[0] + 16 * r[1] for r in robust.tolist()]
    assert result.records["translation.views"].tolist() == expected_views


def test_translation_early_exit_saves_views(probe_run) -> None:
    _, _, result = probe_run
    views = result.records["translation.views"]
    robust = result.records["translation.robust"]
    broken_at_centre = ~robust[:, 0]
    assert (views[broken_at_centre] == 1).all()


def test_ring_offsets_cover_grid_once() -> None:
    rings = ring_offsets(24, 12)
    points = torch.cat(rings).tolist()
    assert len(points) == 25 == len({tuple(p) for p in points})
    assert [len(r) for r in rings] == [1, 8, 16]
    assert sorted({p[0] for p in points}) == [-24, -12, 0, 12, 24]


def test_blind_model_is_perfectly_consistent(folder: Path) -> None:
    result = evaluate(wrap(Blind(3), SIZE), folder, config(suites=ALL_SHIFT))
    assert result.metric("consistency").value == 100.0
    assert result.metric("circular").value == 100.0
    assert result.metric("diagonal.flip_rate").value == 0.0
    assert result.metric("translation").value == result.metric("clean.top1").value
    # 12 images all agreeing in every pass: Wilson at p = 1 over images, n / (n + z^2)
    assert result.metric("consistency").ci_low == pytest.approx(100 * 12 / (12 + 1.959964**2))


def test_constant_images_are_consistent_under_any_model(tmp_path: Path) -> None:
    root = write_folder(tmp_path, constant=True)
    result = evaluate(wrap(LinearProbe(SIZE, 3), SIZE), root, config(suites=ALL_SHIFT))
    assert result.metric("consistency").value == 100.0
    assert result.metric("circular").value == 100.0
    assert result.metric("diagonal.flip_rate").value == 0.0


def test_pixel_reader_gives_predictable_diagonal_curve(tmp_path: Path) -> None:
    canvas, row, col = SIZE + SHIFT, 3, 5
    rng = np.random.default_rng(7)
    expected = []
    for label in (0, 1):
        folder = tmp_path / f"class_{label}"
        folder.mkdir()
        for i in range(4):
            bright = rng.random((canvas, canvas)) < 0.5
            pixels = np.zeros((canvas, canvas, 3), dtype=np.uint8)
            pixels[..., 0] = np.where(bright, 230, 20)
            Image.fromarray(pixels).save(folder / f"{i}.png")
            expected.append([bright[d + row, d + col] == bool(label) for d in range(SHIFT + 1)])
    result = evaluate(wrap(PixelReader(row, col), SIZE), tmp_path, config(suites=("diagonal",)))
    curve = next(c for c in result.curves if c.key == "diagonal.top1")
    assert curve.value == pytest.approx(list(100 * np.array(expected).mean(axis=0)))


def test_same_seed_same_numbers_for_any_batch_size_or_worker_count(probe_run) -> None:
    root, model, reference = probe_run
    for batch_size, workers in ((1, 0), (7, 2), (64, 0)):
        cfg = config(
            suites=ALL_SHIFT,
            attack_radius=4,
            attack_step=2,
            batch_size=batch_size,
            workers=workers,
        )
        result = evaluate(wrap(model, SIZE), root, cfg)
        assert [m.value for m in result.metrics] == [m.value for m in reference.metrics]
        for key, value in reference.records.items():
            if value.dtype.is_floating_point:
                torch.testing.assert_close(result.records[key], value)
            else:
                assert torch.equal(result.records[key], value), key


def test_seed_changes_the_draws_and_nothing_else() -> None:
    a = [
        torch.randint(0, 8, (3,), generator=image_generator(0, "consistency", i)) for i in range(4)
    ]
    b = [
        torch.randint(0, 8, (3,), generator=image_generator(0, "consistency", i)) for i in range(4)
    ]
    c = [
        torch.randint(0, 8, (3,), generator=image_generator(1, "consistency", i)) for i in range(4)
    ]
    d = [torch.randint(0, 8, (3,), generator=image_generator(0, "circular", i)) for i in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, c, strict=True))
    assert not all(torch.equal(x, y) for x, y in zip(a, d, strict=True))


def test_limit_subset_does_not_change_an_images_draws(probe_run) -> None:
    root, model, reference = probe_run
    result = evaluate(wrap(model, SIZE), root, config(suites=("consistency",), limit=4))
    kept = result.records["index"]
    full = reference.records["index"].tolist()
    rows = [full.index(i) for i in kept.tolist()]
    assert torch.equal(
        result.records["consistency.pred"], reference.records["consistency.pred"][rows]
    )


def test_shift_suites_need_a_margin_and_clean_does_not(folder: Path) -> None:
    from shiftbench import ShiftbenchError

    for name in ("consistency", "diagonal", "circular"):
        with pytest.raises(ShiftbenchError, match=f"the {name} suite needs max_shift >= 1"):
            SUITES[name](Geometry(SIZE, 0), config())
    result = evaluate(wrap(Blind(3), SIZE), folder, config(suites=("clean",), max_shift=0))
    assert result.data["geometry"]["canvas"] == SIZE


def test_a_kind_of_data_declares_the_suites_that_read_it(folder) -> None:
    """A data kind is an ImageSet subclass declaring its kind, title and suites; nothing
    else tests for its type (the released ImageNet-C files are the kind "imagenet_c")."""
    from dataclasses import fields

    from shiftbench import ShiftbenchError
    from shiftbench.data.folders import ImageSet
    from shiftbench.data.views import Geometry
    from shiftbench.results.result import data_kind
    from shiftbench.suites import build_suites

    from .helpers import config

    class CleanOnly(ImageSet):
        kind = "clean_only"
        title = "clean-only images"
        suites = ("clean",)

    listed = scan_image_folder(folder, 3)
    images = CleanOnly(**{f.name: getattr(listed, f.name) for f in fields(listed)})
    window = Geometry(16, 8)
    with pytest.raises(ShiftbenchError, match="clean-only images are read by the clean suite"):
        build_suites(window, config(suites=("clean", "consistency")), images)
    assert [s.name for s in build_suites(window, config(suites=("clean",)), images)] == ["clean"]
    assert images.describe()["kind"] == "clean_only" and listed.describe()["kind"] == "folder"
    # results written before kinds were recorded
    assert data_kind({"imagenet_c": {}}) == "imagenet_c" and data_kind({"root": "x"}) == "folder"
