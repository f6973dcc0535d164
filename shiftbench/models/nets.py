"""Small networks for the paper's CIFAR-10 experiments and the demo, named `sb/NAME`.

`vgg11`, `vgg13`, `vgg16`: CIFAR-style VGG with batch norm (3x3 convs, 2x2 max pools), global
average pooling and one linear layer, so any input size works; the fifth max pool of the
ImageNet VGG is left out (at 32 px it would pool a 2x2 map to 1x1, too small to blur).
`resnet18`: the CIFAR ResNet-18 (3x3 stride-1 stem, no stem pool, basic blocks, strided 3x3
convs and 1x1 shortcuts). `demo`: a narrow four-conv, four-pool VGG for the offline demo.
`shiftbench.antialias` converts every downsampling of them, the first included
(`antialias_pool_only = False`), as the paper does for VGG: MaxPool -> MaxPool(stride 1) +
BlurPool, strided conv -> conv + BlurPool.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ShiftbenchError

# Conv widths and "M" (2x2 max pool), in order.
VGG_LAYERS: dict[str, list[str]] = {
    name: layers.split()
    for name, layers in {
        "demo": "16 M 32 M 64 M 64 M",
        "vgg11": "64 M 128 M 256 256 M 512 512 M 512 512",
        "vgg13": "64 64 M 128 128 M 256 256 M 512 512 M 512 512",
        "vgg16": "64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512",
    }.items()
}
NETS = (*VGG_LAYERS, "resnet18")


class VGG(nn.Module):
    """Conv3x3-BN-ReLU blocks and 2x2 max pools, then global average pooling and a linear head."""

    antialias_pool_only = False

    def __init__(self, layers: list[str], num_classes: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        channels = 3
        for layer in layers:
            if layer == "M":
                blocks.append(nn.MaxPool2d(2, 2))
            else:
                width = int(layer)
                blocks += [
                    nn.Conv2d(channels, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                channels = width
        self.features = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.features(x)).flatten(1))


class BasicBlock(nn.Module):
    """Two 3x3 convs with a shortcut (a strided 1x1 conv when the shape changes)."""

    def __init__(self, inputs: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu2 = nn.ReLU(inplace=True)
        self.shortcut = nn.Sequential()
        if stride != 1 or inputs != width:
            self.shortcut = nn.Sequential(
                nn.Conv2d(inputs, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))
        return self.relu2(self.bn2(self.conv2(out)) + self.shortcut(x))


class CifarResNet18(nn.Module):
    """ResNet-18 for small images: 3x3 stem at stride 1, four stages of two basic blocks."""

    antialias_pool_only = False

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        stages, inputs = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            stages.append(
                nn.Sequential(BasicBlock(inputs, width, stride), BasicBlock(width, width, 1))
            )
            inputs = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x).flatten(1))


def build_net(name: str, num_classes: int = 10) -> nn.Module:
    """A randomly initialised network by name (see NETS)."""
    if name in VGG_LAYERS:
        return VGG(VGG_LAYERS[name], num_classes)
    if name == "resnet18":
        return CifarResNet18(num_classes)
    raise ShiftbenchError(f"unknown sb/ network '{name}'; choose from {', '.join(NETS)}")
