"""On-device views against numpy slicing, np.roll and explicit black-bordered shifts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from shiftbench.data.views import Geometry, crop_views, roll_views, translate_views


@pytest.fixture
def canvases() -> torch.Tensor:
    return torch.randint(
        0, 256, (3, 3, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.permute(0, 2, 3, 1).numpy()


def test_geometry_centre_follows_torchvision_center_crop() -> None:
    import torchvision.transforms.functional as F

    for shift in range(0, 9):
        image = torch.arange(3 * (8 + shift) ** 2).view(3, 8 + shift, 8 + shift)
        g = Geometry(8, shift)
        c = g.centre
        assert torch.equal(F.center_crop(image, [8, 8]), image[:, c : c + 8, c : c + 8])
    assert Geometry(224, 32).centre == 16 and Geometry(224, 32).canvas == 256


def test_crop_views_equal_slicing(canvases: torch.Tensor) -> None:
    slot, top, left = (
        torch.tensor([0, 2, 1, 2]),
        torch.tensor([0, 4, 2, 3]),
        torch.tensor([4, 0, 3, 1]),
    )
    out = crop_views(canvases, slot, top, left, 8).materialize(0, 4)
    assert out.shape == (4, 3, 8, 8) and out.dtype == torch.uint8
    for v in range(4):
        s, t, x = int(slot[v]), int(top[v]), int(left[v])
        assert torch.equal(out[v], canvases[s, :, t : t + 8, x : x + 8])


def test_materialize_ranges_concatenate_to_the_whole(canvases: torch.Tensor) -> None:
    slot = torch.arange(3).repeat_interleave(3)
    top = torch.arange(9) % 5
    views = crop_views(canvases, slot, top, top, 7)
    whole = views.materialize(0, 9)
    parts = torch.cat([views.materialize(0, 4), views.materialize(4, 5), views.materialize(5, 9)])
    assert torch.equal(whole, parts) and len(views) == 9


def test_roll_views_equal_np_roll(canvases: torch.Tensor) -> None:
    dy, dx = torch.tensor([-3, 0, 5, 8]), torch.tensor([2, -8, -1, 7])
    slot, base = torch.tensor([0, 1, 2, 0]), torch.full((4,), 2)
    out = as_numpy(roll_views(canvases, slot, base, base, dy, dx, 8).materialize(0, 4))
    images = as_numpy(canvases)
    for v in range(4):
        window = images[int(slot[v]), 2:10, 2:10]
        assert np.array_equal(out[v], np.roll(window, (int(dy[v]), int(dx[v])), axis=(0, 1)))


def test_translate_views_fill_black(canvases: torch.Tensor) -> None:
    dy, dx = torch.tensor([3, -2, 0, 9]), torch.tensor([-4, 1, 0, 0])
    slot, base = torch.tensor([1, 0, 2, 1]), torch.full((4,), 2)
    out = as_numpy(translate_views(canvases, slot, base, base, dy, dx, 8).materialize(0, 4))
    images = as_numpy(canvases)
    for v in range(4):
        window = images[int(slot[v]), 2:10, 2:10]
        expected = np.zeros_like(window)
        for i in range(8):
            for j in range(8):
                si, sj = i - int(dy[v]), j - int(dx[v])
                if 0 <= si < 8 and 0 <= sj < 8:
                    expected[i, j] = window[si, sj]
        assert np.array_equal(out[v], expected)
    assert out[3].max() == 0  # moved out of frame entirely
