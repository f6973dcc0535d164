"""Memory of an image listing the size of ImageNet-C's, and what each DataLoader worker copies.

DataLoader workers are forked: they share the parent's memory until they write to it, and
Python writes to every object it touches (reference counts) and that the garbage collector
walks. A listing of one Python object per image is therefore copied, page by page, into
every worker; `ImageItems` keeps the listing in a few arrays that the workers only read.

For each form the script builds the listing (synthetic ImageNet-C paths), then forks a child
that runs a full garbage collection and reads every item, as a worker does over a pass, and
reports the child's private dirty memory beyond that of a child with an empty listing.
Linux only (it reads /proc/self/smaps_rollup).

    python benchmarks/listing_memory.py --images 3750000 --json listing.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
from pathlib import Path

from shiftbench.data.folders import ImageItem, ImageItems


def _proc_mb(file: str, field: str) -> float:
    """A kB figure of this process from /proc/self/`file`, in MB."""
    with open(f"/proc/self/{file}") as figures:
        for line in figures:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/{file}")


def _private_dirty_mb() -> float:
    return _proc_mb("smaps_rollup", "Private_Dirty")


def _rss_mb() -> float:
    return _proc_mb("status", "VmRSS")


def _paths(count: int) -> list[str]:
    return [
        f"gaussian_noise/{1 + i % 5}/n{i % 1000:08d}/ILSVRC2012_val_{i % 50000 + 1:08d}.JPEG"
        for i in range(count)
    ]


def _build(form: str, count: int) -> list[ImageItem] | ImageItems:
    paths = _paths(count)
    labels = [i % 1000 for i in range(count)]
    if form == "objects":
        return [ImageItem(i, paths[i], labels[i]) for i in range(count)]
    return ImageItems.build(range(count), paths, labels)


def _worker_copy_mb(listing: list[ImageItem] | ImageItems) -> float:
    """Private memory a forked child dirties by a full gc and reading every item."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        start = _private_dirty_mb()
        gc.collect()
        total = sum(len(listing[i].path) for i in range(len(listing)))
        os.write(write, json.dumps([_private_dirty_mb() - start, total]).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        copied, _ = json.loads(pipe.read())
    os.waitpid(pid, 0)
    return copied


def measure(form: str, count: int) -> dict:
    """Build one form of listing and measure it; the listing is dropped afterwards."""
    gc.collect()
    before = _rss_mb()
    started = time.perf_counter()
    listing = _build(form, count)
    built = time.perf_counter() - started
    gc.collect()
    held = _rss_mb() - before
    copied = _worker_copy_mb(listing)
    del listing
    return {"form": form, "build_s": built, "rss_mb": held, "worker_copies_mb": copied}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3_750_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    control = _worker_copy_mb(ImageItems.build([], [], []))
    rows = []
    for form in ("arrays", "objects"):  # arrays first: their memory goes back at once
        row = measure(form, args.images)
        row["worker_copies_mb"] -= control
        rows.append(row)
        print(
            f"{form:8s} {args.images} images: built in {row['build_s']:.1f} s, "
            f"{row['rss_mb']:.0f} MB held, each worker copies {row['worker_copies_mb']:.0f} MB"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"images": args.images, "control_child_mb": control, "peak_mb": peak, "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
