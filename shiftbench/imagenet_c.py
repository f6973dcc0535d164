"""ImageNet-C from the released files: top-1 error per corruption and severity, CE, mCE;
and the released CIFAR-C arrays, read the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .api import evaluate
from .config import EvalConfig
from .corruptions import ALL, ReleasedSet, released_images
from .corruptions.arrays import ReleasedArrays, released_arrays
from .corruptions.disk import STORED_SIZE
from .data.folders import selected_images
from .models.loading import LoadedModel
from .results.result import EvalResult
from .run.distributed import current_world, from_main


def released_for(
    model: LoadedModel,
    root: str | Path,
    config: EvalConfig,
    clean_data: str | Path | None = None,
    stored_size: int = STORED_SIZE,
    progress: Callable[[int, int], None] | None = None,
) -> ReleasedSet:
    """The released files under `root` (and the clean images `clean_data`) that `config`
    selects (corruptions, severities, limit, image list), labelled for `model`. Under
    torchrun rank 0 lists them (calling `progress(folders done, folders)`) and sends the
    listing to the others."""
    return from_main(
        lambda: released_images(
            root,
            model.num_classes,
            config.option("corruptions") or ALL,
            config.option("severities"),
            config.limit,
            clean_data,
            stored_size,
            selected_images(config.image_list),
            progress,
        ),
        current_world(config.device),
    )


def evaluate_imagenet_c(
    model: LoadedModel,
    root: str | Path,
    config: EvalConfig | None = None,
    clean_data: str | Path | None = None,
    verbose: bool = False,
    stored_size: int = STORED_SIZE,
    checkpoint: str | Path | None = None,
    resume: bool = False,
) -> EvalResult | None:
    """Top-1 error on the released ImageNet-C files, with CE, mCE and (given the clean
    validation folder `clean_data`, evaluated in the same pass) clean accuracy and relative
    CE/mCE; `evaluate` on `released_for(...)`.

    Images are used at their stored size (`stored_size`, 224 for the released files): a
    smaller model input is centre-cropped, never resized (an image of another size is first
    brought to the stored size as Resize + CenterCrop). Missing corruptions or severities are
    reported and left out of the means. `checkpoint`, `resume` and torchrun as in `evaluate`.
    """
    config = config or EvalConfig(suites=("corruption",))
    images = released_for(model, root, config, clean_data, stored_size)
    return evaluate(model, images, config, verbose, checkpoint=checkpoint, resume=resume)


def cifar_c_for(model: LoadedModel, root: str | Path, config: EvalConfig) -> ReleasedArrays:
    """The released CIFAR-10-C or CIFAR-100-C arrays under `root` that `config` selects
    (corruptions, severities, limit), labelled for `model`."""
    corruptions = config.option("corruptions") or ALL
    return released_arrays(
        root, model.num_classes, corruptions, config.option("severities"), config.limit
    )
