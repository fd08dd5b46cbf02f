"""Checkpointing that works in manual optimization, is written atomically and never holds non-finite weights."""

from __future__ import annotations

import os
import re
import time
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.utilities.types import _PATH
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from typing_extensions import override

from lit_translate import compat

TMP_MARKER = ".tmp-"
NOT_RESUMABLE = "not_resumable"
"""Checkpoint key set (to the reason) in a checkpoint that must not be resumed: ``fit --ckpt_path`` refuses it."""
EXCEPTION_PREFIX = "exception"
"""File name prefix of the checkpoints written when training raises (``save_on_exception``)."""


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
    """``ModelCheckpoint`` with run-friendly defaults: ``last.ckpt``, a bounded number of periodic checkpoints.

    Lightning 2.6's manual-optimization branch of ``on_train_batch_end`` ignores ``train_time_interval`` and
    warns on every save. lit_translate counts iterations in ``global_step`` (one per batch, see
    ``docs/architecture.md``), so the standard branch is right for our methods and is used instead:
    ``every_n_train_steps`` means iterations and ``train_time_interval`` saves by wall time.

    Retention: after every save, rank 0 deletes the oldest periodic checkpoints (the files in ``dirpath`` whose
    names match ``filename``, also those written by earlier processes of the run) beyond ``keep_periodic``.
    ``last.ckpt`` and, with a ``monitor``, the best checkpoint and the ``save_top_k`` ranked ones are never deleted.

    Args:
        dirpath: folder; None = ``<run dir>/checkpoints`` (set by the CLI). Default: None.
        filename: name pattern. Default: ``"{epoch:03d}-{step:07d}"``.
        monitor: metric to rank checkpoints by (a validation metric, never a test one). Default: None.
        mode: ``"min"`` or ``"max"`` for ``monitor``. Default: ``"min"``.
        save_last: keep ``last.ckpt`` up to date at every save. Default: True.
        save_top_k: how many ranked checkpoints to keep with a ``monitor``; -1 ranks all. Default: -1.
        keep_periodic: how many periodic checkpoints to keep besides ``last.ckpt`` and the best one (-1 = all,
            0 = none). Default: 3.
        every_n_epochs: periodic checkpoint interval in epochs (0 = off). Default: 5 (the reference's
            save_epoch_freq). Unlike Lightning's ``ModelCheckpoint``, the three intervals combine.
        every_n_train_steps: periodic interval in iterations (0 = off). Default: 0.
        train_time_interval: periodic interval in wall time, e.g. ``"00:00:30:00"`` (None = off). Default: None.
        save_on_exception: when training raises between two iterations (e.g. an unreadable image), write
            ``last.ckpt`` (exact, resumable); when it raises inside an iteration, write
            ``exception-epoch=E-step=S.ckpt`` for inspection, marked not resumable. Single process only.
            Default: False.
    """

    def __init__(
        self,
        dirpath: str | None = None,
        filename: str = "{epoch:03d}-{step:07d}",
        monitor: str | None = None,
        mode: str = "min",
        save_last: bool = True,
        save_top_k: int = -1,
        keep_periodic: int = 3,
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
        if keep_periodic < -1:
            raise ValueError(f"checkpoint.keep_periodic must be >= -1 (-1 keeps all), got {keep_periodic}")
        compat.set_intervals(self, every_n_epochs, train_time_interval)
        self.keep_periodic = keep_periodic
        self._periodic_name = periodic_name_pattern(filename, self.FILE_EXTENSION)
        self._wandb_run_id: str | None = None
        self._not_resumable: str | None = None
        self._save_last_at_epoch_end = False

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        with warnings.catch_warnings():
            # Lightning warns whenever the folder holds files; the CLI already refuses a new fit into a directory
            # that holds a run (docs/reliability.md), so here it is a resume and the files are expected.
            warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty")
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
        if self._not_resumable is not None:
            checkpoint[NOT_RESUMABLE] = self._not_resumable

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

    def save_last_at_boundary(self, trainer: Trainer) -> bool:
        """Write ``last.ckpt`` at the next exact boundary (pre-emption, interrupts); return whether it is written.

        Inside an epoch that is now (from ``on_train_batch_end``). After the epoch's last batch it is at the end
        of the epoch instead, after validation and the epoch-interval schedulers have run: a checkpoint of the
        last batch's end would resume into the next epoch without the epoch's scheduler step.
        """
        if trainer.is_last_batch:
            self._save_last_at_epoch_end = True
            return False
        self.save_last_now(trainer)
        return True

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
        self.prune_periodic(trainer)

    @override
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # Checkpoint callbacks run after the module's on_train_epoch_end (its epoch-interval scheduler step).
        saved = compat.last_saved_step(self)
        super().on_train_epoch_end(trainer, pl_module)
        if self._save_last_at_epoch_end and compat.last_saved_step(self) != trainer.global_step:
            self.save_last_now(trainer)
        self._save_last_at_epoch_end = False
        if compat.last_saved_step(self) != saved:
            self.prune_periodic(trainer)

    @override
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        saved = compat.last_saved_step(self)
        super().on_validation_end(trainer, pl_module)
        if compat.last_saved_step(self) != saved:
            self.prune_periodic(trainer)

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

    # ------------------------------------------------------------------------------------------------ retention
    def periodic_checkpoints(self) -> list[Path]:
        """Return the periodic checkpoints in ``dirpath`` that retention may delete, oldest first.

        Files whose names match ``filename`` (also those of earlier processes of the run), without
        ``last.ckpt`` and, with a ``monitor``, the best checkpoint (and the ranked ones when ``save_top_k >= 1``).
        """
        if self.dirpath is None or self._periodic_name is None or not Path(self.dirpath).is_dir():
            return []
        kept = {self.last_model_path}
        if self.monitor is not None:  # without one, Lightning's "best" is merely the newest file
            kept |= {self.best_model_path} | (set(self.best_k_models) if self.save_top_k >= 1 else set())
        kept_files = {Path(path).resolve() for path in kept if path}
        files = [
            path
            for path in Path(self.dirpath).iterdir()
            if self._periodic_name.fullmatch(path.name) and path.resolve() not in kept_files
        ]
        return sorted(files, key=lambda path: (path.stat().st_mtime_ns, path.name))

    def prune_periodic(self, trainer: Trainer) -> list[Path]:
        """Delete the oldest periodic checkpoints beyond ``keep_periodic`` (rank 0 only) and return them."""
        if self.keep_periodic < 0 or not trainer.is_global_zero:
            return []
        files = self.periodic_checkpoints()
        stale = files[: max(len(files) - self.keep_periodic, 0)]
        for path in stale:
            trainer.strategy.remove_checkpoint(path)
            self.best_k_models.pop(str(path), None)
        return stale

    # ------------------------------------------------------------------------------------------- on exception
    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """``save_on_exception``: an exact ``last.ckpt`` between iterations, a marked inspection copy inside one.

        Lightning's own save writes whatever state the exception left: inside an iteration that is some of the
        optimizer steps of the batch and part of its random draws, with the loops about to replay the batch, so
        a resume from it is an iteration off. Nothing is written for a Ctrl-C abort (the user asked to stop
        now), under DDP (the other ranks cannot join the save) or when this step is already saved.
        """
        if not self._should_save_now(trainer, exception):
            return
        epoch, step, exact = trainer.current_epoch, trainer.global_step, compat.between_batches(trainer)
        name = type(exception).__name__
        if exact and self.save_last:
            compat.save_last(self, trainer)
            rank_zero_info(f"{name} between iterations: saved {self.last_model_path} (step {step}, exact)")
            return
        path = (
            Path(self.dirpath or trainer.default_root_dir)
            / f"{EXCEPTION_PREFIX}-epoch={epoch:03d}-step={step:07d}.ckpt"
        )
        where = f"inside the iteration after step {step}"
        if not exact:
            self._not_resumable = (
                f"written when training raised {name} {where} (epoch {epoch}), after part of that iteration's "
                f"optimizer steps and random draws"
            )
        try:
            trainer.save_checkpoint(path)
        except Exception as err:  # noqa: BLE001 - the original exception is the one to report
            rank_zero_warn(f"save_on_exception: {path} not written: {err}")
            return
        finally:
            self._not_resumable = None
        if exact:
            rank_zero_info(f"{name} between iterations: saved {path} (step {step}, exact)")
        else:
            rank_zero_warn(
                f"{name} {where}: saved {path} for inspection only (a resume from it would not be exact); resume "
                f"from {self.last_model_path or 'an earlier checkpoint'} instead"
            )

    def _should_save_now(self, trainer: Trainer, exception: BaseException) -> bool:
        if not self.save_on_exception or trainer.fast_dev_run or trainer.sanity_checking or not trainer.training:
            return False
        if isinstance(exception, KeyboardInterrupt | SystemExit) or compat.last_saved_step(self) == trainer.global_step:
            return False
        if trainer.world_size > 1:
            rank_zero_info("save_on_exception: nothing saved (under DDP the other ranks cannot join the save)")
            return False
        return True


def periodic_name_pattern(filename: str, extension: str = ".ckpt") -> re.Pattern[str] | None:
    """Return a regex matching the file names ``ModelCheckpoint`` makes from ``filename`` (None: not recognisable).

    ``"{epoch:03d}-{step:07d}"`` gives ``epoch=000-step=0000010.ckpt`` (metric names inserted, as with
    ``auto_insert_metric_name``), with an optional ``-vN`` version suffix. Patterns that create sub-folders (a
    ``/`` in a metric name) are not recognised, so retention never touches their files.
    """
    if "/" in filename:
        return None
    parts = re.split(r"\{([^{}:]+)(?::[^{}]*)?\}", filename)
    regex = "".join(re.escape(part) if i % 2 == 0 else re.escape(part) + "=[^/]*?" for i, part in enumerate(parts))
    return re.compile(f"{regex}(-v\\d+)?{re.escape(extension)}")
