"""The Trainer ``lit-translate`` builds: Lightning's ``Trainer`` with the run-directory defaults filled in.

Only a ``fit`` that starts training writes training logs into the run directory: the files the loggers create
while a ``fit`` sets up (TensorBoard's ``events.out.tfevents.*``, ``hparams.yaml``) are deleted again when it
fails (or has nothing left to train) before the first training step, so that the corrected command starts in a
clean directory; ``validate``, ``test`` and ``predict`` run without the default TensorBoard logger.
"""

from __future__ import annotations

import logging
import signal
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lightning.pytorch import Callback, LightningDataModule, LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ProgressBar, TQDMProgressBar
from lightning.pytorch.callbacks.progress.tqdm_progress import convert_inf
from lightning.pytorch.loggers import CSVLogger, Logger, TensorBoardLogger
from lightning.pytorch.plugins.io import CheckpointIO
from typing_extensions import override

from lit_translate.callbacks import AtomicCheckpointIO, RunCheckpoint
from lit_translate.errors import InputError
from lit_translate.run.loggers import RunCSVLogger, resume_wandb_run

SETUP_LOG_FILES = ("events.out.tfevents.*", "hparams.yaml")
"""Files in the run directory that loggers create during a ``fit``'s set-up, before training starts."""

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
    - a progress bar (unless ``enable_progress_bar: false`` or one is configured): :class:`RunProgressBar`;
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
    if kwargs.get("enable_progress_bar") is not False and not any(isinstance(cb, ProgressBar) for cb in callbacks):
        callbacks.append(RunProgressBar())
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


class RunProgressBar(TQDMProgressBar):
    """Lightning's progress bar whose total and ETA stop at ``max_steps``, with the iteration shown.

    The bar counts the batches of the epoch; with ``--trainer.max_steps`` the epoch ends at that iteration, so
    the total is the batches left before it (an 8-step run shows ``8/8``, not ``8/300``). ``step`` in the bar is
    the iteration (``global_step``: one per batch), out of ``max_steps`` when it is set.
    """

    def __init__(self, refresh_rate: int = 1, process_position: int = 0, leave: bool = False) -> None:
        super().__init__(refresh_rate, process_position, leave)
        self._done = 0  # batches of the current epoch done

    @property
    @override
    def total_train_batches(self) -> int | float:
        total = super().total_train_batches
        max_steps = self.trainer.max_steps
        if max_steps is None or max_steps < 0:
            return total
        return min(total, self._done + max(max_steps - self.trainer.global_step, 0))

    @override
    def on_train_epoch_start(self, trainer: Trainer, *args: Any) -> None:
        self._done = 0
        super().on_train_epoch_start(trainer, *args)

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._done = batch_idx + 1
        if self.train_progress_bar is not None:
            self.train_progress_bar.total = convert_inf(self.total_train_batches)
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)

    @override
    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        metrics = super().get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)  # the run directory has no version folders
        step = trainer.global_step
        steps = f"{step}/{trainer.max_steps}" if trainer.max_steps is not None and trainer.max_steps >= 0 else step
        return {"step": steps, **metrics}


class TrainingStarted(Callback):
    """Remember whether training started in this process (``on_train_start``: set-up and sanity check done)."""

    def __init__(self) -> None:
        self.started = False

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.started = True


def setup_log_files(root: Path) -> set[Path]:
    """Return the files of :data:`SETUP_LOG_FILES` in the run directory ``root``."""
    return {path for pattern in SETUP_LOG_FILES for path in root.glob(pattern)} if root.is_dir() else set()


class RunTrainer(Trainer):
    """``Trainer`` with lit_translate's run-directory defaults (see :func:`run_defaults`); same arguments.

    In ``fit``, the CSV logger replaces rows that a killed earlier process logged after its last checkpoint; in
    ``validate``/``test``/``predict`` it only appends (see :class:`~lit_translate.run.loggers.RunCSVLogger`). A
    resumed ``fit`` continues the W&B run stored in the restored checkpoint
    (:func:`~lit_translate.run.loggers.resume_wandb_run`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        quiet_known_notices()
        default_loggers = kwargs.get("logger") in (None, True)
        run_defaults(kwargs)
        self.training_started = TrainingStarted()
        kwargs["callbacks"].append(self.training_started)
        super().__init__(*args, **kwargs)
        self.run_root = Path(kwargs.get("default_root_dir") or DEFAULT_ROOT)
        # The default TensorBoard logger writes training logs: fit only (see the module docstring).
        tensorboard = [logger for logger in self.loggers if isinstance(logger, TensorBoardLogger)]
        self.fit_only_loggers = tensorboard if default_loggers else []
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
        before = setup_log_files(self.run_root)
        self.training_started.started = False
        try:
            with self._ending_launched_ranks_on_input_error():
                super().fit(model, train_dataloaders, val_dataloaders, datamodule, ckpt_path, weights_only)
        finally:
            if not self.training_started.started:
                self._discard_setup_logs(before)

    def _discard_setup_logs(self, before: set[Path]) -> None:
        """Delete the log files this fit created in the run directory although training never started (rank 0)."""
        if not self.is_global_zero:
            return
        for logger in self.fit_only_loggers:
            logger.finalize("failed")  # closes the events file (nothing else is written for "failed")
        for path in setup_log_files(self.run_root) - before:
            path.unlink(missing_ok=True)

    @contextmanager
    def _ending_launched_ranks_on_input_error(self) -> Iterator[None]:
        """On bad input (:class:`InputError`), rank 0 ends the DDP ranks it launched (they raise the same error).

        Lightning ends them on Ctrl-C only; here they would each print the error, or outlive rank 0 in a
        collective. ``lit-translate`` then prints the error once (``lit_translate/cli.py``).
        """
        try:
            yield
        except InputError:
            launcher = self.strategy.launcher
            if launcher is not None and self.is_global_zero:
                launcher.kill(getattr(signal, "SIGKILL", signal.SIGTERM))
            raise

    @contextmanager
    def _without_training_logs(self) -> Iterator[None]:
        """Run a stage other than ``fit`` without the loggers that write training logs (TensorBoard)."""
        loggers = self.loggers
        self.loggers = [logger for logger in loggers if logger not in self.fit_only_loggers]
        try:
            with self._ending_launched_ranks_on_input_error():
                yield
        finally:
            self.loggers = loggers

    @override
    def validate(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        ckpt_path: str | Path | None = None,
        verbose: bool = True,
        datamodule: LightningDataModule | None = None,
        weights_only: bool | None = None,
    ) -> Any:
        """Lightning's ``validate``, without the TensorBoard logger (metrics go to ``metrics.csv``)."""
        with self._without_training_logs():
            return super().validate(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    @override
    def test(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        ckpt_path: str | Path | None = None,
        verbose: bool = True,
        datamodule: LightningDataModule | None = None,
        weights_only: bool | None = None,
    ) -> Any:
        """Lightning's ``test``, without the TensorBoard logger (metrics go to ``metrics.csv`` and ``eval/``)."""
        with self._without_training_logs():
            return super().test(model, dataloaders, ckpt_path, verbose, datamodule, weights_only)

    @override
    def predict(
        self,
        model: LightningModule | None = None,
        dataloaders: Any = None,
        datamodule: LightningDataModule | None = None,
        return_predictions: bool | None = None,
        ckpt_path: str | Path | None = None,
        weights_only: bool | None = None,
    ) -> Any:
        """Lightning's ``predict``, without the TensorBoard logger (predict logs nothing)."""
        with self._without_training_logs():
            return super().predict(model, dataloaders, datamodule, return_predictions, ckpt_path, weights_only)


__all__ = [
    "DEFAULT_ROOT",
    "SETUP_LOG_FILES",
    "CSVHistoryMode",
    "RunProgressBar",
    "RunTrainer",
    "TrainingStarted",
    "quiet_known_notices",
    "run_defaults",
    "run_loggers",
    "setup_log_files",
]
