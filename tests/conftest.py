"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import write_folder


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three classes of four random 30x40 images."""
    return write_folder(tmp_path / "data")
