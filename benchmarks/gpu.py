"""GPU benchmark of every method: iterations/s, peak memory and model FLOP utilisation, fp32 / bf16 / bf16 + speed.

    bash benchmarks/gpu.sh              # one H100/H200, at most ~8 minutes; appends rows to docs/benchmarks.md
    bash benchmarks/gpu.sh --dry-run    # the same code on CPU in about a minute (demo recipes, 2 iterations)

For each method (a folder of ``configs/``) its paper recipe (:data:`PAPER`; the first non-demo recipe of a new
method) runs at the recipe's batch size and at batch 16, in three modes: ``fp32`` (``32-true``; TF32 on, the
``--speed.tf32`` default), ``bf16`` (``bf16-mixed``) and ``bf16+cl+compile`` (``bf16-mixed`` with
``--speed.channels_last`` and ``--speed.compile``). The networks and losses are the recipe's; the data is the
built-in synthetic set (no dataset needed), read by the recipe's DataModule. One iteration is one
``training_step`` (one batch; for StarGAN one D step). Iterations/s is timed after ``--warmup`` iterations,
with CUDA synchronised at both ends; peak memory is ``torch.cuda.max_memory_allocated`` over the timed
iterations. FLOPs per iteration are counted once per recipe and batch by ``torch.utils.flop_counter`` over one
eager fp32 iteration (forward and backward of every network; the same arithmetic in every mode), and the model
FLOP utilisation is FLOPs/iteration x iterations/s over the device's dense peak (bf16 tensor cores for the bf16
modes, TF32 for fp32). Rows are run in order of importance (every recipe's fp32 and bf16 at its batch size
first) and skipped, with a row saying so, once ``--budget_s`` is spent.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from lightning.pytorch import Callback
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from throughput import IterationTimer, commit, device_name  # noqa: E402

from lit_translate.cli import TranslateCLI  # noqa: E402

CONFIGS = ROOT / "configs"
PAPER = {
    "pix2pix": "facades",
    "cyclegan": "horse2zebra",
    "style_transfer": "coco",
    "perceptual_sr": "x4",
    "srresnet": "div2k_x4",
    "srgan": "div2k_x4",
    "stargan": "celeba",
    "bicyclegan": "edges2shoes",
    "spade": "cityscapes",
    "pix2pixhd": "cityscapes_512",
}
"""Each method's paper recipe (``configs/<method>/<name>.yaml``)."""
MODES = {
    "fp32": ("32-true", ()),
    "bf16": ("bf16-mixed", ()),
    "bf16+cl+compile": ("bf16-mixed", ("--speed.channels_last", "true", "--speed.compile", "true")),
}
PEAK_FLOPS = {"H100": {"bf16": 989.4e12, "tf32": 494.7e12}, "H200": {"bf16": 989.4e12, "tf32": 494.7e12}}
"""Dense peak FLOP/s (NVIDIA datasheets, SXM); the H200 has the H100's compute and more memory."""
SECTION = "GPU benchmarks (benchmarks/gpu.sh)"
HEADER = (
    "| date | method | recipe | setting | mode | throughput | peak memory | GFLOP/iter | MFU | device | commit |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|"
)


@dataclass
class Run:
    """One row: a recipe at a batch size in a mode."""

    recipe: Path
    batch_size: int
    mode: str


class _FlopCount(TorchDispatchMode):
    """Add up the FLOPs of every aten op that ``torch.utils.flop_counter`` has a formula for.

    ``FlopCounterMode`` also tracks modules with backward hooks, which ``torch.autograd.grad`` on a leaf input
    (WGAN-GP's gradient penalty) rejects; this mode counts the same formulas at the dispatcher only.
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += int(formula(*args, **kwargs, out_val=out))
        return out


class CountFlops(Callback):
    """Count the FLOPs of the first training iteration (forward and backward of every network)."""

    def __init__(self) -> None:
        self.mode: _FlopCount | None = None
        self.flops = 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.mode = _FlopCount()
            self.mode.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.flops, self.mode = self.mode.flops, None


def paper_recipes(dry_run: bool) -> list[Path]:
    """Every method's paper recipe (``demo.yaml`` in a dry run), one per ``configs/<method>/`` folder."""
    recipes = []
    for folder in sorted(p for p in CONFIGS.iterdir() if p.is_dir() and p.name != "trainer"):
        if dry_run:
            recipes += [folder / "demo.yaml"] if (folder / "demo.yaml").is_file() else []
            continue
        named = folder / f"{PAPER.get(folder.name, '')}.yaml"
        others = sorted(p for p in folder.glob("*.yaml") if p.stem != "demo" and not p.stem.endswith("_cpu"))
        recipes += [named] if named.is_file() else others[:1]
    return recipes


def plan(recipes: list[Path], batch_sizes: list[int | None]) -> list[Run]:
    """The rows in order of importance: fp32 and bf16 at the recipe's batch, then compile, then batch 16."""
    runs = [Run(r, b or 0, m) for b in batch_sizes for m in MODES for r in recipes]
    return sorted(runs, key=lambda run: (run.batch_size != 0, run.mode == "bf16+cl+compile"))


def cli_for(run: Run, args: argparse.Namespace, callbacks: list[Callback]) -> TranslateCLI:
    precision, speed = MODES[run.mode]
    steps = args.warmup + args.iters
    batch = [] if run.batch_size == 0 else ["--data.batch_size", str(run.batch_size)]
    device = ["--trainer.accelerator", "cpu", "--speed.compile_backend", "eager"] if args.dry_run else []
    argv = ["-c", str(run.recipe), "--data.root", "null", *batch, "--data.synthetic_size", str(steps * 64)]
    argv += ["--data.num_workers", str(args.num_workers)]
    argv += ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", str(steps)]
    argv += ["--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0", "--trainer.logger", "false"]
    argv += ["--trainer.enable_checkpointing", "false", "--trainer.enable_progress_bar", "false"]
    argv += ["--trainer.enable_model_summary", "false", "--environment.expect_gpu", "false"]
    argv += ["--trainer.precision", precision, *speed, *device, "--trainer.devices", "1"]
    argv += ["--trainer.default_root_dir", str(ROOT / "runs" / "gpu_benchmark"), "--overwrite", "true"]
    cli = TranslateCLI(args=argv, run=False)
    cli.trainer.callbacks.extend(callbacks)
    return cli


def measure(run: Run, args: argparse.Namespace, flops: dict[tuple[Path, int], int]) -> str:
    """Train ``warmup + iters`` iterations and return the table row."""
    timer, counter = IterationTimer(args.warmup), CountFlops()
    key = (run.recipe, run.batch_size)
    count = key not in flops and run.mode != "bf16+cl+compile"
    cli = cli_for(run, args, [timer] + ([counter] if count else []))
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    if count:
        flops[key] = counter.flops
    its = timer.timed / timer.elapsed
    cuda = torch.cuda.is_available() and not args.dry_run
    peak = f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if cuda else "n/a (CPU)"
    per_iter = flops.get(key, 0)
    device = device_name() if cuda else "CPU (dry run)"
    peaks = next((v for k, v in PEAK_FLOPS.items() if k in device), None)
    mfu = f"{100 * per_iter * its / peaks['tf32' if run.mode == 'fp32' else 'bf16']:.1f}%" if peaks else "n/a"
    batch = cli.datamodule.hparams.batch_size
    sizes = [cli.datamodule.hparams.get(k) for k in ("crop_size", "gt_size", "image_size")]
    sizes = [size for size in sizes if size is not None]
    size = sizes[0] if sizes else "?"
    del cli
    return (
        f"| {datetime.date.today()} | {run.recipe.parent.name} | `{run.recipe.relative_to(ROOT)}` | {size} px, batch "
        f"{batch} | {run.mode} | {its:.2f} it/s | {peak} | {per_iter / 1e9:.1f} | {mfu} | {device} | `{commit()}` |"
    )


def reset() -> None:
    """Free the previous run's memory and compiled graphs."""
    gc.collect()
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def write(rows: list[str], path: Path) -> None:
    """Append ``rows`` to the table under ``## SECTION`` of ``path`` (created with its header if missing)."""
    text = path.read_text() if path.is_file() else ""
    if f"## {SECTION}" not in text:
        text = (
            text.rstrip()
            + f"\n\n## {SECTION}\n\nRows written by `bash benchmarks/gpu.sh` (its docstring).\n\n{HEADER}\n"
        )
        path.write_text(text.lstrip())
    lines = path.read_text().splitlines()
    at = lines.index(f"## {SECTION}")
    at = next(i for i in range(at, len(lines)) if lines[i].startswith("|"))
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
    path.write_text("\n".join(lines[:at] + rows + lines[at:]) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", dest="dry_run", action="store_true", help="CPU, demo recipes, 2 iterations")
    parser.add_argument("--iters", type=int, default=None, help="timed iterations (default 20; dry run 1)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed iterations (default 5; dry run 1)")
    parser.add_argument("--budget_s", type=float, default=450.0, help="skip the remaining rows after this")
    parser.add_argument("--num_workers", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="append the rows here (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # LightningCLI gets its arguments explicitly
    args.iters = args.iters or (1 if args.dry_run else 20)
    args.warmup = args.warmup or (1 if args.dry_run else 5)
    args.num_workers = 0 if args.dry_run else args.num_workers
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.sh: no CUDA device is visible (use --dry-run to check the script on CPU)")
    runs = plan(paper_recipes(args.dry_run), [None] if args.dry_run else [None, 16])
    start, rows, flops = time.monotonic(), [], {}
    for run in runs:
        if time.monotonic() - start > args.budget_s:
            rows.append(
                f"| {datetime.date.today()} | {run.recipe.parent.name} | `{run.recipe.relative_to(ROOT)}` "
                f"| batch {run.batch_size or 'recipe'} | {run.mode} | skipped (time budget) |||||"
            )
            continue
        reset()
        rows.append(measure(run, args, flops))
        print(rows[-1], flush=True)
    out = args.out or (None if args.dry_run else ROOT / "docs" / "benchmarks.md")
    if out is not None:
        write(rows, out)
        print(f"{len(rows)} rows appended to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
