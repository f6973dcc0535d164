"""Progress in a log: labelled lines at every tenth and at least every 30 s."""

from __future__ import annotations

import io

from rich.console import Console

import shiftbench.console as console
from shiftbench.console import LogLines


def test_log_lines_at_every_tenth_and_every_30_s(monkeypatch) -> None:
    clock = iter([0.0, 1.0, 2.0, 3.0, 40.0, 41.0, 50.0])
    monkeypatch.setattr(console.time, "perf_counter", lambda: next(clock))
    written = io.StringIO()
    monkeypatch.setattr(console, "stderr", Console(file=written, soft_wrap=True))
    lines = LogLines("evaluating", "images", 200)  # started at 0 s
    lines.update(5)  # 1 s: under a tenth, under 30 s: nothing
    lines.update(20, extra=", 9.0 views/s")  # 2 s: a tenth
    lines.update(30)  # 3 s: still the first tenth
    lines.update(31)  # 40 s: 37 s since the last line
    lines.update(33)  # 41 s: nothing
    lines.update(200)  # 50 s: done
    assert written.getvalue().splitlines() == [
        "evaluating: 20/200 images (10%), 10.0 images/s, 9.0 views/s, 18 s left",
        "evaluating: 31/200 images (15%), 0.8 images/s, 218 s left",
        "evaluating: 200/200 images (100%), 4.0 images/s",
    ]


def test_log_lines_without_a_total(monkeypatch) -> None:
    clock = iter([0.0, 31.0])
    monkeypatch.setattr(console.time, "perf_counter", lambda: next(clock))
    written = io.StringIO()
    monkeypatch.setattr(console, "stderr", Console(file=written, soft_wrap=True))
    LogLines("listing ImageNet-C", "folders").update(62)
    assert written.getvalue() == "listing ImageNet-C: 62 folders, 2.0 folders/s\n"
