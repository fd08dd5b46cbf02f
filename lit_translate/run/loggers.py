"""The run's loggers: a CSV logger that keeps a run's history across resumes, and what W&B runs need.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` whenever it opens an existing run directory, so a resumed run
(or a later ``lit-translate test`` in the run directory) would lose the training history. ``RunCSVLogger`` keeps
it: in ``fit`` the previous rows from before the first step the new process logs are kept (rows a killed process
logged after its last checkpoint are logged again by the resumed run, so none repeats); in the other stages
every previous row is kept and the new ones are appended. The file format is ``CSVLogger``'s: one row per
logging call, a ``step`` column, the other columns sorted by name.

W&B (Lightning's ``WandbLogger``): :func:`resume_wandb_run` makes a resumed ``fit`` continue the W&B run whose id
is stored in the checkpoint being restored, and :func:`log_run_config` puts the whole resolved config into the
W&B run and attaches ``config.yaml`` to it. ``docs/distributed.md`` and the README say how offline runs sync.
"""

from __future__ import annotations

import csv
import os
import shutil
from argparse import Namespace
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from torch import Tensor
from typing_extensions import override

from lit_translate import compat

METRICS_FILE = "metrics.csv"
WANDB_CONFIG_FILE = "lit_translate/config.yaml"
"""Where ``config.yaml`` is attached in a W&B run's files (W&B writes its own ``config.yaml`` at the top)."""


class RunCSVLogger(Logger):
    """Write ``<save_dir>/metrics.csv`` (no version folders), keeping the rows of earlier processes of the run.

    Args:
        save_dir: the run directory.
        resume_truncates: True in ``fit`` (see the module docstring), False for validate/test/predict. The
            ``lit-translate`` trainer sets it when ``fit`` starts. Default: True.
    """

    def __init__(self, save_dir: str, resume_truncates: bool = True) -> None:
        super().__init__()
        self._save_dir = str(save_dir)
        self.resume_truncates = resume_truncates
        self._rows: list[dict[str, Any]] = []
        self._keys: list[str] = []
        self._previous: list[dict[str, Any]] | None = None
        self._opened = False

    @property
    @override
    def name(self) -> str:
        return ""

    @property
    @override
    def version(self) -> str:
        return ""

    @property
    @override
    def save_dir(self) -> str:
        return self._save_dir

    @property
    @override
    def root_dir(self) -> str:
        return self._save_dir

    @property
    @override
    def log_dir(self) -> str:
        return self._save_dir

    @property
    def metrics_file_path(self) -> str:
        """Return the path of ``metrics.csv``."""
        return os.path.join(self._save_dir, METRICS_FILE)

    @override
    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        pass  # the run's config.yaml is the record of the hyper-parameters

    @override
    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._open()
        row = {key: value.item() if isinstance(value, Tensor) else value for key, value in metrics.items()}
        row["step"] = len(self._rows) if step is None else step
        self._rows.append(row)

    @override
    @rank_zero_only
    def save(self) -> None:
        if not self._rows:
            return
        if self._previous is not None:
            self._merge_previous()
            return
        new_keys = set().union(*self._rows) - set(self._keys)
        exists = os.path.isfile(self.metrics_file_path)
        if new_keys:
            self._keys = sorted({*self._keys, *new_keys})
            if exists:  # the header changes: rewrite the file with the new columns
                with open(self.metrics_file_path, newline="") as f:
                    self._write([*csv.DictReader(f), *self._rows])
                self._rows = []
                return
        with open(self.metrics_file_path, "a" if exists else "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._keys)
            if not exists:
                writer.writeheader()
            writer.writerows(self._rows)
        self._rows = []

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        self.save()

    def _open(self) -> None:
        """At the first logged row: remember the rows an earlier process of the run left in ``metrics.csv``."""
        if self._opened:
            return
        self._opened = True
        os.makedirs(self._save_dir, exist_ok=True)
        if os.path.isfile(self.metrics_file_path):
            with open(self.metrics_file_path, newline="") as f:
                self._previous = list(csv.DictReader(f))

    def _merge_previous(self) -> None:
        """First save of a process that found an existing file: previous rows (truncated in fit) + new rows."""
        previous, self._previous = self._previous or [], None
        if self.resume_truncates:
            first = min(int(row["step"]) for row in self._rows)
            previous = [row for row in previous if row.get("step", "") != "" and int(row["step"]) < first]
        self._keys = sorted(set().union(*previous, *self._rows))
        self._write([*previous, *self._rows])
        self._rows = []

    def _write(self, rows: list[dict[str, Any]]) -> None:
        """Replace ``metrics.csv`` atomically with ``rows`` under the current header."""
        tmp = self.metrics_file_path + ".tmp"
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._keys)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, self.metrics_file_path)


def wandb_run_id(checkpoint: str | os.PathLike[str] | None) -> str | None:
    """Return the W&B run id stored in a lit_translate checkpoint file, or None (no file, or no W&B run in it).

    :class:`~lit_translate.callbacks.RunCheckpoint` stores the id of the run's first W&B logger in its state.
    """
    if checkpoint is None or not Path(checkpoint).is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    for callback_state in state.get("callbacks", {}).values():
        if isinstance(callback_state, dict) and callback_state.get("wandb_run_id"):
            return str(callback_state["wandb_run_id"])
    return None


def resume_wandb_run(trainer: Trainer, ckpt_path: str | os.PathLike[str] | None) -> str | None:
    """Before ``trainer.fit(ckpt_path=...)``: make its W&B loggers continue the W&B run of the restored checkpoint.

    The checkpoint is the file Lightning will restore (``"last"``, ``"hpc"``, ``"best"`` or a path, resolved as
    Lightning does), not a guess such as ``checkpoints/last.ckpt``. A W&B logger configured with an explicit
    ``id`` keeps it.

    Returns:
        The W&B run id resumed, or None (no W&B logger, nothing restored, or no W&B run in the checkpoint).
    """
    loggers = [logger for logger in trainer.loggers if isinstance(logger, WandbLogger) and logger.version is None]
    if not loggers:
        return None
    run_id = wandb_run_id(compat.fit_checkpoint_path(trainer, None if ckpt_path is None else str(ckpt_path)))
    if run_id is None:
        return None
    for logger in loggers:
        compat.set_wandb_run_id(logger, run_id)
    rank_zero_info(f"Resuming W&B run {run_id}")
    return run_id


def log_run_config(trainer: Trainer, config: dict[str, Any], config_file: str | os.PathLike[str] | None) -> None:
    """Log the whole resolved config into the trainer's W&B runs and attach the run's ``config.yaml``.

    Call on global rank 0. Every section (``trainer``, ``model``, ``data``, ``checkpoint``, ``metrics``, ...) goes
    into the W&B run config (nested: ``trainer.max_epochs``); a resumed fit updates it. ``config.yaml`` is copied
    into the W&B run's files as :data:`WANDB_CONFIG_FILE` (a copy: the run directory's ``config.yaml`` is rewritten
    on resume, and each offline folder keeps the config it ran with).
    """
    for logger in trainer.loggers:
        if not isinstance(logger, WandbLogger):
            continue
        run = logger.experiment
        run.config.update(config, allow_val_change=True)
        if config_file is None or not Path(config_file).is_file() or run.settings.mode == "disabled":
            continue
        copy = Path(run.dir) / WANDB_CONFIG_FILE
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config_file, copy)
        run.save(str(copy), base_path=run.dir, policy="now")


__all__ = ["METRICS_FILE", "WANDB_CONFIG_FILE", "RunCSVLogger", "log_run_config", "resume_wandb_run", "wandb_run_id"]
