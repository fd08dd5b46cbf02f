"""Fault injection for the reliability tests: callbacks passed with ``--trainer.callbacks+=faults.<Name>``.

Subprocess runs find this module through ``PYTHONPATH=tests`` (see ``fault_env``).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from lightning.pytorch import Callback, LightningModule, Trainer

TESTS = Path(__file__).resolve().parent


def fault_env(**extra: str) -> dict[str, str]:
    """Environment for a ``python -m lit_translate`` subprocess that can import this module."""
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", **extra}


class KillAtStep(Callback):
    """SIGKILL this process when batch ``step`` is about to start (right after the checkpoint of step ``step``).

    Args:
        step: the ``global_step`` (iterations done) at which to die.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RaiseAtStep(Callback):
    """Raise ``RuntimeError`` on one rank at ``step``; the other ranks carry on into the next collective.

    Args:
        step: the ``global_step`` at which to raise.
        rank: the global rank that raises.
        stamp: file that receives the wall-clock time of the raise. Default: None.
    """

    def __init__(self, step: int, rank: int = 1, stamp: str | None = None) -> None:
        self.step, self.rank, self.stamp = step, rank, stamp

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and trainer.global_rank == self.rank:
            if self.stamp:
                Path(self.stamp).write_text(str(time.time()))
            raise RuntimeError(f"injected failure on rank {self.rank} at step {self.step}")


class SignalAtStep(Callback):
    """Send ``signum`` to this process at ``step`` (e.g. SLURM's pre-emption SIGUSR1), on rank 0 only.

    Args:
        step: the ``global_step`` at which to signal.
        signum: the signal number. Default: SIGUSR1.
    """

    def __init__(self, step: int, signum: int = int(signal.SIGUSR1)) -> None:
        self.step, self.signum = step, signum

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step and trainer.global_rank == 0:
            os.kill(os.getpid(), self.signum)
            time.sleep(0.1)  # let the handler run before the step


class RankProbe(Callback):
    """After the first training batch, gather per-rank random draws and write them as JSON (rank 0).

    Args:
        path: the JSON file to write.
    """

    def __init__(self, path: str) -> None:
        self.path, self.done = path, False

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        if self.done:
            return
        self.done = True
        import json

        import torch

        draws = {
            "torch": pl_module.all_gather(torch.rand(4)).tolist(),
            "generator": pl_module.all_gather(torch.rand(4, generator=pl_module.rng)).tolist(),
            "batch": pl_module.all_gather(batch["A"][:, :, :4, :4].contiguous()).flatten(1).tolist(),
        }
        if trainer.is_global_zero:
            Path(self.path).write_text(json.dumps(draws))


class NaNAtStep(Callback):
    """Put a NaN into the input batch at ``step`` (every step from ``step`` on with ``sticky``).

    Args:
        step: the ``global_step`` of the corrupted batch.
        sticky: corrupt every later batch too.
    """

    def __init__(self, step: int, sticky: bool = False) -> None:
        self.step, self.sticky, self.fired = step, sticky, False

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        # A skipped batch does not advance global_step: fire once unless sticky.
        if trainer.global_step >= self.step and (self.sticky or not self.fired):
            self.fired = True
            batch["A"][0, 0, 0, 0] = float("nan")


class SignalGroupAtStep(Callback):
    """At ``step``, send ``signum`` to this process's whole process group, as a terminal's Ctrl-C does.

    The group holds the run and its DataLoader workers (start the run with ``start_new_session=True``). With
    ``times=2`` the signal is sent again ``pause`` seconds later (a second Ctrl-C); ``stamp`` receives the
    wall-clock time of the last signal.

    Args:
        step: the ``global_step`` at which to signal.
        signum: the signal number. Default: SIGINT.
        times: how many signals. Default: 1.
        pause: seconds between the signals. Default: 0.3.
        after: seconds after the last signal (the handler runs there; a second Ctrl-C raises there). Default: 0.3.
        stamp: file that receives the time of the last signal. Default: None.
        rank: the global rank that signals. Default: 0.
        group: signal the process group (False: only this process, e.g. one DDP rank). Default: True.
    """

    def __init__(
        self,
        step: int,
        signum: int = int(signal.SIGINT),
        times: int = 1,
        pause: float = 0.3,
        after: float = 0.3,
        stamp: str | None = None,
        rank: int = 0,
        group: bool = True,
    ) -> None:
        self.step, self.signum, self.times, self.pause, self.after = step, signum, times, pause, after
        self.stamp, self.rank, self.group = stamp, rank, group

    def on_train_batch_start(self, trainer: Trainer, pl_module: LightningModule, batch, batch_idx: int) -> None:
        if trainer.global_step != self.step or trainer.global_rank != self.rank:
            return
        for i in range(self.times):
            if self.stamp:
                Path(self.stamp).write_text(str(time.time()))
            if self.group:
                os.killpg(os.getpgrp(), self.signum)
            else:
                os.kill(os.getpid(), self.signum)
            time.sleep(self.pause if i < self.times - 1 else self.after)


class BreakDataAfterStep(Callback):
    """After batch ``step``, make every later read of a training sample raise, as an unreadable file does.

    Needs ``num_workers=0`` (the dataset is patched in this process). Lightning has already fetched the next
    batch (it prefetches one) and fetches the one after it when the next iteration starts: the error comes
    between two iterations, with ``global_step == step``.

    Args:
        step: the ``global_step`` after which training data breaks.
    """

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self.step:
            return
        dataset = trainer.datamodule.dataset("train")

        def unreadable(self, index):
            raise ValueError(f"cannot read image of sample {index}: injected failure")

        dataset.__class__ = type("Unreadable" + type(dataset).__name__, (type(dataset),), {"__getitem__": unreadable})
