"""The figures of a GPU run (the JSON files gpu_session.sh bundles) as markdown tables.

    python benchmarks/gpu_summary.py FIGURES_DIR > summary.md

One table per file, in the layout of docs/antialias.md, docs/corruptions.md and
docs/performance.md, so the figures go into the docs as measured, without copying by hand.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

TEXT_COLUMNS = {"model", "formulation", "how", "corruption", "suite", "converted", "same output",
                "output layout"}  # fmt: skip


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    align = ["---" if name in TEXT_COLUMNS else "---:" for name in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


# the ratio columns of antialias_cost.py's rows, in the docs' order
VARIANT_RATIOS = {"aa1_ratio": "filter 1", "aa4_ratio": "BlurPool-4", "aps_ratio": "APS",
                  "blur_alone_ratio": "blur alone"}  # fmt: skip


def _ratio(value: float | None) -> str:
    return "differs" if value is None else f"{value:.2f}x"


def antialias_cost(figures: dict) -> list[str]:
    """Per model: baseline time and each variant's time over it, the blur layers' time alone
    and what BlurPool-4 costs over filter 1 plus them (1.00x: no more than the extra blur
    convolutions); then, when measured, the BlurPool-4 model's time under each formulation."""
    rows = figures["rows"]
    measured = [key for key in VARIANT_RATIOS if key in rows[0]]
    header = ["model", "baseline ms/batch", *(VARIANT_RATIOS[key] for key in measured)]
    judged = {"aa1_ratio", "aa4_ratio", "blur_alone_ratio"} <= set(rows[0])
    if judged:
        header.append("BlurPool-4 / (filter 1 + blur alone)")
    body = []
    for r in rows:
        cells = [r["model"], f"{r['baseline_ms']:.1f}", *(_ratio(r[key]) for key in measured)]
        if judged:
            cells.append(_ratio(r["aa4_ratio"] / (r["aa1_ratio"] + r["blur_alone_ratio"])))
        body.append([*cells, r["conversion"]])
    lines = _table([*header, "converted"], body)
    if "aa4_ratio_by_formulation" in rows[0]:
        formulations = list(rows[0]["aa4_ratio_by_formulation"])
        lines += ["", "BlurPool-4 over the baseline, by formulation:", ""]
        lines += _table(
            ["formulation", *(r["model"] for r in rows)],
            [
                [how, *(_ratio(r["aa4_ratio_by_formulation"][how]) for r in rows)]
                for how in formulations
            ],
        )
    return lines


def blurpool_kernels(figures: dict) -> list[str]:
    """One BlurPool layer computed each way, against the 3x3 convolution before it."""
    return _table(
        ["how", "ms", "x 3x3 conv", "same output", "output layout"],
        [
            [r["how"], f"{r['ms']:.3f}", f"{r['vs_conv3x3']:.2f}",
             "yes" if r["equal_to_blurpool"] else "no", r["output_layout"]]
            for r in figures["rows"]
        ],
    )  # fmt: skip


def corruption_speed(figures: dict) -> list[str]:
    """Images/s of each corruption and its ratio to the model's forward rate."""
    forward = figures["forward_images_per_s"]
    return _table(
        ["corruption", "images/s", "x model forward"],
        [
            [r["corruption"], f"{r['images_per_s']:.0f}", f"{r['images_per_s'] / forward:.2f}"]
            for r in figures["rows"]
        ],
    )


def throughput(figures: dict) -> list[str]:
    """Views/s of each suite against the bare forward pass."""
    return _table(
        ["suite", "views/image", "views/s", "images/s", "bare views/s", "ratio"],
        [
            [r["suite"], f"{r['views_per_image']:.1f}", f"{r['views_per_s']:,.0f}",
             f"{r['images_per_s']:,.0f}", f"{r['bare_views_per_s']:,.0f}", f"{r['ratio']:.2f}"]
            for r in figures["rows"]
        ],
    )  # fmt: skip


RENDERERS: dict[str, Callable[[dict], list[str]]] = {
    "antialias_cost": antialias_cost,
    "blurpool": blurpool_kernels,
    "corruption_speed": corruption_speed,
    "throughput": throughput,
}


def summary(folder: Path) -> str:
    """Every known JSON file of `folder` as a section: its name, its setup, its table."""
    sections = []
    for path in sorted(folder.glob("*.json")):
        render = next((f for prefix, f in RENDERERS.items() if path.stem.startswith(prefix)), None)
        if render is None:
            continue
        figures = json.loads(path.read_text())
        setup = figures.get("setup", "")
        setup = setup if isinstance(setup, str) else json.dumps(setup)
        sections.append("\n".join([f"## {path.name}", "", setup, "", *render(figures)]))
    return "\n\n".join(sections) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="Where the run's JSON figures are.")
    print(summary(parser.parse_args().folder), end="")


if __name__ == "__main__":
    main()
