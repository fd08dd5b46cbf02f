"""Checkpointing that works in manual optimization."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from typing_extensions import override


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
        every_n_epochs: periodic checkpoint interval in epochs. Default: 5 (the reference's save_epoch_freq).
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
            every_n_epochs=every_n_epochs,
            every_n_train_steps=every_n_train_steps,
            train_time_interval=train_time_interval,
            auto_insert_metric_name=True,
            save_on_exception=save_on_exception,
        )

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        manual = not pl_module.automatic_optimization
        pl_module._automatic_optimization = True
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            pl_module._automatic_optimization = not manual
