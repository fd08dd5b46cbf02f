"""Stopping on a signal: checkpoint at the next iteration boundary and stop; requeue under SLURM on its warning.

- SIGUSR1 (``#SBATCH --signal=SIGUSR1@90``, SLURM's warning before the time limit or pre-emption): checkpoint,
  ``scontrol requeue <job>``, stop, exit status 0.
- SIGINT (Ctrl-C) and SIGTERM (``kill``, ``scancel``, torchrun or a container runtime stopping the job):
  checkpoint, stop, exit status 130 / 143 (128 + the signal number, the shell's convention for a process ended
  by that signal: not a crash, and not a finished run either). A second Ctrl-C aborts at once, also with 130.

The handlers only set flags. The checkpoint is written in ``on_train_batch_end``, after both the G and the D
step of the iteration, with every rank agreeing through one all-reduce, so it resumes bit-exactly. Lightning's
own handlers are replaced: its SLURM handler saves from inside the signal handler (possibly between two
optimizer steps), and its SIGTERM handler runs a collective inside the handler and stops through an exception.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from types import FrameType
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from typing_extensions import override

from lit_translate import compat
from lit_translate.callbacks.checkpoint import RunCheckpoint
from lit_translate.errors import InputError

STOP_SIGNALS = ("SIGINT", "SIGTERM")


def slurm_job_id() -> str | None:
    """Return the SLURM job id to requeue (``<array job>_<task>`` for array jobs), or None outside SLURM."""
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        return f"{array_job}_{task}"
    return os.environ.get("SLURM_JOB_ID")


def exit_status(signal_name: str) -> int:
    """Return the exit status of a run stopped by ``signal_name``: 128 + its number (SIGINT 130, SIGTERM 143)."""
    return 128 + int(getattr(signal, signal_name))


class Interrupts:
    """The process's SIGINT handler: the first Ctrl-C during training asks for a clean stop, any other aborts.

    ``lit-translate`` installs it for the whole command (so a Ctrl-C while the data is scanned or the model is
    built aborts with status 130, not a traceback); :class:`Preemption` arms it while training runs. DataLoader
    workers forked from the process inherit the handler and ignore the signal: the main process decides.

    Attributes:
        count: SIGINTs received since :meth:`arm`.
        pending: a clean stop was asked for and not yet carried out.
        aborted: a SIGINT aborted the command (raised ``KeyboardInterrupt``).
    """

    def __init__(self) -> None:
        self.count, self.pending, self.aborted, self.armed = 0, False, False, False
        self._pid: int | None = None
        self._previous: Any = None

    @property
    def installed(self) -> bool:
        """Whether this process's SIGINT handler is this object's."""
        return self._pid == os.getpid()

    def install(self) -> bool:
        """Become the SIGINT handler (main thread only); return whether it was installed by this call."""
        if self.installed or threading.current_thread() is not threading.main_thread():
            return False
        self._previous = signal.signal(signal.SIGINT, self._handle)
        self._pid, self.count, self.pending, self.aborted = os.getpid(), 0, False, False
        return True

    def restore(self) -> None:
        """Give SIGINT back to the handler that was there before :meth:`install`."""
        if self.installed:
            signal.signal(signal.SIGINT, self._previous)
        self._pid, self.armed, self.pending = None, False, False

    def arm(self) -> None:
        """From now on, the first Ctrl-C asks for a clean stop."""
        self.armed, self.count, self.pending, self.aborted = True, 0, False, False

    def disarm(self) -> None:
        """From now on, Ctrl-C aborts at once."""
        self.armed, self.pending = False, False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:
            return  # a forked DataLoader worker: the main process stops or aborts, and ends the workers
        self.count += 1
        if self.armed and self.count == 1:
            self.pending = True
            if rank_zero_only.rank == 0:
                sys.stderr.write(
                    "\nCtrl-C: stopping after this iteration with a checkpoint (Ctrl-C again aborts at once, "
                    "losing the iterations since the last checkpoint)\n"
                )
            return
        self.armed, self.aborted = False, True
        raise KeyboardInterrupt


INTERRUPTS = Interrupts()
"""The one SIGINT handler of this process (see :class:`Interrupts`)."""


class Preemption(Callback):
    """Save ``last.ckpt`` and stop cleanly on a signal; requeue under SLURM on its warning signal.

    ``#SBATCH --signal=SIGUSR1@90`` makes SLURM send SIGUSR1 90 s before the time limit (or pre-emption):
    the checkpoint is written at the end of the current iteration, rank 0 runs ``scontrol requeue <job id>``
    and training stops (exit status 0); the requeued job runs the same command with ``--ckpt_path auto`` and
    continues exactly. ``stop_signals`` (Ctrl-C, SIGTERM) checkpoint and stop the same way, without requeueing,
    and the command exits with 128 + the signal number (130, 143); a second Ctrl-C aborts at once.

    Args:
        signal_name: the warning signal that requeues. Default: ``"SIGUSR1"``.
        requeue: run ``scontrol requeue`` when inside a SLURM job. Default: True.
        stop_signals: signals that checkpoint and stop without requeueing; ``[]`` leaves them to Python (Ctrl-C
            raises at once, SIGTERM kills). Default: ``("SIGINT", "SIGTERM")``.
    """

    def __init__(
        self, signal_name: str = "SIGUSR1", requeue: bool = True, stop_signals: tuple[str, ...] = STOP_SIGNALS
    ) -> None:
        for name in (signal_name, *stop_signals):
            if not name.startswith("SIG") or not hasattr(signal, name):
                raise InputError(
                    f"unknown signal {name!r} (--preemption.signal_name / --preemption.stop_signals); use a name "
                    f"such as 'SIGUSR1' or 'SIGTERM'"
                )
        self.signal_name, self.requeue = signal_name, requeue
        self.stop_signals = tuple(name for name in stop_signals if name != signal_name)
        self.received = False
        self.terminated = False
        self.saved_path: str | None = None
        self.stopped_by: str | None = None
        self._previous: dict[str, Any] = {}
        self._installed_interrupts = False
        self._requeue_pending = False
        self._pid = os.getpid()

    @property
    def exit_status(self) -> int | None:
        """Return the exit status the command should end with after a stop by signal (None: no such stop)."""
        if self.stopped_by is None:
            return None
        return 0 if self.stopped_by == self.signal_name else exit_status(self.stopped_by)

    # ------------------------------------------------------------------------------------------------ handlers
    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() == self._pid:  # not in a forked DataLoader worker
            self.received = True

    def _handle_term(self, signum: int, frame: FrameType | None) -> None:
        # A forked DataLoader worker ignores it: killed, it would make the main process raise mid-iteration
        # (PyTorch checks its workers on SIGCHLD) before the checkpoint is written.
        if os.getpid() == self._pid:
            self.terminated = True
            if rank_zero_only.rank == 0:
                sys.stderr.write("\nSIGTERM: stopping after this iteration with a checkpoint\n")

    def _install(self, name: str, handler: Any) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        previous = signal.signal(getattr(signal, name), handler)
        self._previous.setdefault(name, previous)

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        self._pid, self.stopped_by, self.received, self.terminated = os.getpid(), None, False, False
        # Installed before Lightning's SignalConnector, which then leaves SIGUSR1 alone.
        self._install(self.signal_name, self._handle)
        if "SIGTERM" in self.stop_signals:
            self._install("SIGTERM", self._handle_term)
        if "SIGINT" in self.stop_signals:
            self._installed_interrupts = INTERRUPTS.install() or self._installed_interrupts
            INTERRUPTS.arm()

    def _take_over_sigterm(self) -> None:
        # Lightning registers its SIGTERM handler after setup, wrapping ours: replace it by ours alone (its
        # teardown then restores ours, and ours is restored in teardown).
        if "SIGTERM" in self._previous and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._handle_term)

    @override
    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_over_sigterm()

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._take_over_sigterm()

    def _restore(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for name, previous in self._previous.items():
                signal.signal(getattr(signal, name), previous)
        self._previous = {}
        INTERRUPTS.disarm()
        if self._installed_interrupts:
            INTERRUPTS.restore()
            self._installed_interrupts = False

    @override
    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self._restore()

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        self._restore()  # Lightning skips the teardown hooks when fit raises

    # -------------------------------------------------------------------------------------------- the stop
    def _requests(self, trainer: Trainer) -> tuple[bool, bool, bool]:
        """Return ``(requeue, SIGINT, SIGTERM)`` requests of any rank (one all-reduce under DDP)."""
        local = [self.received, INTERRUPTS.pending and "SIGINT" in self.stop_signals, self.terminated]
        if trainer.world_size == 1:
            return local[0], local[1], local[2]
        flags = torch.tensor([int(flag) for flag in local], device=trainer.strategy.root_device)
        flags = trainer.strategy.reduce(flags, reduce_op="max")
        return bool(flags[0]), bool(flags[1]), bool(flags[2])

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        requeue, interrupt, term = self._requests(trainer)
        if not (requeue or interrupt or term):
            return
        name = self.signal_name if requeue else "SIGTERM" if term else "SIGINT"
        checkpoint = trainer.checkpoint_callback
        if isinstance(checkpoint, RunCheckpoint) and checkpoint.save_last:
            when = "now" if checkpoint.save_last_at_boundary(trainer) else "at the end of this epoch"
            rank_zero_info(f"{name} received: checkpointing at step {trainer.global_step} ({when}) and stopping")
            self.saved_path = checkpoint.last_model_path
        else:
            rank_zero_warn(f"{name}: no checkpoint callback with save_last; stopping without a checkpoint")
        if not trainer.is_last_batch:
            # Exit right after the checkpoint: no validation pass (nor its sample grid), which Lightning runs on a
            # stop request. After an epoch's last batch the checkpoint follows the epoch's regular validation
            # (which an uninterrupted run runs too) and the epoch-end scheduler steps.
            compat.skip_next_validation(trainer)
        trainer.should_stop = True
        self.stopped_by, self._requeue_pending = name, requeue
        self.received = self.terminated = INTERRUPTS.pending = False

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # After the checkpoint (written at the stop, or at the end of the epoch): requeueing ends this job.
        job = slurm_job_id()
        if not self._requeue_pending or not self.requeue or job is None or not trainer.is_global_zero:
            return
        self._requeue_pending = False
        result = subprocess.run(["scontrol", "requeue", job], capture_output=True, text=True)
        if result.returncode == 0:
            rank_zero_info(f"requeued SLURM job {job}")
        else:
            rank_zero_warn(f"scontrol requeue {job} failed ({result.returncode}): {result.stderr.strip()}")
