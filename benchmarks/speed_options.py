"""Whole training iterations of the paper recipes on real images, with and without each speed option, interleaved.

    python benchmarks/speed_options.py --method pix2pix --rounds 3            # facades recipe, 256 px, batch 1
    python benchmarks/speed_options.py --method cyclegan --rounds 2 --iters 3 --warmup 2
    python benchmarks/speed_options.py --decode                               # PIL vs torchvision.io decoding
    python benchmarks/speed_options.py --worker_start                         # what persistent workers save

Each variant is one fresh ``benchmarks/throughput.py --no_write`` process (the recipe's networks, losses and
DataModule unchanged; timed from the first batch after ``--warmup`` to the last, so DataLoader waits count: a
whole iteration with data loading, as the reference's figure in ``shared/docs/reference.md`` (f) was measured).
Variants run in turn, ``--rounds`` times, so a varying load on a shared machine hits all of them alike; the table
gives the median over rounds and the ratio to the reference implementation's median on this CPU (pix2pix 0.98
it/s, CycleGAN 0.070 it/s).

Data (real images, never committed): pix2pix trains on an aligned edges|photo set made from
``shared/data/sr/Sun_Hays80`` (each photo centre-cropped, resized to 256 px, next to its PIL ``FIND_EDGES`` map,
saved as 512x256 JPEG like CMP Facades; 72 train, 8 val), in ``--workdir``; CycleGAN on
``shared/data/photo2anime`` (256 px JPEG). The bare-loop variant (``throughput.py --plain_loop``) runs the same
nets, losses, Adam and loader with no Trainer: what the framework costs.
The DDP variants run 2 processes (gloo) with ``OMP_NUM_THREADS=1`` each, so the pair uses the same 2 cores as
one process with 2 threads; their it/s is per process (each process trains batch 1, so the pair does 2 images
per iteration).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
REFERENCE = {"pix2pix": 0.98, "cyclegan": 0.070}  # shared/docs/reference.md (f), medians of runs
RECIPES = {"pix2pix": "configs/pix2pix/facades.yaml", "cyclegan": "configs/cyclegan/horse2zebra.yaml"}


# torch.optim.Adam's CPU default and the reference implementations' optimizer (the recipes ship ``fused: true``)
FOR_LOOP = [
    arg for name in ("optimizer_g", "optimizer_d") for arg in (f"--model.init_args.{name}.init_args.fused", "false")
]
Variant = tuple[str, list[str], dict[str, str]]  # name, CLI overrides, environment ({"OMP": threads})
SHIPPED: list[Variant] = [
    ("recipe as shipped (4 workers, eager, NCHW, fused Adam)", [], {}),
    ("for-loop Adam (the reference's)", FOR_LOOP, {}),
]
LAYOUT: list[Variant] = [
    ("+ channels_last", ["--speed.channels_last", "true"], {}),
    ("for-loop Adam + channels_last", [*FOR_LOOP, "--speed.channels_last", "true"], {}),
]
WORKERS: list[Variant] = [
    ("2 workers", ["--data.num_workers", "2"], {}),
    ("0 workers (decode in the training process)", ["--data.num_workers", "0"], {}),
]
DDP_AND_COMPILE: list[Variant] = [  # compile between the two DDP runs, so that they are not back to back
    ("2 processes, `gan_ddp`", ["--trainer.devices", "2", "--trainer.strategy", "gan_ddp"], {"OMP": "1"}),
    ("+ compile (inductor; compiled during the warm-up)", ["--speed.compile", "true"], {}),
    (
        "2 processes, `ddp_find_unused_parameters_true`",
        ["--trainer.devices", "2", "--trainer.strategy", "ddp_find_unused_parameters_true"],
        {"OMP": "1"},
    ),
]
VARIANTS: dict[str, list[Variant]] = {
    "pix2pix": [
        *SHIPPED,
        ("bare PyTorch loop: the same nets, losses, Adam and loader, no Trainer", ["--plain_loop"], {}),
        ("bare PyTorch loop, for-loop Adam", ["--plain_loop", *FOR_LOOP], {}),
        *LAYOUT,
        *WORKERS,
        ("prefetch_factor 4 (default 2)", ["--data.prefetch_factor", "4"], {}),
        *DDP_AND_COMPILE,
    ],
    "cyclegan": [*SHIPPED, *LAYOUT, *WORKERS, *DDP_AND_COMPILE],
}


def aligned_edges_set(workdir: Path) -> Path:
    """Build (once) the aligned edges|photo set from Sun_Hays80 under ``workdir`` (72 train, 8 val); return it."""
    root = workdir / "edges2photo"
    photos = sorted((SHARED / "sr" / "Sun_Hays80").glob("*"))
    if not photos:
        raise FileNotFoundError(f"no images in {SHARED / 'sr' / 'Sun_Hays80'}; pass --shared DIR")
    splits = {"train": photos[:-8], "val": photos[-8:]}  # the DataModule checks for a validation split
    if all(len(list((root / name).glob("*.jpg"))) == len(files) for name, files in splits.items()):
        return root
    for name, files in splits.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for path in files:
            photo = Image.open(path).convert("RGB")
            side = min(photo.size)
            left, top = (photo.width - side) // 2, (photo.height - side) // 2
            photo = photo.crop((left, top, left + side, top + side)).resize((256, 256), Image.BICUBIC)
            edges = photo.convert("L").filter(ImageFilter.FIND_EDGES).convert("RGB")
            pair = Image.new("RGB", (512, 256))
            pair.paste(photo, (0, 0))  # A = photo, B = edges; the recipe's BtoA trains edges -> photo
            pair.paste(edges, (256, 0))
            pair.save(root / name / f"{path.stem}.jpg", quality=95)
    return root


def run_variant(method: str, root: Path, args: list[str], env: dict[str, str], iters: int, warmup: int) -> float:
    """Run one variant in a fresh process; return its iterations/s (rank 0's figure under DDP)."""
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "throughput.py"),
        "--no_write",
        "--recipe",
        RECIPES[method],
        "--iters",
        str(iters),
        "--warmup",
        str(warmup),
        "--data.root",
        str(root),
        "--data.num_workers",
        "4",
        "--trainer.limit_train_batches",
        str(iters + warmup),
        "--trainer.accelerator",
        "cpu",
        *args,
    ]
    environ = dict(os.environ)
    if env.get("OMP"):
        environ["OMP_NUM_THREADS"] = env["OMP"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=environ, timeout=3600)
    match = re.search(r"\| ([0-9.]+) it/s \|", out.stdout)
    if out.returncode or not match:  # reported, not fatal: the other variants' figures still count
        print(f"variant failed ({out.returncode}): {' '.join(args)}\n{out.stderr[-3000:]}", flush=True)
        return float("nan")
    return float(match.group(1))


def decode_table(rounds: int) -> None:
    """Time decoding the real JPEGs with PIL (what the DataModules use) and with torchvision.io."""
    import torch
    from torchvision.io import ImageReadMode, decode_image, read_file

    torch.set_num_threads(1)  # as in a DataLoader worker
    sets = {
        "Sun_Hays80 (80 JPEG, ~1024x683)": sorted((SHARED / "sr" / "Sun_Hays80").glob("*")),
        "photo2anime trainA (300 JPEG, 256x256)": sorted((SHARED / "photo2anime" / "trainA").glob("*")),
    }
    print("| images | PIL `Image.open().convert('RGB')` + `np.asarray` | `torchvision.io.decode_image` (RGB) |")
    print("|---|---:|---:|")
    for name, files in sets.items():
        for path in files:  # warm the page cache, so that both readers time decoding only
            path.read_bytes()
        pil, tv = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            for path in files:
                with Image.open(path) as image:
                    np.asarray(image.convert("RGB"))
            pil.append((time.perf_counter() - start) / len(files))
            start = time.perf_counter()
            for path in files:
                decode_image(read_file(str(path)), mode=ImageReadMode.RGB)
            tv.append((time.perf_counter() - start) / len(files))
        print(f"| {name} | {statistics.median(pil) * 1e3:.2f} ms/image | {statistics.median(tv) * 1e3:.2f} ms/image |")


def worker_start_table(root: Path, rounds: int) -> None:
    """Time the first batch of a fresh epoch of the Pix2Pix recipe's loader: what non-persistent workers would
    pay at every epoch start (the DataModules keep theirs alive), against a batch from warm workers."""
    sys.argv = sys.argv[:1]  # the CLI below reads only its own args
    from lit_translate.cli import TranslateCLI

    cli = TranslateCLI(
        args=["-c", RECIPES["pix2pix"], "--data.root", str(root), "--trainer.logger", "false"], run=False
    )
    cli.datamodule.setup("fit")
    print("| loader workers | first batch of a new epoch (fresh workers) | next batch (warm workers) |")
    print("|---:|---:|---:|")
    for workers in (4, 2):
        cli.datamodule.num_workers = workers
        first, warm = [], []
        for _ in range(rounds):
            loader = cli.datamodule.train_dataloader()  # a new loader starts its workers on iter()
            start = time.perf_counter()
            batches = iter(loader)
            next(batches)
            first.append(time.perf_counter() - start)
            for _ in range(8):  # let the prefetch queue fill, then time one batch
                next(batches)
            time.sleep(1.0)
            start = time.perf_counter()
            next(batches)
            warm.append(time.perf_counter() - start)
            del batches, loader
        print(f"| {workers} | {statistics.median(first) * 1e3:.0f} ms | {statistics.median(warm) * 1e3:.1f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=tuple(RECIPES), default="pix2pix")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/lit_translate_bench"))
    parser.add_argument("--only", type=int, nargs="*", help="indices of the variants to run (default: all)")
    parser.add_argument("--decode", action="store_true", help="only the decoding table")
    parser.add_argument("--worker_start", action="store_true", help="only the loader workers' start-up table")
    args = parser.parse_args()
    if args.decode:
        decode_table(args.rounds)
        return
    if args.worker_start:
        worker_start_table(aligned_edges_set(args.workdir), args.rounds)
        return
    root = aligned_edges_set(args.workdir) if args.method == "pix2pix" else SHARED / "photo2anime"
    variants = [v for i, v in enumerate(VARIANTS[args.method]) if args.only is None or i in args.only]
    results: dict[str, list[float]] = {name: [] for name, _, _ in variants}
    for round_ in range(args.rounds):
        for name, overrides, env in variants:
            its = run_variant(args.method, root, overrides, env, args.iters, args.warmup)
            results[name].append(its)
            print(f"round {round_ + 1}: {name}: {its:.3f} it/s", flush=True)
    base = statistics.median(results[variants[0][0]])
    print(f"\n{args.method}: `{RECIPES[args.method]}` on {root}, 256 px, batch 1, fp32, {args.rounds} rounds")
    print("| variant | it/s per process, median (all rounds) | vs the recipe as shipped | vs the reference |")
    print("|---|---:|---:|---:|")
    for name, values in results.items():
        values = [v for v in values if v == v] or [float("nan")]  # failed runs (NaN) left out
        median = statistics.median(values)
        runs = ", ".join(f"{v:.3f}" for v in values)
        ratio = median / REFERENCE[args.method]
        print(f"| {name} | {median:.3f} ({runs}) | {median / base:.2f}x | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
