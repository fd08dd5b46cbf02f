"""The ``lit-translate`` command: LightningCLI with run directories, forced callbacks and resume.

``lit-translate fit|validate|test|predict -c CONFIG [-c CONFIG ...] [--key value ...]``; later ``-c`` files and
later flags win. Every run lives in ``trainer.default_root_dir``: ``config.yaml`` (the resolved config),
``checkpoints/`` (``last.ckpt`` + periodic), ``samples/`` (PNG grids), TensorBoard and CSV logs. The same command
with ``--ckpt_path last`` resumes into the same directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override

from lit_translate.callbacks import (
    AtomicCheckpointIO,
    Preemption,
    RankSyncCheck,
    RunCheckpoint,
    SampleGrid,
    TranslationWriter,
)
from lit_translate.evaluation import EvaluationReport, TranslationMetrics
from lit_translate.loggers import RunCSVLogger
from lit_translate.methods.base import TranslationModule
from lit_translate.strategies import GANDDPStrategy  # noqa: F401  (importing it registers strategy: gan_ddp)

DEFAULT_ROOT = "runs/default"


class RunConfigSaver(SaveConfigCallback):
    """Save the resolved config as ``<run dir>/config.yaml`` when fitting (overwritten on resume)."""

    @override
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        if stage == "fit":
            super().setup(trainer, pl_module, stage)


class TranslateCLI(LightningCLI):
    """LightningCLI for translation methods (``--model`` and ``--data`` take any importable subclass)."""

    def __init__(self, args: list[str] | None = None, run: bool = True) -> None:
        super().__init__(
            model_class=TranslationModule,
            datamodule_class=LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
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
                    logger.init_args.save_dir = str(root)
                if self.subcommand == "fit" and not logger.init_args.get("id"):
                    run_id = wandb_run_id(config.get("ckpt_path"), root)
                    if run_id is not None:  # a resumed run continues the same W&B run
                        logger.init_args.id = run_id
                        rank_zero_info(f"Resuming W&B run {run_id}")

    @override
    def _instantiate_trainer(self, config: dict[str, Any], callbacks: list[Any]) -> Trainer:
        root = config.get("default_root_dir") or DEFAULT_ROOT
        if config.get("logger") in (None, True):
            # One directory per run (no version_N folders), so that --ckpt_path last finds the run again.
            config["logger"] = [
                TensorBoardLogger(save_dir=root, name="", version=""),
                RunCSVLogger(save_dir=root, resume_truncates=self.subcommand == "fit"),
            ]
        if config.get("logger") is not False:
            callbacks = [*callbacks, LearningRateMonitor(logging_interval="epoch")]
        if config.get("enable_checkpointing") is False:  # honour it: drop the forced checkpoint callback
            callbacks = [cb for cb in callbacks if not isinstance(cb, RunCheckpoint)]
        plugins = config.get("plugins") or []
        plugins = list(plugins) if isinstance(plugins, list | tuple) else [plugins]
        if not any(isinstance(plugin, CheckpointIO) for plugin in plugins):
            plugins.append(AtomicCheckpointIO())  # a killed write never destroys the previous checkpoint
        config["plugins"] = plugins
        return super()._instantiate_trainer(config, callbacks)

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


def wandb_run_id(ckpt_path: str | None, root: Path) -> str | None:
    """Return the W&B run id stored in a checkpoint (``"last"`` = the run's ``last.ckpt``), or None."""
    if ckpt_path is None or ckpt_path in {"best", "hpc", "registry"}:
        return None
    path = root / "checkpoints" / "last.ckpt" if ckpt_path == "last" else Path(ckpt_path)
    if not path.is_file():
        return None
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    for state in checkpoint.get("callbacks", {}).values():
        if isinstance(state, dict) and state.get("wandb_run_id"):
            return str(state["wandb_run_id"])
    return None


def _with_run_config(args: list[str]) -> list[str]:
    """For ``predict``/``validate``/``test`` with ``--ckpt_path`` and no ``-c``, use the run's config.yaml."""
    if not args or args[0] not in {"predict", "validate", "test"}:
        return args
    if any(a in {"-c", "--config"} or a.startswith("--config=") for a in args):
        return args
    ckpt = next((args[i + 1] for i, a in enumerate(args[:-1]) if a == "--ckpt_path"), None)
    ckpt = ckpt or next((a.split("=", 1)[1] for a in args if a.startswith("--ckpt_path=")), None)
    if ckpt is None:
        return args
    config = Path(ckpt).resolve().parent.parent / "config.yaml"
    if not config.is_file():
        raise SystemExit(f"error: no -c CONFIG given and {config} (the run config next to {ckpt}) does not exist")
    return [args[0], "-c", str(config), *args[1:]]


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-translate`` and ``python -m lit_translate``."""
    argv = list(sys.argv[1:] if args is None else args)
    TranslateCLI(args=_with_run_config(argv))


__all__ = ["TranslateCLI", "main"]
