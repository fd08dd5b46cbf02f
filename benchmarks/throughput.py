"""Training throughput and peak memory of a recipe's method at a given size, on the current device.

    python benchmarks/throughput.py                          # pix2pix facades setting: 256 px, batch 1
    python benchmarks/throughput.py --recipe configs/pix2pix/facades.yaml --precision bf16-mixed --iters 50
    python benchmarks/throughput.py --recipe configs/style_transfer/coco.yaml --batch_size 4 \
        --model.init_args.style_image synthetic --model.init_args.vgg_weights random

Arguments the script does not know are passed on to the CLI (after the recipe), e.g. a recipe's file paths
replaced by built-in stand-ins: the style image and the VGG weights (whose cost equals the real file's).

The recipe's nets and losses are used unchanged; the data is the built-in synthetic set at the recipe's
image size (``load_size``/``crop_size``, ``image_size``, ``gt_size``; so no dataset is needed). Iterations (one
update of every network: D + G, or G alone; StarGAN: one D step, G every ``n_critic`` of them, so time a
multiple of 5) per second are timed after ``--warmup`` iterations. Peak memory is
the GPU's ``max_memory_allocated`` on CUDA, and the process's peak resident set size on CPU. The figure is
appended to ``docs/benchmarks.md`` with device, commit and command.

``--plain_loop`` (Pix2Pix recipes) measures what the framework costs: the recipe's own nets, loss terms
(``discriminator_losses``/``generator_losses``), optimizers and DataLoader driven by a bare PyTorch loop in the
reference implementation's order (G forward, D step, G step), with no Trainer, callbacks, logging or
non-finite guard. The figure is printed only.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback

from lit_translate.cli import TranslateCLI

ROOT = Path(__file__).resolve().parents[1]


class IterationTimer(Callback):
    """Time training iterations after a warm-up."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.start = 0.0
        self.timed = 0

    def _sync(self, pl_module):
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self._sync(pl_module)
            self.start = time.perf_counter()
            if pl_module.device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self._sync(pl_module)
            self.timed += 1
            self.elapsed = time.perf_counter() - self.start


def plain_loop(model, datamodule, iters: int, warmup: int) -> float:
    """Train a Pix2Pix ``model`` with a bare loop over ``datamodule``'s training batches; return iterations/s."""
    if not hasattr(model, "discriminator_losses"):
        raise SystemExit(f"--plain_loop drives Pix2Pix recipes only, not {type(model).__name__}")
    generator, discriminator = model.generator, model.discriminator
    opt_g = model.build_optimizer(model.optimizer_g, generator.parameters())
    opt_d = model.build_optimizer(model.optimizer_d, discriminator.parameters())
    datamodule.setup("fit")
    model.train()
    start, done = 0.0, 0
    for index, batch in enumerate(datamodule.train_dataloader()):
        if index == warmup:
            start = time.perf_counter()
        real_a, real_b = batch["A"], batch["B"]
        fake_b = generator(real_a)
        discriminator.requires_grad_(True)
        opt_d.zero_grad(set_to_none=True)
        sum(model.discriminator_losses(real_a, real_b, fake_b.detach()).values()).backward()
        opt_d.step()
        discriminator.requires_grad_(False)
        opt_g.zero_grad(set_to_none=True)
        sum(model.generator_losses(real_a, real_b, fake_b).values()).backward()
        opt_g.step()
        done += index >= warmup
        if done == iters:
            break
    if not done:
        raise SystemExit(f"--plain_loop: the loader gave no batch after the {warmup} warm-up ones; lower --warmup")
    return done / (time.perf_counter() - start)


def device_name() -> str:
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "lit_translate"], capture_output=True, text=True, cwd=ROOT)
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "") if out.returncode == 0 else "unknown"


def append_row(section: str, row: str) -> None:
    """Add ``row`` at the end of the table under the ``## {section}`` heading of ``docs/benchmarks.md``."""
    path = ROOT / "docs" / "benchmarks.md"
    lines = path.read_text().splitlines()
    heading = lines.index(f"## {section}")
    at = next(i for i in range(heading + 1, len(lines)) if lines[i].startswith("|"))  # the table's header
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    lines.insert(at, row)
    path.write_text("\n".join(lines) + "\n")


def record(section: str, line: str, write: bool) -> None:
    """Print a table row and the command that made it; with ``write``, add both to ``section``'s table."""
    command = "python " + " ".join(sys.argv)
    print(line)
    print(f"command: {command}")
    if write:
        append_row(section, line + f" `{command}` |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="configs/pix2pix/facades.yaml")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--precision", default="32-true")
    parser.add_argument("--no_write", action="store_true", help="print only; do not append to docs/benchmarks.md")
    parser.add_argument("--plain_loop", action="store_true", help="Pix2Pix: a bare PyTorch loop, no Trainer")
    args, overrides = parser.parse_known_args()

    timer = IterationTimer(args.warmup)
    cli = TranslateCLI(
        args=[
            "-c",
            args.recipe,
            "--data.root",
            "null",
            "--data.batch_size",
            str(args.batch_size),
            "--data.synthetic_size",
            str((args.iters + args.warmup) * args.batch_size),
            "--data.num_workers",
            "2",
            "--trainer.max_epochs",
            "1",
            "--trainer.limit_val_batches",
            "0",
            "--trainer.logger",
            "false",
            "--trainer.enable_checkpointing",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            "--trainer.precision",
            args.precision,
            "--trainer.default_root_dir",
            str(ROOT / "runs" / "benchmark"),
            *overrides,
        ],
        run=False,
    )
    if args.plain_loop:
        its = plain_loop(cli.model, cli.datamodule, args.iters, args.warmup)
        print(f"plain loop: {type(cli.model).__name__} `{args.recipe}` | {its:.3g} it/s |")
        return
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    its = timer.timed / timer.elapsed
    if torch.cuda.is_available():
        peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB GPU (max_memory_allocated)"
    else:
        peak = f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB CPU (peak RSS of the process)"
    hparams = getattr(cli.datamodule, "hparams", {})
    size = next((hparams[key] for key in ("crop_size", "image_size", "gt_size") if key in hparams), "?")
    method = type(cli.model).__name__
    line = (
        f"| {datetime.date.today()} | {method} | `{args.recipe}` | {size} px, batch {args.batch_size}, "
        f"{args.precision} | {its:.3g} it/s | {peak} | {device_name()} | `{commit()}` |"
    )
    record("Training throughput", line, write=not args.no_write)


if __name__ == "__main__":
    main()
