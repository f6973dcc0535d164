"""Bad input, case by case: one line on stderr naming the problem, exit code 2, no traceback,
and the output folder as it was before the run (absent, or an earlier run's results
untouched). Odd but readable images are evaluated; unusable files are skipped and counted."""

from __future__ import annotations

import json
import os
import shutil
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from shiftbench.cli import app, run

from .helpers import TINY_OPTIONS, TINY_RESNET, write_folder

runner = CliRunner()


@dataclass
class Ran:
    """What the `shiftbench` command did: its exit code and what it printed."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@pytest.fixture
def shiftbench(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch):
    """Run the command as its console script does (`shiftbench.cli.run`: usage errors and
    unexpected errors included, which typer's test runner renders otherwise)."""

    def invoke(args: list[str]) -> Ran:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["shiftbench", *args])
        with pytest.raises(SystemExit) as exited:
            run()
        captured = capsys.readouterr()
        return Ran(exited.value.code, captured.out, captured.err)  # type: ignore[arg-type]

    return invoke


class Payload:
    """Unpickling it would run os.system: safe loading must refuse it and run nothing."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def _weights(tmp_path: Path, name: str, make: Callable[[Path], None]) -> list[str]:
    path = tmp_path / name
    make(path)
    return ["--weights", str(path)]


def _model_file(tmp_path: Path, source: str, function: str = "build") -> list[str]:
    path = tmp_path / "arch.py"
    path.write_text(source)
    return ["--model-file", f"{path}:{function}"]


def _class_folders(tmp_path: Path, files: dict[str, bytes]) -> str:
    root = tmp_path / "odd"
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return str(root)


def _non_utf8_class(tmp_path: Path) -> str:
    root = write_folder(tmp_path / "named", classes=2)
    os.mkdir(os.path.join(os.fsencode(root), b"caf\xe9"))
    return str(root)


TINY_NET = "import torch.nn as nn\ndef build(num_classes=3):\n    return nn.Flatten()\n"

# case: (extra eval options, or a function of tmp_path giving them; the message's text)
# An option given twice takes its last value, so a case's options replace the defaults.
EVAL_CASES: dict[str, tuple[object, str]] = {
    "unknown_model": (["resnet5O"], "unknown model 'resnet5O'"),
    "missing_data": (lambda t: ["--data", str(t / "nowhere")], "data path does not exist"),
    "data_is_a_file": (
        lambda t: ["--data", _class_folders(t, {"f": b""}) + "/f"],
        "data path is not a folder",
    ),
    "empty_folder": (
        lambda t: ["--data", _class_folders(t, {".keep": b""})],
        "has no class sub-folders",
    ),
    "no_image_files": (
        lambda t: ["--data", _class_folders(t, {f"c{c}/notes.txt": b"x" for c in range(3)})],
        "no images found under",
    ),
    "only_truncated_and_empty_images": (
        lambda t: [
            "--data",
            _class_folders(
                t, {"c0/a.png": b"\x89PNG\r\n\x1a\n\0\0", "c1/b.jpg": b"", "c2/c.txt": b""}
            ),
        ],
        "none of the 2 images could be read",
    ),
    "class_folder_not_utf8": (
        lambda t: ["--data", _non_utf8_class(t)],
        "has a name that is not valid UTF-8",
    ),
    "wrong_class_count": (["--num-classes", "1000"], "3 class folders but the model has 1000"),
    "uncached_weights": ([], "pretrained weights not cached"),
    "weights_not_found": (lambda t: ["--weights", str(t / "w.pth")], "weights file not found"),
    "garbage_checkpoint": (
        lambda t: _weights(t, "w.pth", lambda p: p.write_bytes(b"garbage")),
        "is not a readable checkpoint",
    ),
    "pickled_code": (
        lambda t: _weights(t, "w.pth", lambda p: torch.save({"x": Payload()}, p)),
        "holds a pickled Python object (posix.system), not only tensors",
    ),
    "pickled_module": (
        lambda t: _weights(t, "w.pth", lambda p: torch.save(torch.nn.Linear(2, 2), p)),
        "holds a pickled Python object (torch.nn.modules.linear.Linear)",
    ),
    "corrupt_safetensors": (
        lambda t: _weights(t, "w.safetensors", lambda p: p.write_bytes(b"\x10" + b"\0" * 7)),
        "is not a readable checkpoint",
    ),
    "wrong_keys": (
        lambda t: _weights(
            t, "w.safetensors", lambda p: save_file({"bogus": torch.zeros(2)}, str(p))
        ),
        "does not match the model; missing: conv1.0.weight",
    ),
    "weights_for_another_head": (
        lambda t: _weights(
            t,
            "w.safetensors",
            lambda p: save_file(
                timm.create_model("test_resnet", num_classes=7).state_dict(), str(p)
            ),
        ),
        "shape: fc.weight (7, 96) vs (3, 96)",
    ),
    "model_file_without_the_function": (
        lambda t: ["net", *_model_file(t, TINY_NET, "missing")],
        "has no function 'missing'",
    ),
    "model_file_that_raises": (
        lambda t: ["net", *_model_file(t, "raise RuntimeError('boom')\n")],
        "failed to import: RuntimeError: boom",
    ),
    "model_file_not_a_module": (
        lambda t: ["net", *_model_file(t, "def build(num_classes=3):\n    return 42\n")],
        "not a torch.nn.Module",
    ),
    "model_file_without_function_name": (
        lambda t: ["net", "--model-file", str(t / "arch.py")],
        "FILE.py:FUNCTION",
    ),
    "bad_suite": (["--suite", "clean,nope"], "unknown suite 'nope'"),
    "bad_radius": (["--suite", "translation", "--attack-radius", "6"], "--attack-radius at most 4"),
    "unread_passes": (
        ["--suite", "clean,diagonal", "--shift-passes", "3"],
        "--shift-passes is read by the consistency suite, which is not",
    ),
    "unread_attack": (["--attack-step", "2"], "--attack-step is read by the translation suite"),
    "unread_severities": (
        ["--suite", "all", "--severities", "3"],
        "--severities is read by the corruption suite",
    ),
    "bad_canvas": (["--canvas", "crop"], "--canvas must be one of resize, pad"),
    "bad_batch_size": (["-b", "0"], "--batch-size must be a number >= 1 or auto"),
    "bad_max_shift": (["--max-shift", "-2"], "--max-shift must be >= 0"),
    "bad_amp": (["--amp", "fp8"], "--amp must be one of none, bf16, fp16"),
    "bad_limit": (["--limit", "0"], "--limit must be >= 1"),
    "bad_device": (["--device", "tpu"], "unknown device 'tpu'"),
    "seed_beyond_64_bits": (["--seed", str(2**70)], "Invalid value for '--seed'"),
    "negative_seed": (["--seed", "-1"], "Invalid value for '--seed'"),
    "gate_on_an_unselected_suite": (
        ["--min", "translation=50"],
        "a gate reads the translation suite, which is not selected",
    ),
}


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An earlier run's results, copied into the output folder of the `earlier` cases."""
    data = write_folder(tmp_path_factory.mktemp("earlier-data"))
    out = tmp_path_factory.mktemp("earlier") / "out"
    done = runner.invoke(app, ["eval", *TINY_RESNET, "--data", str(data), "--out", str(out)])
    assert done.exit_code == 0, done.output
    return out


def _snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# Found only while the images are decoded: the run's notes and progress come before it.
FOUND_WHILE_DECODING = {"only_truncated_and_empty_images"}


def assert_one_error_line(result, message: str, after_notes: bool = False) -> None:
    """Exit 2, one line on stderr (`error: ...` naming the problem; the last line after the
    run's own notes when `after_notes`), no traceback."""
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0] and lines[-1] == errors[0], result.stderr
    assert after_notes or len(lines) == 1, result.stderr
    assert "Traceback" not in result.output and "weights_only=False" not in result.output


@pytest.mark.parametrize("state", ["absent", "earlier"])
@pytest.mark.parametrize("case", sorted(EVAL_CASES))
def test_bad_eval_input_is_one_line_and_changes_no_folder(
    case: str, state: str, earlier: Path, tmp_path: Path, no_cache, monkeypatch, shiftbench
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    options, message = EVAL_CASES[case]
    extra = options(tmp_path) if callable(options) else options
    data = write_folder(tmp_path / "data")
    out = tmp_path / "out"
    if state == "earlier":
        shutil.copytree(earlier, out)
    before = _snapshot(out)
    args = [*TINY_RESNET, "--data", str(data), "--out", str(out)]
    if extra and not extra[0].startswith("-"):  # another model
        args[0], extra = extra[0], extra[1:]
    if case == "gate_on_an_unselected_suite" or case.startswith("model_file"):
        args = [a for a in args if a != "--no-pretrained"]
    if case == "uncached_weights":  # test_resnet's own weights and head, not in the cache
        args = [a for a in args if a not in ("--no-pretrained", "--num-classes", "3")]
        extra = []
    result = shiftbench(["eval", *args, *extra])
    assert_one_error_line(result, message, case in FOUND_WHILE_DECODING)
    assert _snapshot(out) == before
    assert not (tmp_path / "results").exists()
    if case == "pickled_code":
        assert "this must never run" not in result.output


def _eval_default_out(tmp_path: Path) -> list[str]:
    return ["eval", "resnet5O", "--no-pretrained", "--data", str(write_folder(tmp_path / "d"))]


FILTERS_ONLY = ["eval", "test_resnet", "--no-pretrained", "--suite", "filters"]

# Cases of other commands or without an output folder of their own: (arguments, message).
OTHER_CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    # a failed run with the default --out leaves no results/<model>/ behind
    "default_out": (_eval_default_out, "unknown model 'resnet5O'"),
    "unwritable_out": (
        lambda t: [
            "eval",
            *TINY_RESNET,
            "--data",
            str(write_folder(t / "d")),
            "--out",
            _class_folders(t, {"f": b""}) + "/f/out",
        ],
        "cannot write to output folder",
    ),
    "convert_to_an_unwritable_path": (
        lambda t: [
            "convert",
            "test_resnet",
            "--no-pretrained",
            "--num-classes",
            "3",
            "--img-size",
            "64",
            "--antialias",
            "3",
            "--out",
            "/proc/x.safetensors",
        ],
        "cannot write to output folder /proc",  # found before the model is built
    ),
    "convert_to_another_format": (
        lambda t: ["convert", "test_resnet", "--no-pretrained", "--out", str(t / "m.pth")],
        "--out must end in .safetensors",
    ),
    "compare_one_variant": (
        lambda t: ["compare", "test_resnet", *TINY_OPTIONS, "--data", str(write_folder(t / "d"))],
        "compare needs at least two variants",
    ),
    "check_a_list": (
        lambda t: ["check", _class_folders(t, {"r.json": b"[]"}) + "/r.json", "--min", "clean=1"],
        "is not a shiftbench results.json: a JSON list, not an object",
    ),
    "report_of_nothing": (lambda t: ["report", str(t)], "no results.json in"),
    # the filters suite alone reads the weights, no image: image options are refused
    "unread_shift": (
        lambda t: [*FILTERS_ONLY, "--out", str(t / "o"), "--max-shift", "8"],
        "--max-shift has no effect with no image suite",
    ),
    "unread_image_options": (
        lambda t: [
            *FILTERS_ONLY,
            "--out",
            str(t / "o"),
            "--limit",
            "3",
            "--amp",
            "bf16",
            "--decode",
            "device",
            "--canvas",
            "pad",
        ],
        "--limit, --amp, --decode, --canvas have no effect with no image suite",
    ),
    "unread_preprocessing": (
        lambda t: [
            *FILTERS_ONLY,
            "--out",
            str(t / "o"),
            "--interpolation",
            "bicubic",
            "--std",
            "0.5,0.5,0.5",
        ],
        "--interpolation, --std have no effect with no image suite",
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_bad_input_of_every_command_is_one_line(
    case: str, tmp_path: Path, no_cache, monkeypatch, shiftbench
) -> None:
    monkeypatch.chdir(tmp_path)
    arguments, message = OTHER_CASES[case]
    args = arguments(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = shiftbench(args)
    assert_one_error_line(result, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing new beside the input


def test_resume_of_finished_results_and_a_not_comparable_baseline(
    earlier: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(earlier, out)
    before = _snapshot(out)
    data = str(write_folder(tmp_path / "data"))
    finished = runner.invoke(app, ["eval", *TINY_RESNET, "--data", data, "--resume", str(out)])
    assert_one_error_line(finished, f"--resume: {out} holds finished results")
    other = tmp_path / "other"
    refused = runner.invoke(
        app,
        [
            "eval",
            *TINY_RESNET,
            "--data",
            data,
            "--out",
            str(other),
            "--seed",
            "1",
            "--baseline",
            str(out),
            "--max-drop",
            "clean=1",
        ],
    )
    assert_one_error_line(refused, "results are not comparable (config.seed: 0 -> 1)")
    assert _snapshot(out) == before and not other.exists()


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format="PNG")
    return buffer.getvalue()


def _image(mode: str, size: tuple[int, int], fmt: str) -> bytes:
    import io

    buffer = io.BytesIO()
    Image.new(mode, size, 128 if mode in ("L", "P", "I;16") else None).save(buffer, format=fmt)
    return buffer.getvalue()


def _link(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


# An odd file added to class_0 of a readable folder: evaluated (None) or skipped with a reason.
ODD_IMAGES: dict[str, tuple[str, object, str | None]] = {
    "truncated": ("t.png", lambda: _png(np.zeros((30, 40, 3), np.uint8))[:60], "unreadable"),
    "zero_bytes": ("z.jpg", lambda: b"", "unreadable"),
    "cmyk_jpeg": ("cmyk.jpg", lambda: _image("CMYK", (40, 30), "JPEG"), None),
    "rgba_png": ("rgba.png", lambda: _image("RGBA", (40, 30), "PNG"), None),
    "one_pixel": ("one.png", lambda: _png(np.full((1, 1, 3), 200, np.uint8)), None),
    "palette": ("p.png", lambda: _image("P", (40, 30), "PNG"), None),
    "grey_16_bit": ("g16.png", lambda: _png(np.full((30, 40), 40000, np.uint16)), None),
    "not_utf8_name": (
        b"caf\xe9.png",
        lambda: _png(np.zeros((30, 40, 3), np.uint8)),
        "file name is not valid UTF-8",
    ),
    "broken_link": ("gone.png", _link("/nowhere/at/all.png"), "broken symbolic link"),
    "link_loop": ("loop.png", _link("loop.png"), "Too many levels of symbolic links"),
}


@pytest.mark.parametrize("case", sorted(ODD_IMAGES))
def test_odd_images_are_evaluated_or_skipped_and_counted(case: str, tmp_path: Path) -> None:
    data = write_folder(tmp_path / "data")
    name, content, reason = ODD_IMAGES[case]
    folder = os.fsencode(data / "class_0")
    path = Path(
        os.fsdecode(os.path.join(folder, name if isinstance(name, bytes) else name.encode()))
    )
    if callable(content) and content.__code__.co_argcount == 1:
        content(path)
    else:
        path.write_bytes(content())
    out = tmp_path / "out"
    result = runner.invoke(app, ["eval", *TINY_RESNET, "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "error:" not in result.stderr
    saved = json.loads((out / "results.json").read_text())
    skipped = saved["data"]["skipped"]
    if reason is None:
        assert saved["data"]["images_evaluated"] == 13 and skipped == []
        return
    assert saved["data"]["images_evaluated"] == 12
    assert len(skipped) == 1 and reason in skipped[0]["reason"], skipped
    assert f"1 {'unreadable' if reason == 'unreadable' else 'unusable'} file skipped" in (
        result.stderr
    )


def test_an_image_over_pils_pixel_limit_first_in_the_listing(tmp_path: Path, monkeypatch) -> None:
    """Over twice PIL's limit it is skipped and counted (it crashed the enlarged-image check
    when first); between the limit and twice it, it is decoded without PIL's warning."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # the 30x40 images: 1200 pixels
    data = write_folder(tmp_path / "data")
    Image.new("RGB", (64, 64)).save(data / "class_0" / "aaa_huge.png")  # 4096 > 2 x 1000
    out = tmp_path / "out"
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        result = runner.invoke(app, ["eval", *TINY_RESNET, "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "DecompressionBombWarning" not in result.output and "Traceback" not in result.output
    saved = json.loads((out / "results.json").read_text())
    assert saved["data"]["images_evaluated"] == 12
    assert [s["path"] for s in saved["data"]["skipped"]] == ["class_0/aaa_huge.png"]
    assert "decompression bomb" in saved["data"]["skipped"][0]["reason"]
    assert not (out / ".partial").exists()


@pytest.mark.parametrize("command", ["eval", "check"])
def test_an_unexpected_error_is_one_line_and_exit_2_never_1(
    command: str, earlier: Path, tmp_path: Path, monkeypatch, shiftbench
) -> None:
    """A bug must not read as check's 'regression' (exit 1) in CI, nor print a traceback
    unless asked to (SHIFTBENCH_TRACEBACK=1)."""
    from shiftbench.cli import evaluate as eval_command_module
    from shiftbench.cli import tools as tool_commands_module

    def broken(*args, **kwargs):
        raise TypeError("'NoneType' object is not subscriptable")

    if command == "eval":
        monkeypatch.setattr(eval_command_module, "evaluate", broken)
        args = ["eval", *TINY_RESNET, "--data", str(write_folder(tmp_path / "d")),
                "--out", str(tmp_path / "out")]  # fmt: skip
    else:
        monkeypatch.setattr(tool_commands_module, "gate", broken)
        args = ["check", str(earlier), "--baseline", str(earlier), "--max-drop", "clean=1"]
    result = shiftbench(args)
    assert_one_error_line(
        result, "internal error, a bug in shiftbench: TypeError: 'NoneType' object is not "
        "subscriptable (set SHIFTBENCH_TRACEBACK=1 to see where; please report it"
    )  # fmt: skip
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv("SHIFTBENCH_TRACEBACK", "1")
    monkeypatch.setattr(sys, "argv", ["shiftbench", *args])
    with pytest.raises(TypeError, match="not subscriptable"):
        run()
