"""The run directory of a ``fit``: what ``--ckpt_path`` resumes, and never mixing a new run into an old one.

- ``--ckpt_path last``: resume from the run's ``last.ckpt``; an error naming the folder if there is none.
- ``--ckpt_path auto``: resume from ``last.ckpt`` if there is one, else start a new run (what a job script that
  is submitted and requeued with the same command needs).
- A checkpoint marked not resumable (``save_on_exception`` inside an iteration) is refused, naming the file.
- A ``fit`` that resumes nothing into a directory that already holds a run is refused; ``--overwrite true``
  deletes that run's files first (rank 0), also with ``--ckpt_path auto`` (start over, whatever is there).
- When a fit ends at its ``max_steps`` / ``max_epochs``, :func:`finished_lines` says how to train longer.
- A directory holds a run once training has started in it: its ``config.yaml`` (written when training starts),
  ``metrics.csv``, a checkpoint or a sample grid. A ``fit`` that failed during its set-up leaves none of these
  (``lit_translate/run/trainer.py`` removes the log files it created), so the corrected command simply starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_only

from lit_translate.callbacks.checkpoint import NOT_RESUMABLE, TMP_MARKER
from lit_translate.run.config_checks import ConfigError

LIGHTNING_CKPT_KEYWORDS = ("best", "hpc", "registry")
"""``--ckpt_path`` values Lightning resolves itself (within this run)."""
RUN_FILES = ("config.yaml", "hparams.yaml", "metrics.csv")
"""Files a ``fit`` writes into the run directory (besides ``events.out.tfevents.*``)."""
SETUP_FILES = ("hparams.yaml", "events.out.tfevents.*")
"""Run files that a ``fit`` creates before training starts: alone, they do not make a directory hold a run."""


def run_paths(config: Any, default_root: str) -> tuple[Path, Path, Path]:
    """Return the run directory, its checkpoint folder and its sample folder for a fit config."""
    root = Path(config.trainer.default_root_dir or default_root)
    checkpoint, samples = config.get("checkpoint"), config.get("samples")
    ckpt_dir = (
        Path(checkpoint.dirpath) if checkpoint is not None and checkpoint.get("dirpath") else root / "checkpoints"
    )
    sample_dir = Path(samples.dirpath) if samples is not None and samples.get("dirpath") else root / "samples"
    return root, ckpt_dir, sample_dir


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    """Return the newest ``last*.ckpt`` in ``ckpt_dir`` (the file Lightning's ``ckpt_path="last"`` loads), or None."""
    files = [p for p in ckpt_dir.glob("last*.ckpt") if p.is_file()] if ckpt_dir.is_dir() else []
    return max(files, key=lambda p: p.stat().st_mtime_ns) if files else None


def earlier_run_files(root: Path, ckpt_dir: Path, sample_dir: Path) -> list[Path]:
    """Return the files of an earlier run in ``root``: config, logs, checkpoints, sample grids."""
    files = [root / name for name in RUN_FILES if (root / name).is_file()]
    files += sorted(root.glob("events.out.tfevents.*")) if root.is_dir() else []
    files += sorted(ckpt_dir.glob("*.ckpt")) + sorted(ckpt_dir.glob(f".*{TMP_MARKER}*")) if ckpt_dir.is_dir() else []
    files += sorted(sample_dir.glob("*.png")) if sample_dir.is_dir() else []
    return files


def held_run_files(files: list[Path]) -> list[Path]:
    """Return those of :func:`earlier_run_files` that show training started (see the module docstring)."""
    return [path for path in files if not any(path.match(pattern) for pattern in SETUP_FILES)]


def resolve_ckpt_path(value: str | None, ckpt_dir: Path) -> str | None:
    """Return what Lightning gets for ``--ckpt_path``: ``auto`` resolved, ``last`` and file paths checked."""
    if value is None or value in LIGHTNING_CKPT_KEYWORDS:
        return value
    last = last_checkpoint(ckpt_dir)
    if value == "auto":
        if last is None:
            rank_zero_info(f"--ckpt_path auto: no checkpoint in {ckpt_dir}, starting a new run")
            return None
        rank_zero_info(f"--ckpt_path auto: resuming from {last}")
        return "last"
    if value == "last":
        if last is None:
            where = "does not exist" if not ckpt_dir.is_dir() else "holds no last.ckpt"
            raise ConfigError(
                f"--ckpt_path last: nothing to resume, {ckpt_dir} {where}; start the run without --ckpt_path, use "
                f"--ckpt_path auto (resumes only if there is a checkpoint), or check --trainer.default_root_dir"
            )
        return value
    if "://" not in value and not Path(value).is_file():
        raise ConfigError(f"--ckpt_path {value}: no such checkpoint file")
    return value


def check_resumable(path: Path) -> None:
    """Refuse a checkpoint that was marked not resumable when it was written (e.g. mid-iteration on an error)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - unreadable here: Lightning reports it with the full error
        return
    reason = checkpoint.get(NOT_RESUMABLE) if isinstance(checkpoint, dict) else None
    if reason:
        raise ConfigError(
            f"--ckpt_path {path}: this checkpoint cannot resume training exactly ({reason}); resume from the run's "
            f"last.ckpt with --ckpt_path last, or use this file only to inspect, validate, test or predict"
        )


def prepare_fit(config: Any, default_root: str) -> None:
    """Resolve ``config.ckpt_path`` and check (or clear, with ``overwrite``) the run directory, in place.

    Raises:
        ConfigError: nothing to resume, a checkpoint that is not resumable, or an earlier run in the way.
    """
    root, ckpt_dir, sample_dir = run_paths(config, default_root)
    overwrite, config.overwrite = bool(config.get("overwrite", False)), False  # an action, not a run property
    if overwrite and config.get("ckpt_path") == "auto":
        config.ckpt_path = None  # "resume if possible" yields to "start over" (make demo ARGS="--overwrite true")
    ckpt_path = resolve_ckpt_path(config.get("ckpt_path"), ckpt_dir)
    config.ckpt_path = ckpt_path
    resumed = last_checkpoint(ckpt_dir) if ckpt_path == "last" else Path(ckpt_path) if ckpt_path else None
    if resumed is not None and "://" not in str(resumed):
        check_resumable(resumed)
    same_run = ckpt_path in (*LIGHTNING_CKPT_KEYWORDS, "last") or (
        resumed is not None and resumed.resolve().parent == ckpt_dir.resolve()
    )
    if same_run:
        if overwrite:
            rank_zero_info("--overwrite ignored: this fit resumes the run in place")
        return
    existing = earlier_run_files(root, ckpt_dir, sample_dir)
    held = held_run_files(existing)
    if not held:
        return
    if not overwrite:
        shown = ", ".join(str(p.relative_to(root)) if p.is_relative_to(root) else str(p) for p in held[:3])
        more = f" and {len(held) - 3} more" if len(held) > 3 else ""
        resume = "resume it with --ckpt_path last" if last_checkpoint(ckpt_dir) else "it has no checkpoint to resume"
        raise ConfigError(
            f"{root} already holds a run ({shown}{more}): {resume}, choose another --trainer.default_root_dir, or "
            f"pass --overwrite true to delete that run and start again"
        )
    if rank_zero_only.rank == 0:
        for path in existing:
            path.unlink(missing_ok=True)
        rank_zero_info(f"--overwrite: deleted the earlier run's {len(existing)} files in {root}")


def finished_lines(trainer: Any) -> list[str]:
    """Return the lines saying that a fit reached ``max_steps`` / ``max_epochs``, and how to train longer.

    When every learning rate has decayed to 0 (the end of the demos' and recipes' linear decay), resuming with a
    higher limit would train at a zero (then negative) rate: a longer run is a new run with a longer schedule.
    """
    max_steps, max_epochs = trainer.max_steps, trainer.max_epochs
    if max_steps is not None and 0 <= max_steps <= trainer.global_step:
        limit, done, more = "max_steps", f"step {trainer.global_step} of {max_steps}", 2 * max(max_steps, 1)
    elif max_epochs is not None and 0 <= max_epochs <= trainer.current_epoch:
        limit, done, more = "max_epochs", f"epoch {trainer.current_epoch} of {max_epochs}", 2 * max(max_epochs, 1)
    else:
        return []
    rates = [group["lr"] for optimizer in trainer.optimizers for group in optimizer.param_groups]
    if rates and all(rate <= 0 for rate in rates):
        longer = (
            f"its learning rate schedule has ended (lr 0): start a longer run, the same command plus --overwrite "
            f"true, a higher --trainer.{limit} and a schedule as long (--model.init_args.lr_scheduler)"
        )
    else:
        longer = f"the same command plus --ckpt_path last --trainer.{limit} {more} (any value above the current one)"
    return [
        f"  finished:         {done} (--trainer.{limit}); the same command again only reports this",
        f"  train longer:     {longer}",
    ]


__all__ = [
    "LIGHTNING_CKPT_KEYWORDS",
    "RUN_FILES",
    "SETUP_FILES",
    "check_resumable",
    "earlier_run_files",
    "finished_lines",
    "held_run_files",
    "last_checkpoint",
    "prepare_fit",
    "resolve_ckpt_path",
    "run_paths",
]
