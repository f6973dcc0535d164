"""Scale: chunked passes, torchrun processes, resuming a killed run, automatic batch size."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn
from typer.testing import CliRunner

from shiftbench.api import evaluate, evaluate_many
from shiftbench.cli import app
from shiftbench.data.folders import ImageItems
from shiftbench.errors import ShiftbenchError
from shiftbench.run.checkpoint import PARTIAL, Checkpoint, run_identity
from shiftbench.run.distributed import World, shard
from shiftbench.run.engine import decode_batches

from .helpers import Blind, LinearProbe, config, slow_args, wrap, write_folder

runner = CliRunner()
ALL = ("clean", "consistency", "diagonal", "circular", "translation")


def test_decoding_batches_never_cross_chunks() -> None:
    batches = decode_batches(70, 33)
    assert [chunk for chunk, _ in batches] == [0, 0, 1, 1, 2]
    assert [len(b) for _, b in batches] == [32, 1, 32, 1, 4]
    assert [p for _, b in batches for p in b] == list(range(70))


def test_shards_are_contiguous_and_cover_every_chunk_once() -> None:
    for chunks in (0, 1, 5, 16, 17):
        for size in (1, 2, 3, 8):
            parts = [shard(chunks, World(rank, size, rank)) for rank in range(size)]
            assert [c for part in parts for c in part] == list(range(chunks))
            lengths = [len(part) for part in parts]
            assert max(lengths) - min(lengths) <= 1


def test_chunks_change_no_record(folder: Path) -> None:
    """Chunks of 5 images (fresh suites per chunk, the attack adaptive per model) give the
    records of one chunk, for every model of a shared pass."""
    models = [wrap(LinearProbe(16, 3), 16), wrap(Blind(3), 16)]
    settings = {"suites": (*ALL, "corruption"), "corruptions": ("impulse_noise",)}
    whole = evaluate_many(models, folder, config(**settings, severities=(3,)))
    chunked = evaluate_many(models, folder, config(**settings, severities=(3,), chunk_size=5))
    for a, b in zip(whole, chunked, strict=True):
        assert a.records.keys() == b.records.keys()
        assert all(torch.equal(a.records[k], b.records[k]) for k in a.records)


def test_spawned_workers_give_the_same_metrics(tmp_path: Path, model_file: str) -> None:
    """DataLoader workers started by spawn (the default on macOS and Windows) get the
    listing and the suites' draws pickled: the same metrics.csv and records as no workers."""
    data = write_folder(tmp_path / "data", per_class=3)
    here, spawned = tmp_path / "here", tmp_path / "spawned"
    extra = ("-s", "clean,consistency,corruption", "--corruptions", "fog,glass_blur")
    done = runner.invoke(app, slow_args(model_file, data, here, *extra))
    assert done.exit_code == 0, done.output
    argv = ["shiftbench", *slow_args(model_file, data, spawned, *extra), "-j", "2"]
    script = (
        "import multiprocessing, sys\n"
        "multiprocessing.set_start_method('spawn')\n"
        f"sys.argv = {argv!r}\n"
        "from shiftbench.entry import main\n"
        "main()\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=240, env=env)  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert (spawned / "metrics.csv").read_text() == (here / "metrics.csv").read_text()
    a = load_file(str(here / "records.safetensors"))
    b = load_file(str(spawned / "records.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_two_processes_give_the_one_process_metrics(tmp_path: Path, model_file: str) -> None:
    """torchrun with 2 gloo processes on the CPU: the same metrics.csv and records."""
    data = write_folder(tmp_path / "data", per_class=5)
    one, two = tmp_path / "one", tmp_path / "two"
    extra = ("-s", ",".join(ALL), "--chunk-size", "4")
    done = runner.invoke(app, slow_args(model_file, data, one, *extra))
    assert done.exit_code == 0, done.output
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
              "2", "-m", "shiftbench", *slow_args(model_file, data, two, *extra)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ran = subprocess.run(launch, capture_output=True, text=True, timeout=240, env=env)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.count("results written to") <= 1
    # progress comes from one process: its log lines, each further on than the last
    done = [int(line.split(": ")[1].split("/")[0]) for line in ran.stderr.splitlines()
            if line.startswith("evaluating: ")]  # fmt: skip
    assert done and done == sorted(set(done)), ran.stderr
    assert (two / "metrics.csv").read_text() == (one / "metrics.csv").read_text()
    a, b = load_file(str(one / "records.safetensors")), load_file(str(two / "records.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    timing = json.loads((two / "results.json").read_text())["timing"]
    assert timing["processes"] == 2
    assert not (two / PARTIAL).exists()


def test_a_killed_run_resumes_to_the_same_results(tmp_path: Path, model_file: str) -> None:
    data = write_folder(tmp_path / "data", per_class=4)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    extra = ("--chunk-size", "3", "-b", "4")
    done = runner.invoke(app, slow_args(model_file, data, straight, *extra))
    assert done.exit_code == 0, done.output
    command = [sys.executable, "-m", "shiftbench", *slow_args(model_file, data, killed, *extra)]
    env = {**os.environ, "SLOW_FORWARD": "0.15"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while len(list((killed / PARTIAL).glob("chunk-*"))) < 2:
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    kept = len(list((killed / PARTIAL).glob("chunk-*")))
    assert 2 <= kept < 4 and not (killed / "results.json").exists()
    # the same command again, without --resume, would have thrown the finished chunks away
    again = runner.invoke(app, slow_args(model_file, data, killed, *extra))
    assert again.exit_code == 2
    assert f"holds an interrupted run ({kept} chunks finished): continue it with --resume" in (
        again.stderr
    )
    assert len(list((killed / PARTIAL).glob("chunk-*"))) == kept
    resumed = runner.invoke(app, [*slow_args(model_file, data, killed, *extra)[:-2], "--resume",
                                  str(killed), *extra])  # fmt: skip
    assert resumed.exit_code == 0, resumed.output
    assert "resuming" in resumed.output
    assert (killed / "metrics.csv").read_text() == (straight / "metrics.csv").read_text()
    a = load_file(str(straight / "records.safetensors"))
    b = load_file(str(killed / "records.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    timing = json.loads((killed / "results.json").read_text())["timing"]
    assert timing["resumed_images"] == 3 * kept
    assert not (killed / PARTIAL).exists()


def test_resume_refuses_another_run(tmp_path: Path, model_file: str) -> None:
    data = write_folder(tmp_path / "data")
    out = tmp_path / "out"
    first = runner.invoke(app, slow_args(model_file, data, out, "--chunk-size", "5"))
    assert first.exit_code == 0
    (out / PARTIAL).mkdir()
    (out / PARTIAL / "run.json").write_text(json.dumps({"config": {"seed": 7}}))
    other = runner.invoke(app, [*slow_args(model_file, data, out)[:-2], "--resume", str(out)])
    assert other.exit_code == 2 and "holds a run of something else" in other.output
    assert (out / PARTIAL / "run.json").is_file()  # the other run's checkpoint is kept
    (out / PARTIAL / "run.json").unlink()
    (out / PARTIAL).rmdir()
    finished = runner.invoke(app, [*slow_args(model_file, data, out)[:-2], "--resume", str(out)])
    assert finished.exit_code == 2 and "holds finished results" in finished.output
    both = runner.invoke(app, [*slow_args(model_file, data, out), "--resume", str(tmp_path / "x")])
    assert both.exit_code == 2 and "leave out --out" in both.output


def test_resume_identifies_the_listing_by_its_digest(tmp_path: Path) -> None:
    """run.json holds the listing's count and SHA-256, not its paths (3.75 M for ImageNet-C),
    and a resumed run over another listing of the same size is refused."""
    listing = ImageItems.build(range(3), ["a/0.png", "a/1.png", "b/0.png"], [0, 0, 1])
    renamed = ImageItems.build(range(3), ["a/0.png", "a/1.png", "b/9.png"], [0, 0, 1])
    world = World()
    Checkpoint(tmp_path, run_identity([], {}, listing, {}), 1).start(False, world)
    saved = (tmp_path / PARTIAL / "run.json").read_text()
    assert "a/1.png" not in saved and listing.digest() in saved
    assert Checkpoint(tmp_path, run_identity([], {}, listing, {}), 1).start(True, world) == set()
    with pytest.raises(ShiftbenchError, match=r"the listing of images differs \(3 -> 3 images"):
        Checkpoint(tmp_path, run_identity([], {}, renamed, {}), 1).start(True, world)
    older = {**json.loads(saved), "images": ["a/0.png", "a/1.png", "b/0.png"]}  # every path
    (tmp_path / PARTIAL / "run.json").write_text(json.dumps(older))
    with pytest.raises(ShiftbenchError) as refused:
        Checkpoint(tmp_path, run_identity([], {}, listing, {}), 1).start(True, world)
    assert str(refused.value).endswith(
        "(images: the listing of images differs (? -> 3 images)); "
        "give the same model, data and settings, or another --out"
    )


class RunsOutOfMemory(nn.Module):
    """LinearProbe that raises CUDA's out-of-memory error on more than 6 views at once."""

    def __init__(self) -> None:
        super().__init__()
        self.probe = LinearProbe(16, 3)
        self.sizes: list[int] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append(x.shape[0])
        if x.shape[0] > 6:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.probe(x)


def test_auto_batch_size_halves_on_out_of_memory(folder: Path) -> None:
    model = RunsOutOfMemory()
    loaded = wrap(model, 16)
    model.sizes.clear()  # wrap's one-image probe of the class count
    result = evaluate(loaded, folder, config(suites=ALL, batch_size="auto"))
    assert model.sizes[:5] == [64, 32, 16, 8, 4]  # halved from the CPU start until it fits
    assert max(model.sizes[5:]) == 4 and result.timing["batch_size"] == 4
    fixed = evaluate(wrap(LinearProbe(16, 3), 16), folder, config(suites=ALL, batch_size=4))
    assert [m.value for m in result.metrics] == [m.value for m in fixed.metrics]
    assert all(torch.equal(result.records[k], fixed.records[k]) for k in fixed.records)
    with pytest.raises(ShiftbenchError, match="out of memory on cpu at 16 views"):
        evaluate(wrap(RunsOutOfMemory(), 16), folder, config(batch_size=16))


def _from_main_worker(rank: int, init: str, results: str) -> None:
    """One of two gloo ranks: what from_main gives it, and how a rank-0 error reaches it."""
    import torch.distributed as dist

    from shiftbench.run.distributed import from_main

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=2)
    world = World(rank, 2, rank)
    made = from_main(lambda: {"made by": rank}, world)

    def refuse() -> None:
        raise ShiftbenchError(f"refused by rank {rank}")

    try:
        from_main(refuse, world)
        error = None
    except ShiftbenchError as exc:
        error = str(exc)
    Path(results, f"{rank}.json").write_text(json.dumps({"made": made, "error": error}))
    dist.destroy_process_group()


def test_rank_0_alone_makes_what_every_rank_gets(tmp_path: Path) -> None:
    """from_main: a listing made once, on rank 0, and its error raised on every rank."""
    import torch.multiprocessing as mp

    init = f"file://{tmp_path / 'init'}"
    mp.spawn(_from_main_worker, args=(init, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        got = json.loads((tmp_path / f"{rank}.json").read_text())
        assert got == {"made": {"made by": 0}, "error": "refused by rank 0"}
