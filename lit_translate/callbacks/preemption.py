"""Pre-emption: on a warning signal, checkpoint at the next iteration boundary, requeue the job and stop."""

from __future__ import annotations

import os
import signal
import subprocess
from types import FrameType
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from typing_extensions import override

from lit_translate.callbacks.checkpoint import RunCheckpoint


def slurm_job_id() -> str | None:
    """Return the SLURM job id to requeue (``<array job>_<task>`` for array jobs), or None outside SLURM."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


class Preemption(Callback):
    """Save ``last.ckpt`` and stop cleanly when the scheduler warns of pre-emption; requeue under SLURM.

    ``#SBATCH --signal=SIGUSR1@90`` makes SLURM send SIGUSR1 90 s before the time limit (or pre-emption). The
    handler only sets a flag; the checkpoint is written at the end of the current iteration, after both the
    G and the D step, with every rank agreeing (Lightning's own SLURM handler saves from inside the signal
    handler, possibly between two optimizer steps). Then rank 0 runs ``scontrol requeue <job id>`` and training
    stops; the requeued job runs the same command with ``--ckpt_path last`` and continues exactly.

    Args:
        signal_name: the warning signal. Default: ``"SIGUSR1"``.
        requeue: run ``scontrol requeue`` when inside a SLURM job. Default: True.
    """

    def __init__(self, signal_name: str = "SIGUSR1", requeue: bool = True) -> None:
        if not hasattr(signal, signal_name):
            raise ValueError(f"unknown signal {signal_name!r}; use a name such as 'SIGUSR1' or 'SIGTERM'")
        self.signal_name, self.requeue = signal_name, requeue
        self.received = False
        self.saved_path: str | None = None
        self._previous: Any = None

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = True

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and self._previous is None:
            # Installed before Lightning's SignalConnector, which then leaves this signal alone.
            self._previous = signal.signal(getattr(signal, self.signal_name), self._handle)

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if self._previous is not None:
            signal.signal(getattr(signal, self.signal_name), self._previous)
            self._previous = None

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        flag = self.received
        if trainer.world_size > 1:  # any rank warned: all ranks save and stop together
            flag = bool(trainer.strategy.reduce_boolean_decision(flag, all=False))
        if not flag:
            return
        rank_zero_info(f"{self.signal_name} received: checkpointing at step {trainer.global_step} and stopping")
        checkpoint = trainer.checkpoint_callback
        if isinstance(checkpoint, RunCheckpoint) and checkpoint.save_last:
            self.saved_path = checkpoint.save_last_now(trainer)
        else:
            rank_zero_warn("pre-emption: no checkpoint callback with save_last; nothing was saved")
        job = slurm_job_id()
        if self.requeue and job is not None and trainer.is_global_zero:
            result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
            if result.returncode == 0:
                rank_zero_info(f"requeued SLURM job {job}")
            else:
                rank_zero_warn(f"scontrol requeue {job} failed ({result.returncode}): {result.stderr.strip()}")
        trainer.should_stop = True
        self.received = False
