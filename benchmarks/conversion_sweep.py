"""Convert many architectures and check that each converted model still runs (a coverage check).

    python benchmarks/conversion_sweep.py                       # the timm and torchvision lists
    python benchmarks/conversion_sweep.py --models resnet18,tv/googlenet --img-size 128

Every model is built at random initialisation (10 classes) and converted five ways:
BlurPool-3 (stem kept), BlurPool-4 with the stem, APS, and filter 1 with zero padding, with
and without the stem. A conversion passes when the converted model runs on a batch of two
images with the original output shape and finite outputs. Filter 1 only moves each stride
behind its layer, so those conversions must also compute the original function (in float64,
to 1e-9 of the largest logit), except where the rule changes the function by design (an average pool
becomes a subsampling; torchvision ResNets get the released MaxPool(2, stride 1)). A model
that cannot take --img-size (a ViT's fixed size) runs at its own. The table gives, per model
and conversion, the rule used, the layers changed and how many were left unchanged; a
conversion that fails says why. docs/antialias.md quotes its last run.
"""

from __future__ import annotations

import argparse
import copy
import json
import warnings
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from shiftbench import ShiftbenchError, load_model
from shiftbench.antialias import AntialiasSpec, convert_spec

TIMM = (
    "resnet18,efficientnet_b0,mobilenetv3_small_100,regnetx_002,densenet121,convnext_atto,"
    "mixnet_s,ghostnet_100,dla34,rexnet_100,lcnet_050,cspresnet50,darknet53,res2net50_14w_8s,"
    "resnest14d,selecsls42b,repvgg_a0,fbnetc_100,tinynet_e,hgnetv2_b0,inception_v3,xception41,"
    "efficientnetv2_rw_t,mnasnet_100,hardcorenas_a,ese_vovnet19b_dw,dpn48b,seresnext26d_32x4d,"
    "legacy_seresnet18,nf_resnet26,regnety_002,ghostnetv2_100,mobileone_s0,cs3darknet_s,gernet_s,"
    "hrnet_w18_small,mobilevit_xxs,edgenext_xx_small,poolformer_s12,fastvit_t8,efficientformer_l1,"
    "levit_128s,coatnet_nano_rw_224,maxvit_nano_rw_256,vit_tiny_patch16_224,resnetv2_50,"
    "botnet26t_256,crossvit_tiny_240,bat_resnext26ts,halonet26t"
)
TORCHVISION = (
    "efficientnet_b0,regnet_x_400mf,mnasnet0_5,shufflenet_v2_x0_5,squeezenet1_0,googlenet,"
    "inception_v3,convnext_tiny,mobilenet_v3_small,resnext50_32x4d,wide_resnet50_2,"
    "efficientnet_v2_s,maxvit_t,swin_t,vit_b_16,alexnet,vgg11_bn,densenet121,mobilenet_v2,"
    "resnet18"
)
CONVERSIONS = {
    "aa3": AntialiasSpec(filter_size=3),
    "aa4+stem": AntialiasSpec(filter_size=4, pool_only=False),
    "aps": AntialiasSpec("aps", 1),
    # filter 1 with zero padding only moves each stride behind the layer: the same function,
    # by timm's aa_layer placement where the model takes it, and by the generic rule
    "aa1": AntialiasSpec(filter_size=1, pad_type="zero"),
    "aa1+stem": AntialiasSpec(filter_size=1, pad_type="zero", pool_only=False),
}
# Why a filter-1 conversion may compute another function, by design.
NOT_THE_SAME = {
    "avg-pool": "an average pool becomes a subsampling",
    "torchvision resnet": "the released MaxPool(2, stride 1) replaces MaxPool(3, stride 2)",
}


def sweep_model(name: str, wanted: int) -> list[dict]:
    """`sweep` at `wanted` px, or at the model's own size when it cannot take `wanted`."""
    try:
        return sweep(name, wanted)
    except ShiftbenchError:  # a fixed or minimum input size
        native = load_model(name, pretrained=False, num_classes=10).preprocess.input_size
        return sweep(name, native)


@torch.no_grad()
def sweep(name: str, size: int) -> list[dict]:
    """Each conversion of one model: whether it runs, its rule, changes and skipped layers."""
    model = load_model(name, pretrained=False, num_classes=10, img_size=size).module
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(0))
    expected = model(x).shape
    rows = []
    for label, spec in CONVERSIONS.items():
        row = {"model": name, "size": size, "conversion": label}
        try:
            converted = convert_spec(model, spec, size)
            out = converted(x)
        except ShiftbenchError as exc:
            rows.append({**row, "runs": False, "why": str(exc)})
            continue
        report = converted.antialias_report
        runs = out.shape == expected and bool(torch.isfinite(out).all())
        row |= {
            "runs": runs,
            "rule": report.rule,
            "changed": report.counts(),
            "unchanged": len(report.skipped),
            "why": "" if runs else "other output",
        }
        if label.startswith("aa1") and runs:
            # in float64, so that rounding blown up by a random network cannot pass for a change
            reference = copy.deepcopy(model).double()(x.double())
            moved = converted.double()(x.double())
            scale = float(reference.abs().max()) + 1e-300
            row["same_function"] = float((moved - reference).abs().max()) / scale < 1e-9
            reasons = [
                why for key, why in NOT_THE_SAME.items() if key in (report.rule, *row["changed"])
            ]
            row["why"] = "" if row["same_function"] else "; ".join(reasons)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="Comma-separated (tv/NAME for torchvision).")
    parser.add_argument("--img-size", type=int, default=96)
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    names = (
        args.models.split(",")
        if args.models
        else [*TIMM.split(","), *(f"tv/{n}" for n in TORCHVISION.split(","))]
    )
    rows = [row for name in names for row in sweep_model(name, args.img_size)]
    table = Table(title="conversions that run with the original output shape", title_justify="left")
    columns = ("model", "px", "conversion", "runs", "same function", "rule", "changed", "notes")
    for column in columns:
        table.add_column(column, overflow="fold")
    for r in rows:
        changed = ", ".join(f"{n} {k}" for k, n in r.get("changed", {}).items())
        same = {True: "yes", False: "NO", None: ""}[r.get("same_function")]
        notes = r["why"] or f"{r.get('unchanged', 0)} left unchanged"
        table.add_row(
            r["model"], str(r["size"]), r["conversion"], "yes" if r["runs"] else "NO", same,
            r.get("rule", ""), changed, notes,
        )  # fmt: skip
    console = Console(width=180)
    console.print(table)
    console.print(f"{sum(r['runs'] for r in rows)} of {len(rows)} conversions run")
    checked = [r for r in rows if "same_function" in r]
    unexplained = [r["model"] for r in checked if not r["same_function"] and not r["why"]]
    console.print(
        f"filter 1: {sum(r['same_function'] for r in checked)} of {len(checked)} compute the "
        f"original function; the others by design, except: {', '.join(unexplained) or 'none'}"
    )
    if args.json:
        args.json.write_text(json.dumps({"img_size": args.img_size, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
