"""Checkpointing that works in manual optimization, is written atomically and never holds non-finite weights."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lit_translate import compat

TMP_MARKER = ".tmp-"


def nonfinite_weights(checkpoint: dict[str, Any], limit: int = 5) -> list[str]:
    """Return the names of (up to ``limit``) floating-point tensors in ``checkpoint["state_dict"]`` with inf/NaN."""
    bad = []
    for name, value in checkpoint.get("state_dict", {}).items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad.append(name)
            if len(bad) >= limit:
                break
    return bad


class AtomicCheckpointIO(TorchCheckpointIO):
    """Write each checkpoint to a temporary file in the target folder, fsync it, then rename it into place.

    A crash or SIGKILL during the write leaves the previous file under that name intact (``os.replace`` is
    atomic on POSIX file systems). A checkpoint whose weights are not finite is refused with an error, so a
    diverged run can never overwrite its last good ``last.ckpt``. Remote paths (``s3://`` etc.) fall back to
    Lightning's writer.
    """

    @override
    def save_checkpoint(self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None) -> None:
        bad = nonfinite_weights(checkpoint)
        if bad:
            raise FloatingPointError(
                f"refusing to write checkpoint {path}: non-finite values in {', '.join(bad)}; the previous "
                f"checkpoint is kept. Resume from it with a lower learning rate, or set "
                f"--model.init_args.on_nonfinite skip"
            )
        if "://" in str(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}{TMP_MARKER}{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)  # make the rename itself durable
        finally:
            os.close(fd)


class RunCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` with run-friendly defaults: ``last.ckpt`` plus periodic checkpoints kept.

    Lightning 2.6's manual-optimization branch of ``on_train_batch_end`` ignores ``train_time_interval`` and
    warns on every save. lit_translate counts iterations in ``global_step`` (one per batch, see
    ``docs/architecture.md``), so the standard branch is right for our methods and is used instead:
    ``every_n_train_steps`` means iterations and ``train_time_interval`` saves by wall time.

    Args:
        dirpath: folder; None = ``<run dir>/checkpoints`` (set by the CLI). Default: None.
        filename: name pattern. Default: ``"{epoch:03d}-{step:07d}"``.
        monitor: metric to rank checkpoints by (a validation metric, never a test one). Default: None.
        mode: ``"min"`` or ``"max"`` for ``monitor``. Default: ``"min"``.
        save_last: keep ``last.ckpt`` up to date at every save. Default: True.
        save_top_k: how many ranked checkpoints to keep; -1 keeps all periodic ones. Default: -1.
        every_n_epochs: periodic checkpoint interval in epochs (0 = off). Default: 5 (the reference's
            save_epoch_freq). Unlike Lightning's ``ModelCheckpoint``, the three intervals combine.
        every_n_train_steps: periodic interval in iterations (0 = off). Default: 0.
        train_time_interval: periodic interval in wall time, e.g. ``"00:00:30:00"`` (None = off). Default: None.
        save_on_exception: write a checkpoint when training raises. Default: False.
    """

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str = "{epoch:03d}-{step:07d}",
        monitor: str | None = None,
        mode: str = "min",
        save_last: bool = True,
        save_top_k: int = -1,
        every_n_epochs: int = 5,
        every_n_train_steps: int = 0,
        train_time_interval: timedelta | None = None,
        save_on_exception: bool = False,
    ) -> None:
        super().__init__(
            dirpath=dirpath,
            filename=filename,
            monitor=monitor,
            mode=mode,
            save_last=save_last,
            save_top_k=save_top_k,
            # Lightning rejects any two of the three intervals together; the three are independent here (the step
            # and time logic is ours, below), so the epoch and time intervals are set after its validation.
            every_n_epochs=0 if every_n_train_steps else max(every_n_epochs, 0),
            every_n_train_steps=every_n_train_steps,
            train_time_interval=None,
            auto_insert_metric_name=True,
            save_on_exception=save_on_exception,
        )
        if every_n_epochs < 0:
            raise ValueError(f"checkpoint.every_n_epochs must be >= 0, got {every_n_epochs}")
        compat.set_intervals(self, every_n_epochs, train_time_interval)
        self._wandb_run_id: str | None = None

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if trainer.is_global_zero and self.dirpath is not None and Path(self.dirpath).is_dir():
            for stale in Path(self.dirpath).glob(f".*{TMP_MARKER}*"):  # left by a write that was killed
                stale.unlink(missing_ok=True)

    @override
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        if self._wandb_run_id is not None:
            state["wandb_run_id"] = self._wandb_run_id
        return state

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_start(trainer, pl_module)  # starts the train_time_interval clock
        wandb = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        self._wandb_run_id = str(wandb[0].version) if wandb and wandb[0].version else None

    @override
    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        # Called before every checkpoint is written: flush the loggers first, so that a crash after this
        # checkpoint loses no logged step before it.
        for logger in trainer.loggers:
            logger.save()

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # The last iteration is always in last.ckpt, whatever the periodic intervals are.
        if self.save_last and trainer.global_step != compat.last_saved_step(self) and not trainer.interrupted:
            compat.save_last(self, trainer)
            compat.mark_saved(self, trainer.global_step)
            rank_zero_info(f"Final checkpoint: {self.last_model_path}")

    def save_last_now(self, trainer: Trainer) -> str:
        """Write ``last.ckpt`` at once (pre-emption, interrupts) and return its path."""
        compat.save_last(self, trainer)
        return self.last_model_path

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        # Lightning's own manual-optimization branch ignores train_time_interval and warns on every save, and
        # its automatic branch reads the automatic loop's step counter (0 here). global_step counts iterations
        # in lit_translate (docs/architecture.md), so the interval logic is applied to it directly.
        if compat.skip_saving(self, trainer):
            return
        every = compat.train_step_interval(self)
        due_step = every >= 1 and trainer.global_step % every == 0
        if not (due_step or self._due_by_time(trainer)):
            return
        candidates = compat.monitor_candidates(self, trainer)
        if self.monitor is not None and self.monitor not in candidates:
            compat.defer_save_until_validation(self)
            return
        compat.save_top_k_and_last(self, trainer, candidates)

    def _due_by_time(self, trainer: Trainer) -> bool:
        """Whether ``train_time_interval`` has elapsed since the last time save (one decision for all ranks)."""
        interval, last = compat.train_time_interval(self), compat.time_last_checked(self)
        if interval is None or last is None:
            return False
        now = time.monotonic()
        due = bool(trainer.strategy.broadcast(now - last >= interval.total_seconds()))
        if due:
            compat.set_time_last_checked(self, now)
        return due
