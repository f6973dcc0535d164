"""Faults during a run: a full disk at the start, midway and at the final write; Ctrl-C while
the command starts, while the model loads and midway; SIGKILL before the first chunk; a
corrupt chunk met by --resume. Each ends in one line and its exit code, and leaves either
results identical to an uninterrupted run or a folder that the next run can use."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import shiftbench.run.checkpoint
from shiftbench.cli import app
from shiftbench.run.checkpoint import PARTIAL

from .helpers import slow_args, write_folder

runner = CliRunner()
CHUNKS = ("--chunk-size", "3", "-b", "4")  # 12 images: four chunks


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _one_error_line(result, *parts: str) -> str:
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    for part in parts:
        assert part in errors[0], errors[0]
    return errors[0]


def _same_results(a: Path, b: Path) -> None:
    assert (a / "metrics.csv").read_text() == (b / "metrics.csv").read_text()
    first, second = (
        load_file(str(a / "records.safetensors")),
        load_file(str(b / "records.safetensors")),
    )
    assert first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture
def straight(tmp_path: Path, model_file: str) -> tuple[Path, Path]:
    """The image folder and an uninterrupted run's results on it."""
    data = write_folder(tmp_path / "data")
    out = tmp_path / "straight"
    done = runner.invoke(app, slow_args(model_file, data, out, *CHUNKS))
    assert done.exit_code == 0, done.output
    return data, out


def test_disk_full_at_the_start(straight, tmp_path: Path, model_file: str, monkeypatch) -> None:
    data, reference = straight
    out = tmp_path / "out"
    original = shiftbench.run.checkpoint.write_whole

    def write_whole(path: Path, data: bytes) -> None:
        if Path(path).name == "run.json":  # the first file a run writes
            _disk_full()
        original(path, data)

    monkeypatch.setattr(shiftbench.run.checkpoint, "write_whole", write_whole)
    full = runner.invoke(app, slow_args(model_file, data, out, *CHUNKS))
    assert full.exit_code == 2
    _one_error_line(full, f"cannot write {out / PARTIAL}: No space left on device")
    assert not out.exists()  # as before the run
    monkeypatch.undo()
    _rerun(model_file, data, out, reference)


def test_disk_full_midway_keeps_the_finished_chunks(
    straight, tmp_path: Path, model_file: str, monkeypatch
) -> None:
    data, reference = straight
    out = tmp_path / "out"
    monkeypatch.setattr(shiftbench.run.checkpoint, "write_tensors", _stop_after_two_chunks())
    full = runner.invoke(app, slow_args(model_file, data, out, *CHUNKS))
    assert full.exit_code == 2
    _one_error_line(full, "cannot write the checkpoint", "No space left on device",
                    f"--resume {out} continues from them")  # fmt: skip
    assert sorted(p.name for p in (out / PARTIAL).iterdir()) == [
        "chunk-000000.safetensors", "chunk-000001.safetensors", "run.json",
    ]  # fmt: skip
    monkeypatch.undo()
    _resume(model_file, data, out, reference)


def test_disk_full_at_the_final_write_keeps_the_earlier_results(
    straight, tmp_path: Path, model_file: str, monkeypatch
) -> None:
    """Into a folder holding an earlier run: the earlier results stay whole and unchanged."""
    import shiftbench.results.report

    data, reference = straight
    before = {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()}
    monkeypatch.setattr(shiftbench.results.report, "write_tensors", _disk_full)
    full = runner.invoke(app, [*slow_args(model_file, data, reference, *CHUNKS), "--seed", "1"])
    assert full.exit_code == 2
    _one_error_line(full, f"cannot write the results to {reference}: No space left on device")
    assert {p.name: p.read_bytes() for p in reference.iterdir() if p.is_file()} == before


def _rerun(model_file: str, data: Path, out: Path, reference: Path, *extra: str):
    """The run again into `out` in this process (with `extra`, such as --resume OUT): it
    must give the results of the uninterrupted run."""
    again = runner.invoke(app, [*slow_args(model_file, data, out, *CHUNKS), *extra])
    assert again.exit_code == 0, again.output
    _same_results(reference, out)
    return again


def _resume(model_file: str, data: Path, out: Path, reference: Path):
    """`--resume OUT`, as `_rerun`."""
    return _rerun(model_file, data, out, reference, "--resume", str(out))


def _launch(model_file: str, data: Path, out: Path, **env: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "shiftbench", *slow_args(model_file, data, out, *CHUNKS)]
    return subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _wait_for(condition, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.stderr.read()[-2000:]  # type: ignore[union-attr]
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _interrupt(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    return stderr.strip().splitlines()[-1]


def test_ctrl_c_while_the_command_starts(tmp_path: Path, model_file: str) -> None:
    data, out = write_folder(tmp_path / "data"), tmp_path / "out"
    process = _launch(model_file, data, out)
    time.sleep(0.3)  # still importing torch
    assert _interrupt(process) == "interrupted while starting: nothing was written"
    assert not out.exists()


def test_ctrl_c_while_the_model_loads(tmp_path: Path, model_file: str) -> None:
    data, out = write_folder(tmp_path / "data"), tmp_path / "results" / "model" / "out"
    marker = tmp_path / "building"
    process = _launch(model_file, data, out, BUILD_MARKER=str(marker))
    _wait_for(marker.exists, process)
    assert _interrupt(process) == f"interrupted: nothing was written to {out}"
    assert not (tmp_path / "results").exists()  # the folders it made are gone again


def test_ctrl_c_midway_then_resume(straight, tmp_path: Path, model_file: str) -> None:
    data, reference = straight
    out = tmp_path / "out"
    process = _launch(model_file, data, out, SLOW_FORWARD="0.15")
    _wait_for(lambda: len(list((out / PARTIAL).glob("chunk-*"))) >= 2, process)
    line = _interrupt(process)
    kept = len(list((out / PARTIAL).glob("chunk-*.safetensors")))
    assert line == (
        f"interrupted: {kept} finished chunk(s) kept in {out / PARTIAL}; "
        f"--resume {out} continues from them"
    )
    assert not (out / "results.json").exists()
    _resume(model_file, data, out, reference)


def test_a_run_killed_before_its_first_chunk_blocks_nothing(
    straight, tmp_path: Path, model_file: str
) -> None:
    data, reference = straight
    out = tmp_path / "out"
    process = _launch(model_file, data, out, SLOW_FORWARD="3")  # the probe's forward too
    _wait_for((out / PARTIAL / "run.json").is_file, process)  # the first chunk: 3 s more
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not list((out / PARTIAL).glob("chunk-*"))
    _rerun(model_file, data, out, reference)  # no --resume


def test_a_corrupt_chunk_is_evaluated_again_on_resume(
    straight, tmp_path: Path, model_file: str, monkeypatch
) -> None:
    data, reference = straight
    out = tmp_path / "out"
    monkeypatch.setattr(shiftbench.run.checkpoint, "write_tensors", _stop_after_two_chunks())
    stopped = runner.invoke(app, slow_args(model_file, data, out, *CHUNKS))
    assert stopped.exit_code == 2
    monkeypatch.undo()
    chunk = out / PARTIAL / "chunk-000001.safetensors"
    chunk.write_bytes(chunk.read_bytes()[:-5])  # a disk fault cut it short
    resumed = _resume(model_file, data, out, reference)
    assert f"warning: --resume: {chunk} is unreadable (" in resumed.stderr
    assert "its images are evaluated again" in resumed.stderr
    assert "resuming: 1 finished chunks of 3 images read back" in resumed.stderr


def _stop_after_two_chunks():
    original = shiftbench.run.checkpoint.write_tensors
    calls = []

    def write_tensors(*args, **kwargs):
        calls.append(1)
        if len(calls) > 2:
            _disk_full()
        return original(*args, **kwargs)

    return write_tensors


def test_disk_full_while_convert_saves(tmp_path: Path, monkeypatch) -> None:
    import shiftbench.api

    monkeypatch.setattr(shiftbench.api, "write_tensors", _disk_full)
    out = tmp_path / "models" / "aa3.safetensors"
    args = ["convert", "test_resnet", "--no-pretrained", "--num-classes", "3", "--img-size", "64",
            "--antialias", "3", "--out", str(out)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    _one_error_line(result, f"cannot write {out}: No space left on device")
    assert not (tmp_path / "models").exists()  # no partial file, no folder it made
