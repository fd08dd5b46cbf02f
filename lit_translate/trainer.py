"""The Trainer ``lit-translate`` builds: Lightning's ``Trainer`` with the run-directory defaults filled in."""

from __future__ import annotations

import logging
import warnings
from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import CheckpointIO
from typing_extensions import override

from lit_translate.callbacks import AtomicCheckpointIO, RunCheckpoint
from lit_translate.loggers import RunCSVLogger

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
    - any logger: a :class:`~lightning.pytorch.callbacks.LearningRateMonitor` (per epoch);
    - ``enable_checkpointing: false``: the forced :class:`~lit_translate.callbacks.RunCheckpoint` is dropped;
    - no ``CheckpointIO`` plugin: :class:`~lit_translate.callbacks.AtomicCheckpointIO` (a killed write never
      destroys the previous checkpoint).
    """
    root = kwargs.get("default_root_dir") or DEFAULT_ROOT
    callbacks = kwargs.get("callbacks") or []
    callbacks = list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks]
    if kwargs.get("logger") in (None, True):
        kwargs["logger"] = [
            TensorBoardLogger(save_dir=root, name="", version=""),
            RunCSVLogger(save_dir=root, resume_truncates=False),
        ]
        callbacks.append(CSVHistoryMode())
    if kwargs.get("logger") is not False:
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    if kwargs.get("enable_checkpointing") is False:
        callbacks = [cb for cb in callbacks if not isinstance(cb, RunCheckpoint)]
    kwargs["callbacks"] = callbacks
    plugins = kwargs.get("plugins") or []
    plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
    if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
        plugins.append(AtomicCheckpointIO())
    kwargs["plugins"] = plugins


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
    ``validate``/``test``/``predict`` it only appends (see :class:`~lit_translate.loggers.RunCSVLogger`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        quiet_known_notices()
        run_defaults(kwargs)
        super().__init__(*args, **kwargs)


__all__ = ["DEFAULT_ROOT", "CSVHistoryMode", "RunTrainer", "quiet_known_notices", "run_defaults"]
