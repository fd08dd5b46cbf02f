"""One ``Adam.step()`` of every paper recipe's optimizers: for-loop vs foreach vs fused, interleaved.

    python benchmarks/adam_step.py --rounds 5

Each recipe's model is built by the CLI (its nets unchanged; file paths replaced by the built-in stand-ins, which
have the real files' shapes), ``configure_optimizers`` gives its optimizers, and for each one the same
parameters, with random gradients, are stepped by ``torch.optim.Adam`` with ``foreach=False`` (the CPU default
and the reference implementations'), ``foreach=True`` and ``fused=True``, in turn, ``--rounds`` times. The table
gives the median milliseconds per step and the speed-up of fused over for-loop. Only the optimizer step is
timed: what it is worth in a whole iteration is in ``benchmarks/speed_options.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from lit_translate.cli import TranslateCLI

ROOT = Path(__file__).resolve().parents[1]
STAND_INS = {  # recipe -> overrides that replace files this machine lacks by stand-ins of the same cost
    "configs/pix2pix/facades.yaml": [],
    "configs/cyclegan/horse2zebra.yaml": [],
    "configs/style_transfer/coco.yaml": [
        "--model.init_args.style_image",
        "synthetic",
        "--model.init_args.vgg_weights",
        "random",
    ],
    "configs/perceptual_sr/x4.yaml": ["--model.init_args.vgg_weights", "random"],
    "configs/srresnet/div2k_x4.yaml": [],
    "configs/srgan/div2k_x4.yaml": [
        "--model.init_args.pretrained",
        "null",
        "--model.init_args.vgg_weights",
        "random",
    ],
    "configs/stargan/afhq.yaml": [],
}
IMPLEMENTATIONS = {"for-loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def optimizers_of(recipe: str) -> tuple[str, list[list[torch.nn.Parameter]]]:
    """Build ``recipe``'s model; return its class name and each optimizer's trainable parameters."""
    args = ["-c", recipe, "--data.root", "null", "--trainer.logger", "false", *STAND_INS[recipe]]
    cli = TranslateCLI(args=args, run=False)
    configured = cli.model.configure_optimizers()
    if isinstance(configured, tuple):  # ([optimizers], [schedulers])
        configured = configured[0]
    if not isinstance(configured, list | tuple):
        configured = [configured]
    groups = [[p for group in opt.param_groups for p in group["params"]] for opt in configured]
    return type(cli.model).__name__, groups


def step_ms(params: list[torch.nn.Parameter], options: dict[str, bool]) -> float:
    """Time one Adam step (after one untimed step that allocates the state) over ``params``; return ms."""
    optimizer = torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999), **options)
    optimizer.step()
    start = time.perf_counter()
    optimizer.step()
    return (time.perf_counter() - start) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.argv = sys.argv[:1]  # the CLI below reads only its own args
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    print("| recipe | optimizer | parameters (tensors) | for-loop ms | foreach ms | fused ms | fused vs for-loop |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for recipe in STAND_INS:
        name, groups = optimizers_of(recipe)
        for index, params in enumerate(groups):
            for p in params:
                p.grad = torch.randn_like(p)
            times: dict[str, list[float]] = {impl: [] for impl in IMPLEMENTATIONS}
            for _ in range(args.rounds):
                for impl, options in IMPLEMENTATIONS.items():
                    times[impl].append(step_ms(params, options))
            med = {impl: statistics.median(values) for impl, values in times.items()}
            count = sum(p.numel() for p in params)
            print(
                f"| `{recipe}` ({name}) | {index} | {count:,} ({len(params)}) | {med['for-loop']:.1f} | "
                f"{med['foreach']:.1f} | {med['fused']:.1f} | {med['for-loop'] / med['fused']:.1f}x |",
                flush=True,
            )


if __name__ == "__main__":
    main()
