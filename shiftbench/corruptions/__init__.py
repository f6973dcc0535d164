"""ImageNet-C corruptions: names and AlexNet constants, CE/mCE scores, the released files."""

from __future__ import annotations

from .disk import CorruptedSets, parse_corruptions, parse_severities, scan_imagenet_c
from .scores import CorruptionScores, score
from .tables import ALEXNET_ERRORS, ALL, BENCHMARK, DESCRIPTIONS, EXTRA, GROUPS, SEVERITIES

__all__ = [
    "ALEXNET_ERRORS",
    "ALL",
    "BENCHMARK",
    "DESCRIPTIONS",
    "EXTRA",
    "GROUPS",
    "SEVERITIES",
    "CorruptedSets",
    "CorruptionScores",
    "parse_corruptions",
    "parse_severities",
    "scan_imagenet_c",
    "score",
]
