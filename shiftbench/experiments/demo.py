"""`shiftbench demo`: the paper's story offline, in minutes, on generated images.

1. A labelled image set is generated (`shiftbench.data.synthetic`: ten classes of shapes at
   random positions, filled with a fine stripe texture that carries no class information, so
   that aliasing in the downsampling matters; smaller objects and stronger stripes than
   `shiftbench synthetic`'s defaults), one for training and one for testing, from the seed.
2. A small VGG (`sb/demo`) and its anti-aliased twins (MaxPool -> MaxPool(stride 1) +
   BlurPool of each filter size) are trained together: same initial weights, same batches.
3. All of them are compared on the test images with every shift suite and the filters
   suite, and the paired report is written.

The generated images and the trained models are cached under `$XDG_CACHE_HOME/shiftbench`
(default `~/.cache/shiftbench`), keyed by every setting and by the code that makes them, so a
second run only evaluates, and a run after that code changed trains again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ..api import evaluate_many
from ..config import EvalConfig
from ..console import note, training_bar
from ..data.folders import scan_image_folder
from ..data.synthetic import generate_images
from ..errors import ShiftbenchError
from ..models.variants import load_variant, read_models_toml
from ..results.report import Comparison, write_comparison
from ..suites import SHIFT_SUITES
from .train import TrainConfig, load_images, save_twins, train_twins

# Bumped when the cache's layout changes. Changes to the code that generates the images or
# trains the models need no bump: the key holds a digest of that code (`TRAINING_CODE`).
CACHE_FORMAT = 2
# The modules whose code decides the generated images and the trained weights.
TRAINING_CODE = (
    "data/synthetic.py", "data/folders.py", "experiments", "models/nets.py", "antialias",
)  # fmt: skip
# Float arithmetic on the CPU splits its sums by thread: the demo runs on this many threads
# whatever the machine's cores, so its figures repeat on any machine of the same CPU kind.
THREADS = 2
# The metrics the demo prints and docs/experiments.md shows.
HEADLINES = [
    "clean.top1",
    "consistency.consistency",
    "diagonal.top1",
    "diagonal.flip_rate",
    "diagonal.prob_true_spread",
    "circular.consistency",
    "translation.worst_top1",
    "subpixel.consistency.ideal",
    "subpixel.mac.ideal",
    "embedded.flip_rate",
    "filters.tv",
]
# Modules that only present, store or gate numbers, or serve suites the demo does not run:
# every other module of the package can change the demo's figures (`figures_digest`).
PRESENTATION = (
    "cli", "console.py", "results/plots.py", "results/store.py", "results/check.py",
    "entry.py", "__main__.py", "models/downloads.py", "imagenet_c.py", "corruptions",
    "plan.py", "results/gating.py", "suites/perturbation.py",
)  # fmt: skip
PACKAGE = Path(__file__).resolve().parent.parent


def code_digest(parts: Iterable[str]) -> str:
    """SHA-256 of the source of the package's modules and folders named in `parts` (paths
    relative to the package)."""
    files = {f for part in parts for f in _sources(PACKAGE / part)}
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(file.relative_to(PACKAGE).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _sources(path: Path) -> list[Path]:
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def figures_digest() -> str:
    """The digest of every module that can change the demo's figures: the one recorded
    with the figures in docs/measurements/demo.json, so a test can tell they are stale."""
    left_out = {f for part in PRESENTATION for f in _sources(PACKAGE / part)}
    kept = [f for f in _sources(PACKAGE) if f not in left_out]
    return code_digest(f.relative_to(PACKAGE).as_posix() for f in kept)


@dataclass(frozen=True)
class DemoConfig:
    """What the demo generates, trains and measures (all part of the cache key)."""

    filter_sizes: tuple[int, ...] = (3, 5)
    augment: bool = False
    epochs: int = 20
    train_per_class: int = 100
    test_per_class: int = 40
    classes: int = 10
    radius: tuple[float, float] = (0.1, 0.18)
    texture: float = 0.3
    input_size: int = 32
    max_shift: int = 8
    batch_size: int = 32
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if any(not 1 <= k <= 7 for k in self.filter_sizes):
            raise ShiftbenchError("{filter_sizes} takes sizes 1..7, e.g. 3,5", "filter_sizes")
        if self.epochs < 1 or self.train_per_class < 1 or self.test_per_class < 1:
            raise ShiftbenchError("{epochs} and the image counts must be >= 1", "epochs")

    @property
    def canvas(self) -> int:
        """Side of the generated images: the evaluation canvas (input size + max shift)."""
        return self.input_size + self.max_shift

    def training(self) -> TrainConfig:
        """The training settings of the baseline (0) and its twins."""
        return TrainConfig(
            arch="demo",
            filter_sizes=(0, *self.filter_sizes),
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            augment=self.augment,
            img_size=self.input_size,
            seed=self.seed,
        )

    def key(self) -> str:
        """The cache key: a hash of every setting, the cache format, the code that generates
        and trains, torch's version and the thread count."""
        text = json.dumps(
            {
                **asdict(self),
                "format": CACHE_FORMAT,
                "code": code_digest(TRAINING_CODE),
                "torch": torch.__version__,
                "threads": THREADS,
            },
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/shiftbench`, by default `~/.cache/shiftbench`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "shiftbench"


def _cached(target: Path, make: Callable[[Path], None]) -> bool:
    """Build `target` with `make(folder)` in a temporary folder beside it and move it into
    place whole; nothing to do when it exists. True when it was built."""
    if target.is_dir():
        return False
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise ShiftbenchError(
            f"cannot write the cache {target.parent}: {exc.strerror or exc}"
        ) from None
    try:
        make(building)
        os.replace(building, target)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return True


def run_demo(
    config: DemoConfig, out: str | Path, device: str = "auto", verbose: bool = True
) -> Comparison:
    """Generate, train (or take from the cache), compare and write the report to `out`, on
    `THREADS` CPU threads; the saved variants and their differences to the baseline."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _run_demo(config, out, device, verbose)
    finally:
        torch.set_num_threads(threads)


def _run_demo(config: DemoConfig, out: str | Path, device: str, verbose: bool) -> Comparison:
    cache = cache_root() / "demo" / config.key()
    built = _cached(cache / "images", lambda folder: _generate(config, folder))
    if verbose:
        note(f"{'generated' if built else 'cached'} synthetic images: {cache / 'images'}")
    trained = _cached(
        cache / "models", lambda folder: _train(config, cache / "images", folder, device, verbose)
    )
    if verbose and not trained:
        note(f"cached trained models: {cache / 'models'} (delete it to train again)")
    specs = read_models_toml(cache / "models" / "models.toml")
    models = []
    for spec in specs:
        torch.manual_seed(config.seed)
        models.append(load_variant(spec))
    evaluation = EvalConfig(
        suites=(*(s.name for s in SHIFT_SUITES), "filters"),
        max_shift=config.max_shift,
        seed=config.seed,
        batch_size=128,
        workers=0,
        device=device,
        chunk_size=10_000,
    )
    results = evaluate_many(
        models, cache / "images" / "test", evaluation, verbose, labels=[s.label for s in specs]
    )
    return write_comparison(results, out)


def _generate(config: DemoConfig, folder: Path) -> None:
    for split, count, seed in (
        ("train", config.train_per_class, config.seed),
        ("test", config.test_per_class, config.seed + 1),
    ):
        generate_images(
            folder / split,
            config.classes,
            count,
            config.canvas,
            seed,
            config.radius,
            config.texture,
        )


def _train(config: DemoConfig, images: Path, folder: Path, device: str, verbose: bool) -> None:
    from ..run.engine import resolve_device

    scanned = scan_image_folder(images / "train", config.classes)
    pixels, labels = load_images(scanned, config.input_size, config.canvas)
    training = config.training()
    bar = training_bar(training.epochs * len(labels)) if verbose else nullcontext(None)
    with bar as update:
        twins = train_twins(
            training, pixels, labels, config.classes, resolve_device(device), step=update
        )
    save_twins(twins, training, folder, config.classes, {"demo": asdict(config)})
