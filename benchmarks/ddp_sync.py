"""Time per iteration and gradient-sync time of the DDP designs for GANs, 2 processes on this machine.

    python benchmarks/ddp_sync.py --interleaved --recipe configs/pix2pix/demo.yaml --iters 40
    python benchmarks/ddp_sync.py --recipe configs/cyclegan/demo.yaml --strategy ddp_find_unused_parameters_true
    python benchmarks/ddp_sync.py --devices 1 --strategy gan_ddp      # the single-process reference

Designs: ``gan_ddp`` (lit_translate.run.strategies: one flattened all-reduce per optimizer step),
``ddp_find_unused_parameters_true`` (Lightning: one DDP around the LightningModule), ``bench_no_sync`` (the same
two processes without any synchronisation: the baseline that sync costs are measured against) and
``bench_ddp_per_net`` (a prototype of "one DDP per network kept out of the module tree": each top-level child
with trainable parameters gets its own ``DistributedDataParallel(find_unused_parameters=False,
broadcast_buffers=False)`` whose reducer is armed before each backward for the networks that currently require
grad; buffers as ``gan_ddp``). ``bench_ddp_fup_counted`` counts the bytes Lightning's DDP sends (comm hook).

``--interleaved`` runs the four designs in the same two processes, switching every iteration, so that a varying
load on a shared machine hits all of them alike (the fair comparison); without it, one strategy per run (the
end-to-end figures). Reported on rank 0: wall time per iteration, this process's CPU time per iteration (all
threads, gloo's included; waiting excluded), and the explicit sync time ``gan_ddp`` spends in its collectives;
per strategy also the wall time inside ``manual_backward`` (DDP's all-reduce finishes inside the backward).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from lightning.pytorch import Callback
from lightning.pytorch.overrides.distributed import prepare_for_backward
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

from lit_translate.cli import TranslateCLI
from lit_translate.run.strategies import GANDDPStrategy, SyncStats

ROOT = Path(__file__).resolve().parents[1]


class PerNetworkDDP(GANDDPStrategy):
    """Benchmark prototype of design (b): one DDP reducer per network, outside the module tree."""

    def configure_ddp(self) -> None:
        super().configure_ddp()
        children = [m for m in self.model.children() if any(p.requires_grad for p in m.parameters())]
        # Plain list on the strategy: never a submodule, so state_dict keys do not change.
        self.wrappers = [DistributedDataParallel(m, broadcast_buffers=False) for m in children]

    def pre_backward(self, closure_loss: torch.Tensor) -> None:
        start = time.perf_counter()
        for ddp in self.wrappers:
            if all(p.requires_grad for p in ddp.module.parameters()):  # the networks this backward trains
                prepare_for_backward(ddp, closure_loss)
        self.stats.grad_seconds += time.perf_counter() - start

    def optimizer_step(self, optimizer, closure, model=None, **kwargs):  # gradients were reduced in backward
        return super(GANDDPStrategy, self).optimizer_step(optimizer, closure, model, **kwargs)


class NoSync(GANDDPStrategy):
    """Baseline: the same two processes with no gradient or buffer synchronisation (ranks drift apart)."""

    def optimizer_step(self, optimizer, closure, model=None, **kwargs):
        return super(GANDDPStrategy, self).optimizer_step(optimizer, closure, model, **kwargs)

    def post_training_step(self) -> None:
        return None


class CountedDDP(DDPStrategy):
    """Lightning's one-DDP strategy with an all-reduce hook that counts the bytes DDP sends (not for timing)."""

    def configure_ddp(self) -> None:
        super().configure_ddp()
        self.stats = SyncStats()

        def counting_allreduce(stats, bucket):
            stats.grad_collectives += 1
            stats.grad_bytes += bucket.buffer().nbytes
            return default_hooks.allreduce_hook(None, bucket)

        self.model.register_comm_hook(self.stats, counting_allreduce)


DESIGNS = ("no_sync", "ddp_find_unused", "gan_ddp", "ddp_per_net")


class Interleaved(PerNetworkDDP):
    """All designs in the same two processes, switched every iteration (``design`` is set by ``DesignTimer``).

    ``ddp_find_unused``: one ``DistributedDataParallel(find_unused_parameters=True)`` around the LightningModule,
    armed before every backward as Lightning's ``ddp`` strategy does (its per-forward buffer broadcast is left
    out: 15 KB for the pix2pix demo). The wrappers are kept on the strategy, outside the module tree, and only the
    armed reducer acts on a backward. Ranks drift apart in the ``no_sync`` iterations: timing only.
    """

    design = "no_sync"

    def configure_ddp(self) -> None:
        super().configure_ddp()
        self.whole = DistributedDataParallel(self.model, find_unused_parameters=True)

    def pre_backward(self, closure_loss: torch.Tensor) -> None:
        if self.design == "ddp_find_unused":
            prepare_for_backward(self.whole, closure_loss)
        elif self.design == "ddp_per_net":
            super().pre_backward(closure_loss)

    def optimizer_step(self, optimizer, closure, model=None, **kwargs):
        if self.design == "gan_ddp":
            return GANDDPStrategy.optimizer_step(self, optimizer, closure, model, **kwargs)
        return DDPStrategy.optimizer_step(self, optimizer, closure, model, **kwargs)

    def post_training_step(self) -> None:
        if self.design in ("gan_ddp", "ddp_per_net"):
            super().post_training_step()


class DesignTimer(Callback):
    """Rotate ``Interleaved.design`` every iteration; wall and CPU time per design after ``warmup`` rounds."""

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.walls = {d: [] for d in DESIGNS}
        self.cpus = {d: [] for d in DESIGNS}
        self.sync = {d: 0.0 for d in DESIGNS}
        self.t = self.c = self.s = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        trainer.strategy.design = DESIGNS[batch_idx % len(DESIGNS)]
        stats = trainer.strategy.stats
        self.t, self.c, self.s = time.perf_counter(), time.process_time(), stats.grad_seconds + stats.buffer_seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx // len(DESIGNS) >= self.warmup:
            design, stats = trainer.strategy.design, trainer.strategy.stats
            self.walls[design].append(time.perf_counter() - self.t)
            self.cpus[design].append(time.process_time() - self.c)
            self.sync[design] += stats.grad_seconds + stats.buffer_seconds - self.s

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for d in DESIGNS:
            n = len(self.walls[d])
            out[d] = {
                "iters": n,
                "wall_ms_median": 1000 * statistics.median(self.walls[d]),
                "wall_ms_mean": 1000 * sum(self.walls[d]) / n,
                "cpu_ms_mean": 1000 * sum(self.cpus[d]) / n,
                "explicit_sync_ms_mean": 1000 * self.sync[d] / n,
            }
        return out


StrategyRegistry.register("bench_interleaved", Interleaved, description="benchmark: all designs", override=True)
StrategyRegistry.register("bench_ddp_fup_counted", CountedDDP, find_unused_parameters=True, override=True)
StrategyRegistry.register("bench_ddp_per_net", PerNetworkDDP, description="benchmark prototype", override=True)
StrategyRegistry.register("bench_no_sync", NoSync, description="benchmark baseline", override=True)


class SyncTimer(Callback):
    """Wall and CPU time (this process, all threads) per iteration and per backward, after ``warmup`` iterations.

    The CPU time is the robust figure on a shared machine: it does not count waiting for other processes.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup, self.walls, self.cpus, self.backward_s = warmup, [], [], 0.0
        self.t_iter = self.c_iter = self.t_back = 0.0
        self.stats0 = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            stats = getattr(trainer.strategy, "stats", None)
            self.stats0 = dict(vars(stats)) if stats is not None else None
        self.t_iter, self.c_iter = time.perf_counter(), time.process_time()

    def on_before_backward(self, trainer, pl_module, loss):
        self.t_back = time.perf_counter()

    def on_after_backward(self, trainer, pl_module):
        if trainer.fit_loop.batch_idx >= self.warmup:
            self.backward_s += time.perf_counter() - self.t_back

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if batch_idx >= self.warmup:
            self.walls.append(time.perf_counter() - self.t_iter)
            self.cpus.append(time.process_time() - self.c_iter)

    def summary(self, strategy) -> dict[str, float]:
        n = len(self.walls)
        out = {
            "iters": n,
            "wall_ms_median": 1000 * statistics.median(self.walls),
            "wall_ms_min": 1000 * min(self.walls),
            "cpu_ms_mean": 1000 * sum(self.cpus) / n,
            "backward_wall_ms_mean": 1000 * self.backward_s / n,
        }
        stats = getattr(strategy, "stats", None)
        if stats is not None and self.stats0 is not None:
            now = vars(stats)
            for key in ("grad_seconds", "buffer_seconds"):
                out[key.replace("seconds", "sync_wall_ms_mean")] = (now[key] - self.stats0[key]) * 1000 / n
            for key in ("grad_bytes", "buffer_bytes", "grad_collectives", "buffer_collectives"):
                out[key + "_per_iter"] = (now[key] - self.stats0[key]) / n
        return out


def cli_args(args: argparse.Namespace, rounds: int) -> list[str]:
    """The training command line of one benchmark run: the recipe on CPU, no validation, no outputs."""
    return [
        "-c",
        str(ROOT / "configs/trainer/ddp.yaml"),
        "-c",
        args.recipe,
        "--trainer.strategy",
        args.strategy,
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        str(args.devices),
        "--data.synthetic_size",
        str(args.devices * 4 * rounds * (args.iters + args.warmup)),
        "--data.num_workers",
        "0",
        "--trainer.max_epochs",
        "1",
        "--trainer.limit_val_batches",
        "0",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.logger",
        "false",
        "--trainer.enable_checkpointing",
        "false",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.default_root_dir",
        str(ROOT / "runs" / "benchmark_ddp"),
        *args.extra,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="configs/pix2pix/demo.yaml")
    parser.add_argument("--strategy", default="gan_ddp")
    parser.add_argument("--devices", type=int, default=2, help="processes (1: the single-process reference)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--out", default=None, help="JSON file for the rank-0 summary")
    parser.add_argument("extra", nargs="*", help="more CLI overrides (after --)")
    parser.add_argument(
        "--interleaved",
        action="store_true",
        help="all designs in one run, one per iteration in turn (fair under a varying load)",
    )
    args = parser.parse_args()
    if args.interleaved:
        args.strategy, rounds = "bench_interleaved", len(DESIGNS)
        timer = DesignTimer(args.warmup)
        args.extra = [*args.extra, "--rank_sync.enabled", "false"]
    else:
        rounds, timer = 1, SyncTimer(args.warmup)
    cli = TranslateCLI(args=cli_args(args, rounds), run=False)
    cli.trainer.callbacks.append(timer)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    if cli.trainer.global_rank == 0:
        summary = timer.summary() if args.interleaved else timer.summary(cli.trainer.strategy)
        summary = {"recipe": args.recipe, "strategy": args.strategy, "devices": args.devices, **summary}
        print(json.dumps(summary))
        if args.out:
            Path(args.out).write_text(json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
