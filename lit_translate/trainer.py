"""The Trainer ``lit-translate`` builds: Lightning's ``Trainer`` with the run-directory defaults filled in."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.plugins.io import CheckpointIO
from typing_extensions import override

from lit_translate.callbacks import AtomicCheckpointIO, RunCheckpoint
from lit_translate.loggers import RunCSVLogger, resume_wandb_run

DEFAULT_ROOT = "runs/default"
LIGHTNING_TIPS = ("💡 Tip:",)
"""Prefixes of Lightning's advertising info lines (litlogger, litmodels), left out of a run's output."""


class _DropTips(logging.Filter):
    """Drop Lightning's "💡 Tip: try installing ..." lines (they are printed at every start)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIPS)


_DROP_TIPS = _DropTips()


def quiet_known_notices() -> None:
    """Silence, at their source and nothing else, the notices a clean lit_translate run would print.

    - Lightning's litlogger / litmodels tips (info lines of ``lightning.pytorch.utilities.rank_zero``);
    - torch 2.14's ``FutureWarning`` that ``LeafSpec`` is deprecated, raised by Lightning 2.6.6's own
      ``lightning/pytorch/utilities/_pytree.py`` (not by our code, and not fixable from it) every time a loader
      is wrapped.
    Every other warning of those modules still shows. Idempotent.
    """
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DROP_TIPS)
    warnings.filterwarnings(
        "ignore",
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
    )


def run_defaults(kwargs: dict[str, Any]) -> None:
    """Fill in lit_translate's defaults in Trainer keyword arguments (in place).

    - ``logger`` None or True: a TensorBoard and a CSV logger writing straight into ``default_root_dir`` (no
      ``version_N`` folders), so that ``--ckpt_path last`` finds the run again and logs continue in place;
    - configured loggers without a CSV logger (e.g. only W&B): the run's CSV logger is added, so every run has
      its ``metrics.csv``;
    - any logger: a :class:`~lightning.pytorch.callbacks.LearningRateMonitor` (per epoch);
    - ``enable_checkpointing: false``: the forced :class:`~lit_translate.callbacks.RunCheckpoint` is dropped;
    - no ``CheckpointIO`` plugin: :class:`~lit_translate.callbacks.AtomicCheckpointIO` (a killed write never
      destroys the previous checkpoint).
    """
    root = kwargs.get("default_root_dir") or DEFAULT_ROOT
    callbacks = kwargs.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks]
    kwargs["logger"] = run_loggers(kwargs.get("logger"), root)
    if kwargs["logger"] is not False:
        if any(isinstance(logger, RunCSVLogger) for logger in kwargs["logger"]):
            callbacks.append(CSVHistoryMode())
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if kwargs.get("enable_checkpointing") is False:
        callbacks = [cb for cb in callbacks if not isinstance(cb, RunCheckpoint)]
    kwargs["callbacks"] = callbacks
    plugins = kwargs.get("plugins") or []
    plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    kwargs["plugins"] = plugins


def run_loggers(logger: Logger | list[Logger] | bool | None, root: str) -> list[Logger] | bool:
    """Return the run's loggers for the Trainer's ``logger`` argument (``False`` stays ``False``).

    None or True: TensorBoard and the run's CSV logger in ``root``; configured loggers: the same list plus the
    run's CSV logger when none of them writes a CSV file (a W&B-only config still gets ``metrics.csv``). The CSV
    logger only appends until :class:`CSVHistoryMode` switches it to ``fit``'s behaviour.
    """
    if logger is False:
        return False
    csv = RunCSVLogger(save_dir=root, resume_truncates=False)
    if logger in (None, True):
        return [TensorBoardLogger(save_dir=root, name="", version=""), csv]
    loggers = list(logger) if isinstance(logger, list | tuple) else [logger]
    if not any(isinstance(one, CSVLogger | RunCSVLogger) for one in loggers):
        loggers.append(csv)
    return loggers


class CSVHistoryMode(Callback):
    """Tell the run's CSV loggers which stage writes: ``fit`` truncates re-logged steps, other stages append."""

    @override
    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, RunCSVLogger):
                logger.resume_truncates = True


class RunTrainer(Trainer):
    """``Trainer`` with lit_translate's run-directory defaults (see :func:`run_defaults`); same arguments.

    In ``fit``, the CSV logger replaces rows that a killed earlier process logged after its last checkpoint; in
    ``validate``/``test``/``predict`` it only appends (see :class:`~lit_translate.loggers.RunCSVLogger`). A
    resumed ``fit`` continues the W&B run stored in the restored checkpoint
    (:func:`~lit_translate.loggers.resume_wandb_run`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        quiet_known_notices()
        run_defaults(kwargs)
        super().__init__(*args, **kwargs)
        # The accelerator asked for ("auto", "cpu", "gpu", ...) before Lightning resolved it: only "auto" falls
        # back to CPU silently (EnvironmentCheck).
        accelerator = kwargs.get("accelerator", "auto")
        self.accelerator_requested = accelerator if isinstance(accelerator, str) else type(accelerator).__name__

    @override
    def fit(
        self,
        model: LightningModule,
        train_dataloaders: Any = None,
        val_dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        ckpt_path: str | Path | None = None,
        weights_only: bool | None = None,
    ) -> None:
        """Lightning's ``fit``; a W&B logger first takes the W&B run id of the checkpoint that will be restored."""
        resume_wandb_run(self, ckpt_path)
        super().fit(model, train_dataloaders, val_dataloaders, datamodule, ckpt_path, weights_only)


__all__ = ["DEFAULT_ROOT", "CSVHistoryMode", "RunTrainer", "quiet_known_notices", "run_defaults", "run_loggers"]
