"""torchvision families, converted to exactly the module structure of the released
antialiased-cnns models, so their checkpoints load strictly and baseline weights carry over.

ResNet (and ResNeXt, Wide ResNet), VGG (with and without BN), DenseNet, MobileNetV2, AlexNet.
The stem's first strided layer is kept unless `pool_only` is False (AlexNet's released
default is False).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from .surgery import ConversionReport, Downsampler

Rule = Callable[[nn.Module, Downsampler, bool, ConversionReport], None]


def _stride(module: nn.Module) -> int:
    stride = module.stride
    return stride[0] if isinstance(stride, tuple) else int(stride)


def _unstride(conv: nn.Conv2d) -> int:
    stride = _stride(conv)
    conv.stride = (1, 1)
    return stride


def convert_resnet(
    model: nn.Module, pool: Downsampler, pool_only: bool, report: ConversionReport
) -> None:
    """Stem max-pool -> MaxPool(2, 1) + pool; each strided block blurs after its strided
    conv's ReLU (in front of the next conv); the shortcut pools before its 1x1 conv."""
    from torchvision.models.resnet import BasicBlock, Bottleneck

    channels = model.conv1.out_channels
    stem: list[nn.Module] = []
    if not pool_only:
        stride = _unstride(model.conv1)
        stem.append(pool(channels, stride))
        report.change(
            "conv1", "stem conv", f"stride {stride} -> 1, pool after the ReLU (maxpool.0)"
        )
    if pool.method == "aps" and report.circular_pad:
        stem.append(nn.CircularPad2d((0, 1, 0, 1)))
    stem += [nn.MaxPool2d(kernel_size=2, stride=1), pool(channels, 2)]
    model.maxpool = nn.Sequential(*stem)
    report.change("maxpool", "max-pool", "MaxPool(3, 2, pad 1) -> MaxPool(2, 1) + pool")
    for name, layer in model.named_children():
        if not name.startswith("layer"):
            continue
        for index, block in enumerate(layer):
            path = f"{name}.{index}"
            if isinstance(block, BasicBlock) and _stride(block.conv1) > 1:
                stride = _unstride(block.conv1)
                main = pool(block.conv2.in_channels, stride)
                block.conv2 = nn.Sequential(main, block.conv2)
                report.change(f"{path}.conv1", "strided conv", "stride -> 1, pool before conv2")
            elif isinstance(block, Bottleneck) and _stride(block.conv2) > 1:
                stride = _unstride(block.conv2)
                main = pool(block.conv3.in_channels, stride)
                block.conv3 = nn.Sequential(main, block.conv3)
                report.change(f"{path}.conv2", "strided conv", "stride -> 1, pool before conv3")
            else:
                continue
            if block.downsample is not None and _stride(block.downsample[0]) > 1:
                conv, norm = block.downsample[0], block.downsample[1]
                _unstride(conv)
                block.downsample = nn.Sequential(pool(conv.in_channels, stride, main), conv, norm)
                report.change(f"{path}.downsample", "shortcut", "pool before the 1x1 conv")


def _features_with_pools(
    features: nn.Sequential, pool: Downsampler, report: ConversionReport
) -> list[nn.Module]:
    """Each strided MaxPool of a plain features stack -> MaxPool(k, 1) + pool."""
    layers: list[nn.Module] = []
    channels = 3
    for index, module in enumerate(features):
        if isinstance(module, nn.Conv2d):
            channels = module.out_channels
        if isinstance(module, nn.MaxPool2d) and _stride(module) > 1:
            size = module.kernel_size
            layers += [nn.MaxPool2d(kernel_size=size, stride=1), pool(channels, _stride(module))]
            report.change(
                f"features.{index}",
                "max-pool",
                f"MaxPool(stride {_stride(module)}) -> MaxPool({size}, 1) + pool",
            )
        else:
            layers.append(module)
    return layers


def convert_vgg(
    model: nn.Module, pool: Downsampler, pool_only: bool, report: ConversionReport
) -> None:
    """Every MaxPool2d(2, 2) in `features` -> MaxPool2d(2, 1) + pool (later indices shift)."""
    model.features = nn.Sequential(*_features_with_pools(model.features, pool, report))


def convert_alexnet(
    model: nn.Module, pool: Downsampler, pool_only: bool, report: ConversionReport
) -> None:
    """conv1 at stride 2 -> ReLU -> pool (unless pool_only); MaxPool(3, 2) -> MaxPool(3, 1)
    + pool."""
    layers = _features_with_pools(model.features, pool, report)
    if not pool_only:
        conv = layers[0]
        stride = _stride(conv)
        conv.stride = (stride // 2, stride // 2)
        layers.insert(2, pool(conv.out_channels, 2))
        report.change(
            "features.0", "stem conv", f"stride {stride} -> {stride // 2}, pool after the ReLU"
        )
    model.features = nn.Sequential(*layers)


def convert_densenet(
    model: nn.Module, pool: Downsampler, pool_only: bool, report: ConversionReport
) -> None:
    """pool0 -> max0 = MaxPool(3, 1, 1) + pool0 = pool; each transition's AvgPool(2) -> pool;
    without pool_only, conv0 runs at stride 1 followed after relu0 by ds0 = pool."""
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels = model.features.conv0.out_channels
    for name, module in model.features.named_children():
        if name == "conv0" and not pool_only:
            _unstride(module)
            report.change("features.conv0", "stem conv", "stride 2 -> 1, ds0 pool after relu0")
        if name == "pool0":
            layers["max0"] = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
            module = pool(channels, 2)
            report.change(
                "features.pool0", "max-pool", "MaxPool(3, 2, 1) -> max0 MaxPool(3, 1, 1) + pool0"
            )
        elif name.startswith("transition"):
            module.pool = pool(module.conv.out_channels, 2)
            report.change(f"features.{name}.pool", "avg-pool", "AvgPool(2, 2) -> pool")
        layers[name] = module
        if name == "relu0" and not pool_only:
            layers["ds0"] = pool(channels, 2)
    model.features = nn.Sequential(layers)


def convert_mobilenet_v2(
    model: nn.Module, pool: Downsampler, pool_only: bool, report: ConversionReport
) -> None:
    """In each stride-2 inverted residual the depthwise conv runs at stride 1 and is followed,
    after its BN and ReLU6, by pool(hidden, 2); the stem is kept unless pool_only is False."""
    from torchvision.models.mobilenetv2 import InvertedResidual

    for index, block in enumerate(model.features):
        if isinstance(block, InvertedResidual) and block.stride > 1:
            layers = list(block.conv)
            position = next(i for i, m in enumerate(layers) if _stride(m[0]) > 1)
            stride = _unstride(layers[position][0])
            layers.insert(position + 1, pool(layers[position][0].out_channels, stride))
            block.conv = nn.Sequential(*layers)
            report.change(
                f"features.{index}.conv.{position}",
                "strided conv",
                "depthwise stride -> 1, pool after ReLU6",
            )
    if not pool_only:
        stem = model.features[0]
        stride = _unstride(stem[0])
        stem.add_module(str(len(stem)), pool(stem[0].out_channels, stride))
        report.change("features.0", "stem conv", f"stride {stride} -> 1, pool after ReLU6")


def _released_mobilenet_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The released MobileNetV2 has no dropout in its classifier: classifier.0 -> .1."""
    return {k.replace("classifier.0.", "classifier.1.", 1): v for k, v in state.items()}


def family(model: nn.Module) -> tuple[str, Rule, bool] | None:
    """(family name, rule, default pool_only) for a torchvision model, or None."""
    from torchvision import models

    rules: list[tuple[type, str, Rule, bool]] = [
        (models.ResNet, "torchvision resnet", convert_resnet, True),
        (models.VGG, "torchvision vgg", convert_vgg, True),
        (models.DenseNet, "torchvision densenet", convert_densenet, True),
        (models.MobileNetV2, "torchvision mobilenet_v2", convert_mobilenet_v2, True),
        (models.AlexNet, "torchvision alexnet", convert_alexnet, False),
    ]
    for cls, name, rule, pool_only in rules:
        if type(model) is cls:
            return name, rule, pool_only
    return None


def adapt_released_keys(
    model: nn.Module, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Key fixes for loading released antialiased-cnns checkpoints into a converted model."""
    from torchvision import models

    own = model.state_dict()
    if (
        type(model) is models.MobileNetV2
        and "classifier.0.weight" in state
        and "classifier.0.weight" not in own
    ):
        return _released_mobilenet_keys(state)
    if type(model) is models.DenseNet:
        return {_DENSENET_LEGACY.sub(r"\1\2", k): v for k, v in state.items()}
    return state


# Released (and old torchvision) DenseNet checkpoints name layers `norm.1`, not `norm1`.
_DENSENET_LEGACY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\."
    r"((?:[12])\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$"
)
