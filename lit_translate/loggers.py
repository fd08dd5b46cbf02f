"""Loggers that keep a run's history across resumes.

Lightning's ``CSVLogger`` deletes ``metrics.csv`` whenever it opens an existing run directory, so a resumed run
(or a later ``lit-translate test`` in the run directory) would lose the training history. ``RunCSVLogger`` keeps
it: in ``fit`` the previous rows from before the first step the new process logs are kept (rows a killed process
logged after its last checkpoint are logged again by the resumed run, so none repeats); in the other stages
every previous row is kept and the new ones are appended.
"""

from __future__ import annotations

import csv
import os
from typing import Any

from lightning.fabric.loggers.logger import rank_zero_experiment
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from typing_extensions import override


class HistoryWriter(ExperimentWriter):
    """A CSV writer that merges the rows already in ``metrics.csv`` instead of deleting them.

    Args:
        log_dir: the run directory.
        resume_truncates: drop previous rows whose step is at or after the first step logged by this process.
    """

    def __init__(self, log_dir: str, resume_truncates: bool) -> None:
        self._previous: list[dict[str, Any]] | None = None
        path = os.path.join(log_dir, self.NAME_METRICS_FILE)
        if os.path.isfile(path):
            with open(path, newline="") as f:
                self._previous = list(csv.DictReader(f))
        self._resume_truncates = resume_truncates
        super().__init__(log_dir)

    @override
    def _check_log_dir_exists(self) -> None:
        pass  # the parent deletes metrics.csv here

    @override
    def save(self) -> None:
        if self._previous is not None and self.metrics:
            previous, self._previous = self._previous, None
            if self._resume_truncates:
                first = min(int(row["step"]) for row in self.metrics)
                previous = [row for row in previous if row.get("step", "") != "" and int(row["step"]) < first]
            rows = [*previous, *self.metrics]
            self.metrics_keys = sorted(set().union(*rows))
            tmp = self.metrics_file_path + ".tmp"
            with open(tmp, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=self.metrics_keys)
                writer.writeheader()
                writer.writerows(rows)
            os.replace(tmp, self.metrics_file_path)
            self.metrics = []
            return
        super().save()


class RunCSVLogger(CSVLogger):
    """``CSVLogger`` writing ``<save_dir>/metrics.csv`` (no version folders) that keeps the run's history.

    Args:
        save_dir: the run directory.
        resume_truncates: True in ``fit`` (see the module docstring), False for validate/test/predict.
    """

    def __init__(self, save_dir: str, resume_truncates: bool = True) -> None:
        super().__init__(save_dir=save_dir, name="", version="")
        self._resume_truncates = resume_truncates

    @property
    @override
    @rank_zero_experiment
    def experiment(self) -> HistoryWriter:
        """Return the writer (created on first use)."""
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = HistoryWriter(self.log_dir, self._resume_truncates)
        return self._experiment
