"""The released antialiased-cnns ImageNet weights (Zhang, "Making Convolutional Networks
Shift-Invariant Again", ICML 2019; github.com/adobe/antialiased-cnns, v0.3), by torchvision
architecture and filter size, so that `--weights released` loads what
`antialiased_cnns.<arch>(pretrained=True, filter_size=K)` loads.

Each file is `<arch>_lpf<K>-<hash>.pth` (trained from scratch with filter K) or
`<arch>_lpf4_finetune-<hash>.pth` (the baseline's weights fine-tuned after conversion, the
package's default at K = 4); `<hash>` is the start of the file's SHA-256, checked on download.
"""

from __future__ import annotations

from ..errors import ShiftbenchError

BASE_URL = "https://antialiased-cnns.s3.us-east-2.amazonaws.com/weights_v0.1/"
FILES = (
    "alexnet_lpf2-da8aca74.pth",
    "alexnet_lpf3-f9bbc410.pth",
    "alexnet_lpf4-0114fe25.pth",
    "alexnet_lpf4_finetune-20598a7a.pth",
    "alexnet_lpf5-4fa3706a.pth",
    "densenet121_lpf2-7da7d4cd.pth",
    "densenet121_lpf3-0f267ad8.pth",
    "densenet121_lpf4-edeaab00.pth",
    "densenet121_lpf4_finetune-eceaa619.pth",
    "densenet121_lpf5-ebc7880c.pth",
    "densenet161_lpf4_finetune-a5e0f328.pth",
    "densenet169_lpf4_finetune-992131e6.pth",
    "densenet201_lpf4_finetune-736979b2.pth",
    "mobilenet_v2_lpf2-f4379012.pth",
    "mobilenet_v2_lpf3-23b2e2ee.pth",
    "mobilenet_v2_lpf4-2e0b9cb9.pth",
    "mobilenet_v2_lpf4_finetune-7eed94b1.pth",
    "mobilenet_v2_lpf5-ab8fe968.pth",
    "resnet101_lpf2-3d00941d.pth",
    "resnet101_lpf3-928f1444.pth",
    "resnet101_lpf4-f8a116ff.pth",
    "resnet101_lpf4_finetune-9280acb0.pth",
    "resnet101_lpf5-1f3745af.pth",
    "resnet152_lpf4_finetune-7f67d9ae.pth",
    "resnet18_lpf2-6e2ee76f.pth",
    "resnet18_lpf3-449351b9.pth",
    "resnet18_lpf4-8c77af40.pth",
    "resnet18_lpf4_finetune-8cc58f59.pth",
    "resnet18_lpf5-c1eed0a1.pth",
    "resnet34_lpf2-4707aed9.pth",
    "resnet34_lpf3-16aa6c48.pth",
    "resnet34_lpf4-55747267.pth",
    "resnet34_lpf4_finetune-db622952.pth",
    "resnet34_lpf5-85283561.pth",
    "resnet50_lpf2-f0f7589d.pth",
    "resnet50_lpf3-a4e868d2.pth",
    "resnet50_lpf4-994b528f.pth",
    "resnet50_lpf4_finetune-cad66808.pth",
    "resnet50_lpf5-9953c9ad.pth",
    "resnext101_32x8d_lpf4_finetune-8f13a25d.pth",
    "resnext50_32x4d_lpf4_finetune-9106e549.pth",
    "vgg11_bn_lpf4_finetune-5d60b5e4.pth",
    "vgg11_lpf4_finetune-35eab449.pth",
    "vgg13_bn_lpf4_finetune-45e2a72f.pth",
    "vgg13_lpf4_finetune-d8ff02c4.pth",
    "vgg16_bn_lpf2-2c2052a8.pth",
    "vgg16_bn_lpf3-1782878a.pth",
    "vgg16_bn_lpf4-a1c3559b.pth",
    "vgg16_bn_lpf4_finetune-1dd798d1.pth",
    "vgg16_bn_lpf5-c500b52f.pth",
    "vgg16_lpf2-60268e0c.pth",
    "vgg16_lpf3-e9b0ce42.pth",
    "vgg16_lpf4-de9267ac.pth",
    "vgg16_lpf4_finetune-79c9dff7.pth",
    "vgg16_lpf5-1391f70c.pth",
    "vgg19_bn_lpf4_finetune-d0114293.pth",
    "vgg19_lpf4_finetune-7ab2cf45.pth",
    "wide_resnet101_2_lpf4_finetune-da4eae04.pth",
    "wide_resnet50_2_lpf4_finetune-02a183f7.pth",
)
_BY_KEY = {name.rsplit("-", 1)[0]: name for name in FILES}


# `--weights` values that name released weights: the package's default, or from scratch
RELEASED = {"released": False, "released-scratch": True}


def released_url(arch: str, filter_size: int, scratch: bool = False) -> str:
    """The URL of the released weights for torchvision's `arch` at `filter_size`: those trained
    from scratch with `scratch` (the paper's tables), else the package's default (fine-tuned
    at 4, from scratch at other sizes)."""
    finetuned = filter_size == 4 and not scratch
    key = f"{arch}_lpf4_finetune" if finetuned else f"{arch}_lpf{filter_size}"
    if key in _BY_KEY:
        return BASE_URL + _BY_KEY[key]
    mine = sorted(k.split("_lpf")[1] for k in _BY_KEY if k.split("_lpf")[0] == arch)
    if not mine:
        archs = sorted({k.split("_lpf")[0] for k in _BY_KEY})
        raise ShiftbenchError(
            f"antialiased-cnns released no weights for tv/{arch}; it did for {', '.join(archs)}"
        )
    kinds = ", ".join(f"lpf{k}" for k in mine)
    raise ShiftbenchError(
        f"antialiased-cnns released no {'from-scratch ' if scratch else ''}tv/{arch} weights "
        f"for filter size {filter_size}; it released {kinds} (_finetune: fine-tuned, used by "
        "{weights} released at filter 4)", "weights",
    )  # fmt: skip
