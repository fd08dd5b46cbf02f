"""The ``lit-translate`` command: LightningCLI with run directories, forced callbacks and resume.

``lit-translate fit|validate|test|predict -c CONFIG [-c CONFIG ...] [--key value ...]``; later ``-c`` files and
later flags win. Every run lives in ``trainer.default_root_dir``: ``config.yaml`` (the resolved config),
``checkpoints/`` (``last.ckpt`` + periodic), ``samples/`` (PNG grids), TensorBoard and CSV logs. The same command
with ``--ckpt_path last`` resumes into the same directory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lit_translate.callbacks import (
    EnvironmentCheck,
    Preemption,
    RankSyncCheck,
    RunCheckpoint,
    SampleGrid,
    TranslationWriter,
)
from lit_translate.evaluation import EvaluationReport, TranslationMetrics
from lit_translate.loggers import log_run_config
from lit_translate.methods.base import TranslationModule
from lit_translate.trainer import DEFAULT_ROOT, RunTrainer


class RunConfigSaver(SaveConfigCallback):
    """Save the resolved config as ``<run dir>/config.yaml`` when fitting (overwritten on resume).

    W&B loggers also get the whole resolved config and a copy of ``config.yaml`` (:func:`log_run_config`).
    """

    @override
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            # ``trainer.log_dir`` is a collective (it broadcasts rank 0's answer): resolve it here, on every rank,
            # never in ``save_config``, which only rank 0 runs (a rank-0-only broadcast hangs DDP).
            self._log_dir = Path(trainer.log_dir or DEFAULT_ROOT)
            super().setup(trainer, pl_module, stage)

    @override
    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        log_run_config(trainer, config, self._log_dir / self.config_filename)


class TranslateCLI(LightningCLI):
    """LightningCLI for translation methods (``--model`` and ``--data`` take any importable subclass)."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            model_class=TranslationModule,
            datamodule_class=LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_class=RunTrainer,  # run-directory loggers, atomic checkpoints (lit_translate/trainer.py)
            auto_configure_optimizers=False,  # methods own their optimizers (two or more)
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
            args=args,
            run=run,
        )

    @override
    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(RunCheckpoint, "checkpoint")
        parser.add_lightning_class_args(Preemption, "preemption")
        parser.add_lightning_class_args(SampleGrid, "samples")
        parser.add_lightning_class_args(TranslationWriter, "predict_writer")
        parser.add_lightning_class_args(RankSyncCheck, "rank_sync")
        parser.add_lightning_class_args(TranslationMetrics, "metrics")
        parser.add_lightning_class_args(EvaluationReport, "report")
        parser.add_lightning_class_args(EnvironmentCheck, "environment")  # GPU recipes warn when on CPU
        parser.set_defaults({"trainer.default_root_dir": DEFAULT_ROOT})

    def _run_config(self) -> Namespace:
        return self.config[self.subcommand] if self.subcommand else self.config

    @override
    def before_instantiate_classes(self) -> None:
        config = self._run_config()
        root = Path(config.trainer.default_root_dir or DEFAULT_ROOT)
        if config.checkpoint.dirpath is None:
            config.checkpoint.dirpath = str(root / "checkpoints")
        if config.samples.dirpath is None:
            config.samples.dirpath = str(root / "samples")
        loggers = config.trainer.logger
        for logger in loggers if isinstance(loggers, list) else [loggers]:
            if isinstance(logger, Namespace) and str(logger.get("class_path", "")).endswith("WandbLogger"):
                if logger.init_args.get("save_dir") in (None, "."):
                    logger.init_args.save_dir = str(root)  # offline runs go to <run dir>/wandb
                if logger.init_args.get("resume") is None:
                    # jsonargparse fills wandb.init's resume=None, which overrides WandbLogger's "allow": the W&B
                    # run of a resumed fit (RunTrainer.fit sets its id) is then not marked as resumed, and an offline
                    # folder without that mark replaces the earlier history when synced.
                    logger.init_args.resume = "allow"

    def after_fit(self) -> None:
        """Print where the run's files are."""
        root = Path(self.trainer.default_root_dir)
        checkpoint = self.trainer.checkpoint_callback
        grids = [cb for cb in self.trainer.callbacks if isinstance(cb, SampleGrid)]
        lines = [f"Run directory: {root}", f"  config:           {root / 'config.yaml'}"]
        if isinstance(checkpoint, RunCheckpoint) and checkpoint.last_model_path:
            lines.append(f"  last checkpoint:  {checkpoint.last_model_path}")
        if grids and grids[0].last_path is not None:
            lines.append(f"  sample grid:      {grids[0].last_path}")
        val = {k: float(v) for k, v in self.trainer.callback_metrics.items() if k.startswith("val/")}
        if val:
            lines.append("  validation:       " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(val.items())))
        lines.append("  resume with:      the same command plus --ckpt_path last")
        rank_zero_info("\n".join(lines))


def _with_run_config(args: list[str]) -> list[str]:
    """Check ``--ckpt_path`` of ``predict``/``validate``/``test`` and, without ``-c``, add the run's config.

    The run's config is its ``config.yaml`` (``<run>/checkpoints/x.ckpt`` -> ``<run>/config.yaml``) or, for a
    checkpoint outside its run directory, the model and data arguments stored in the checkpoint.
    """
    if not args or args[0] not in {"predict", "validate", "test"}:
        return args
    ckpt = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--ckpt_path"), None)
    ckpt = ckpt or next((a.split("=", 1)[1] for a in args if a.startswith("--ckpt_path=")), None)
    has_config = any(a in {"-c", "--config"} or a.startswith("--config=") for a in args)
    if ckpt is None or (has_config and ckpt in {"last", "best", "hpc", "registry"}):
        return args
    if ckpt in {"last", "best", "hpc", "registry"}:
        raise SystemExit(
            f"error: --ckpt_path {ckpt} needs the run's config: add -c RUN_DIR/config.yaml, or pass a .ckpt file"
        )
    if not Path(ckpt).is_file():
        raise SystemExit(f"error: checkpoint {ckpt} (--ckpt_path) does not exist")
    if has_config:
        return args
    path = Path(ckpt).resolve()
    config = path.parent.parent / "config.yaml"
    if path.parent.name == "checkpoints" and config.is_file():
        return [args[0], "-c", str(config), *args[1:]]
    return [args[0], "-c", checkpoint_config(path), *args[1:]]


def checkpoint_config(path: Path) -> str:
    """Return the ``model:`` and ``data:`` config stored in a checkpoint by ``lit-translate fit``, as JSON.

    LightningCLI saves each class's init arguments (``hyper_parameters``, ``datamodule_hyper_parameters``) with
    its ``_class_path``; that is enough to rebuild the model and the DataModule for predict/validate/test.
    """
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    config: dict[str, Any] = {}
    for key, section in (("hyper_parameters", "model"), ("datamodule_hyper_parameters", "data")):
        stored = dict(checkpoint.get(key) or {})
        class_path = stored.pop("_class_path", None)
        if class_path is None:
            if section == "data":
                continue
            raise SystemExit(
                f"error: {path} holds no model configuration (it was not written by lit-translate fit) and no "
                f"config.yaml is next to it; pass -c CONFIG"
            )
        init_args = {k: v for k, v in stored.items() if not k.startswith("_")}
        config[section] = {"class_path": class_path, "init_args": init_args}
    rank_zero_info(f"No config.yaml next to {path}: using the model and data arguments stored in it")
    return json.dumps(config)


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-translate`` and ``python -m lit_translate``.

    ``lit-translate wandb-sync RUN_DIR`` uploads a run's offline W&B folders (:mod:`lit_translate.wandb_sync`).
    """
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["wandb-sync"]:
        from lit_translate.wandb_sync import main as wandb_sync

        raise SystemExit(wandb_sync(argv[1:]))
    TranslateCLI(args=_with_run_config(argv))


__all__ = ["TranslateCLI", "main"]
