"""How long one evaluation pass takes relative to one training epoch, at a recipe's sizes.

    python benchmarks/eval_time.py --recipe configs/pix2pix/demo.yaml --train_size 400 --val_size 16
    python benchmarks/eval_time.py --recipe configs/pix2pix/facades.yaml --train_size 400 --val_size 100

A temporary aligned dataset of ``--train_size`` training and ``--val_size`` validation pairs at the recipe's
``load_size`` is written from the built-in synthetic task (so no dataset is needed; facades has 400 train and
100 val pairs). Training: seconds per iteration over ``--iters`` iterations after ``--warmup``, times the
iterations of one epoch (``train_size / batch_size``). Evaluation: the wall time of ``validate`` over the whole
validation split with the recipe's inference mode and the metrics callback computing FID, KID, LPIPS, PSNR and
SSIM, and again with PSNR/SSIM only; each is run twice and the second (warm) pass is reported, since the first
also builds the metric networks, which a fit does once. Inception and AlexNet weight files are built locally with
random values: the cost of the networks does not depend on their weights. The row goes into the "Evaluation
time" table of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from lit_translate.cli import TranslateCLI
from lit_translate.data.synthetic import SyntheticPairs
from lit_translate.pretrained.standins import random_alexnet_features_state, random_inception_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import IterationTimer, commit, device_name, record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def write_aligned(root: Path, split: str, count: int, size: int) -> None:
    """Write ``count`` synthetic pairs as ``size x 2size`` aligned PNGs into ``root/split``."""
    folder = root / split
    folder.mkdir(parents=True)
    source = SyntheticPairs(count, split="train" if split == "train" else "val")
    for i in range(count):
        a, b = source[i]
        pair = np.concatenate([a, b], axis=1)
        Image.fromarray(pair).resize((2 * size, size), Image.BICUBIC).save(folder / f"{i:04d}.png")


def random_weight_files(folder: Path) -> tuple[Path, Path]:
    """Random-valued InceptionV3 (torch-fidelity layout) and AlexNet-features files: same cost as the real ones."""
    torch.save(random_inception_state(), folder / "inception_random.pth")
    torch.save(random_alexnet_features_state(), folder / "alexnet_random.pth")
    return folder / "inception_random.pth", folder / "alexnet_random.pth"


def cli_for(recipe: str, data: Path, extra: list[str]) -> TranslateCLI:
    return TranslateCLI(
        args=[
            "-c",
            recipe,
            "--data.root",
            str(data),
            "--data.num_workers",
            "2",
            "--trainer.logger",
            "false",
            "--trainer.enable_checkpointing",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.default_root_dir",
            str(data / "run"),
            "--samples.num_samples",
            "0",
            *extra,
        ],
        run=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="configs/pix2pix/facades.yaml")
    parser.add_argument("--train_size", type=int, default=400)
    parser.add_argument("--val_size", type=int, default=100)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--no_write", action="store_true", help="print only; do not append to docs/benchmarks.md")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*custom .* weights.*")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        probe = cli_for(args.recipe, tmp, ["--data.root", "null"])
        load_size = int(probe.datamodule.hparams["load_size"])
        batch_size = int(probe.datamodule.hparams["batch_size"])
        write_aligned(tmp, "train", (args.iters + args.warmup) * batch_size, load_size)  # the timed iterations
        write_aligned(tmp, "val", args.val_size, load_size)
        inception, alexnet = random_weight_files(tmp)

        timer = IterationTimer(args.warmup)
        train = cli_for(args.recipe, tmp, ["--trainer.max_epochs", "1", "--trainer.limit_val_batches", "0"])
        train.trainer.callbacks.append(timer)
        train.trainer.fit(train.model, datamodule=train.datamodule)
        per_iter = timer.elapsed / timer.timed
        epoch_iters = -(-args.train_size // batch_size)  # iterations of one epoch at the recipe's batch size
        epoch = per_iter * epoch_iters

        timings = {}
        for name, metric_args in {
            "all": [
                "--metrics.fid",
                "true",
                "--metrics.kid",
                "true",
                "--metrics.lpips",
                "true",
                "--metrics.inception_weights",
                str(inception),
                "--metrics.lpips_backbone_weights",
                str(alexnet),
            ],
            "psnr_ssim": ["--metrics.fid", "false", "--metrics.kid", "false", "--metrics.lpips", "false"],
        }.items():
            evaluate = cli_for(args.recipe, tmp, metric_args)
            passes = []
            for _ in range(2):  # the first pass also builds the metric networks (once per run in a fit)
                start = time.perf_counter()
                evaluate.trainer.validate(evaluate.model, datamodule=evaluate.datamodule, verbose=False)
                passes.append(time.perf_counter() - start)
            timings[name] = passes
            results = {k: round(float(v), 4) for k, v in evaluate.trainer.callback_metrics.items()}
            print(f"{name}: first pass {passes[0]:.1f} s, second {passes[1]:.1f} s; {results}")

    method = type(train.model).__name__
    crop = probe.datamodule.hparams["crop_size"]
    (all_first, all_warm), cheap_warm = timings["all"], timings["psnr_ssim"][1]
    line = (
        f"| {datetime.date.today()} | {method} | `{args.recipe}` | {crop} px; {args.train_size} train / "
        f"{args.val_size} val images | {per_iter:.3f} s/it x {epoch_iters} it = {epoch:.0f} s | "
        f"{all_warm:.1f} s = {all_warm / epoch:.2f} epochs (first pass {all_first:.1f} s) | "
        f"{cheap_warm:.1f} s = {cheap_warm / epoch:.2f} epochs | {device_name()} | `{commit()}` |"
    )
    record("Evaluation time", line, write=not args.no_write)


if __name__ == "__main__":
    main()
