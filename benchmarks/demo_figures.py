"""Measure `shiftbench demo` from an empty cache and write its figures where the docs show them.

Runs the demo command twice in a fresh cache (the first run generates the images and trains,
the second takes both from the cache), then writes docs/measurements/demo.json (the table,
both timings, the date, the revision, the versions, the CPU, and the digest of the code
behind the figures) and rewrites the figures in docs/experiments.md (between its markers)
and README.md. tests/test_docs.py fails once the code behind the figures has changed since
they were measured, or when a document no longer shows what demo.json holds.

    python benchmarks/demo_figures.py            # about 80 s on 2 CPU cores
    python benchmarks/demo_figures.py --check    # only compare the documents with demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MEASURED = ROOT / "docs" / "measurements" / "demo.json"
EXPERIMENTS = ROOT / "docs" / "experiments.md"
README = ROOT / "README.md"
BEGIN = "<!-- demo figures: written by benchmarks/demo_figures.py -->"
END = "<!-- end of demo figures -->"
# README's sentence: "... the first time, ... once the trained models are cached" and the
# consistency of the baseline and BlurPool-3.
README_TIMES = re.compile(r"\*\*\d+ s\*\* the first time, \*\*\d+ s\*\* once")
README_CONSISTENCY = re.compile(r"more consistent \([\d.]+% -> [\d.]+% for BlurPool-3\)")


def cpu() -> dict:
    """The CPU's name and whether it has AVX-512 (its float kernels round differently)."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    name = re.search(r"model name\s*:\s*(.+)", text)
    return {
        "name": name.group(1).strip() if name else platform.processor() or platform.machine(),
        "avx512": " avx512f " in f" {text} ",
        "cores": os.cpu_count(),
    }


def run_demo(cache: Path, out: Path) -> float:
    """Wall seconds of `shiftbench demo` as a user runs it, in the cache `cache`."""
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "shiftbench", "demo", "--out", str(out), "--device", "cpu"],
        env={**os.environ, "XDG_CACHE_HOME": str(cache)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def measure() -> dict:
    """Run the demo from an empty cache and again from the filled one; its figures."""
    import timm
    import torch
    import torchvision

    from shiftbench.experiments.demo import HEADLINES, THREADS, figures_digest
    from shiftbench.results.comparison import headline_markdown
    from shiftbench.results.paired import paired_differences
    from shiftbench.results.report import load_variants, saved_resamples

    with tempfile.TemporaryDirectory() as folder:
        cache, out = Path(folder) / "cache", Path(folder) / "out"
        empty = run_demo(cache, out)
        cached = run_demo(cache, out)
        variants = load_variants([out])
        differences = paired_differences(variants, saved_resamples(out))
    values = {m.key: m.value for m in variants[0].metrics}
    blurred = {m.key: m.value for m in variants[1].metrics}
    revision = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty", "--abbrev=12"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return {
        "date": date.today().isoformat(),
        "revision": revision,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
            "timm": timm.__version__,
        },
        "cpu": cpu(),
        "threads": THREADS,
        "seconds": {"empty_cache": round(empty, 1), "cached": round(cached, 1)},
        "consistency": {
            "baseline": values["consistency.consistency"],
            "aa3": blurred["consistency.consistency"],
        },
        "table": headline_markdown(variants, differences, HEADLINES),
        "figures_digest": figures_digest(),
    }


def experiments_block(measured: dict) -> str:
    """The figures' block of docs/experiments.md, markers included."""
    seconds, found = measured["seconds"], measured["cpu"]
    versions = ", ".join(f"{k} {v}" for k, v in measured["versions"].items())
    isa = "with" if found["avx512"] else "without"
    text = (
        f"Measured on {measured['date']} at revision {measured['revision']} ({versions}; "
        f"{found['name']}, {isa} AVX-512, {found['cores']} cores, the demo's "
        f"{measured['threads']} threads): {seconds['empty_cache']:.0f} s with an empty "
        f"cache, {seconds['cached']:.0f} s with the models cached. The result, with the "
        "default seed:"
    )
    return "\n".join([BEGIN, textwrap.fill(text, 92), "", *measured["table"], END])


def documents(measured: dict) -> dict[Path, str]:
    """README.md and docs/experiments.md as they should read with these figures."""
    experiments = EXPERIMENTS.read_text()
    start, end = experiments.index(BEGIN), experiments.index(END) + len(END)
    experiments = experiments[:start] + experiments_block(measured) + experiments[end:]
    seconds, consistency = measured["seconds"], measured["consistency"]
    readme = README_TIMES.sub(
        f"**{seconds['empty_cache']:.0f} s** the first time, **{seconds['cached']:.0f} s** once",
        README.read_text(),
    )
    readme = README_CONSISTENCY.sub(
        f"more consistent ({consistency['baseline']:.1f}% -> {consistency['aa3']:.1f}% for "
        "BlurPool-3)",
        readme,
    )
    return {EXPERIMENTS: experiments, README: readme}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only compare, write nothing.")
    args = parser.parse_args()
    if args.check:
        measured = json.loads(MEASURED.read_text())
        stale = [str(p) for p, text in documents(measured).items() if p.read_text() != text]
        print("documents match demo.json" if not stale else f"stale: {', '.join(stale)}")
        sys.exit(1 if stale else 0)
    measured = measure()
    MEASURED.write_text(json.dumps(measured, indent=2) + "\n")
    for path, text in documents(measured).items():
        path.write_text(text)
    print("\n".join(measured["table"]))
    print(f"{measured['seconds']} -> {MEASURED.relative_to(ROOT)}, README.md, docs/experiments.md")


if __name__ == "__main__":
    main()
