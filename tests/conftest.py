"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

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
