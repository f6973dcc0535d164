"""Shared fixtures."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

from .helpers import SLOW_MODEL_FILE, write_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three classes of four random 30x40 images."""
    return write_folder(tmp_path / "data")


@pytest.fixture
def model_file(tmp_path: Path) -> str:
    """The slow conv net of helpers.SLOW_MODEL_FILE as a --model-file argument."""
    path = tmp_path / "arch.py"
    path.write_text(SLOW_MODEL_FILE)
    return f"{path}:build"


@pytest.fixture
def no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No cached pretrained weights, and every download or connection fails the test."""
    import huggingface_hub

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", lambda *a, **k: None)

    def no_network(*args, **kwargs):
        raise AssertionError("tests must not touch the network")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)


@pytest.fixture(scope="session", autouse=True)
def no_results_in_the_checkout():
    """A test that runs a command without --out must leave no results/ in the checkout
    (a failed run removes the folders it made)."""
    results = Path(__file__).resolve().parent.parent / "results"
    there = results.exists()
    yield
    assert there or not results.exists(), f"the tests left {results} behind"
