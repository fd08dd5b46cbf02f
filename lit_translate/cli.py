"""The ``lit-translate`` command: LightningCLI with run directories, forced callbacks and resume.

``lit-translate fit|validate|test|predict -c CONFIG [-c CONFIG ...] [--key value ...]``; later ``-c`` files and
later flags win. Every run lives in ``trainer.default_root_dir``: ``config.yaml`` (the resolved config),
``checkpoints/`` (``last.ckpt`` + periodic), ``samples/`` (PNG grids), TensorBoard and CSV logs. The same command
with ``--ckpt_path last`` resumes into the same directory (``--ckpt_path auto``: resume if there is a checkpoint,
else start); a new ``fit`` into a directory that holds a run is refused unless ``--overwrite true``.

Bad input (:class:`~lit_translate.errors.InputError`: configuration mistakes, data and pretrained files, output
folders, wherever it is found before training) ends with ``error: <what is wrong and the fix>`` and exit status 2
(``LIT_TRANSLATE_TRACEBACK=1`` shows the traceback); a run stopped by Ctrl-C or SIGTERM exits with 130 / 143.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import ArgumentError, Namespace
from jsonargparse import DefaultHelpFormatter as _JsonargparseHelp
from lightning.pytorch import LightningDataModule, Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.utilities import rank_zero_info, rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from typing_extensions import override

from lit_translate.callbacks import (
    EnvironmentCheck,
    Preemption,
    RankSyncCheck,
    RunCheckpoint,
    SampleGrid,
    SpeedOptions,
    TranslationWriter,
)
from lit_translate.callbacks.preemption import INTERRUPTS
from lit_translate.cli_help import full_help_args, help_description, short_help
from lit_translate.errors import InputError
from lit_translate.evaluation import EvaluationReport, TranslationMetrics
from lit_translate.methods.base import TranslationModule
from lit_translate.run.command import command_line, with_run_config
from lit_translate.run.config_checks import (
    TRACEBACK_ENV,
    ConfigError,
    check_fit,
    explain_error,
    explain_parse_error,
)
from lit_translate.run.directory import finished_lines, last_checkpoint, prepare_fit
from lit_translate.run.loggers import log_run_config
from lit_translate.run.strategies import GANDDPStrategy  # noqa: F401  (importing it registers strategy: gan_ddp)
from lit_translate.run.trainer import DEFAULT_ROOT, RunTrainer

RANK_GRACE_S = 10.0
"""How long a DDP rank other than 0 waits for rank 0 to end it before it reports a bad-input error itself."""


class RunConfigSaver(SaveConfigCallback):
    """Save the resolved config as ``<run dir>/config.yaml`` when training starts (overwritten on resume).

    Not at set-up: a ``fit`` that fails before training starts (a wrong ``--data.root``, a missing pretrained
    file) leaves no ``config.yaml``, so the directory holds no run and the corrected command just starts, and a
    failed resume does not replace the config of the run it would have resumed. W&B loggers also get the whole
    resolved config and a copy of ``config.yaml`` (:func:`log_run_config`).
    """

    @override
    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        pass  # see on_train_start

    @override
    def on_train_start(self, trainer: Trainer, pl_module: Any) -> None:
        # ``trainer.log_dir`` is a collective (it broadcasts rank 0's answer): resolve it here, on every rank,
        # never in ``save_config``, which only rank 0 runs (a rank-0-only broadcast hangs DDP).
        self._log_dir = Path(trainer.log_dir or DEFAULT_ROOT)
        super().setup(trainer, pl_module, "fit")

    @override
    def save_config(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        config = yaml.safe_load(self.parser.dump(self.config, skip_none=False))
        log_run_config(trainer, config, self._log_dir / self.config_filename)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, _JsonargparseHelp):
    """jsonargparse's help (types, defaults) with the description's line breaks kept."""


class TranslateCLI(LightningCLI):
    """LightningCLI for translation methods (``--model`` and ``--data`` take any importable subclass).

    Args:
        args: the command-line arguments; None = ``sys.argv[1:]``.
        run: run the subcommand (``fit``, ...); False only parses and instantiates.
        friendly_errors: raise configuration mistakes as one-line :class:`ConfigError` (``lit-translate`` does);
            False keeps LightningCLI's behaviour (usage and exit for parse errors, the original exceptions).
    """

    def __init__(self, args: list[str] | None = None, run: bool = True, friendly_errors: bool = False) -> None:
        self.friendly_errors = friendly_errors
        super().__init__(
            model_class=TranslationModule,
            datamodule_class=LightningDataModule,
            subclass_mode_model=True,
            subclass_mode_data=True,
            trainer_class=RunTrainer,  # run-directory loggers, atomic checkpoints (lit_translate/run/trainer.py)
            auto_configure_optimizers=False,  # methods own their optimizers (two or more)
            save_config_callback=RunConfigSaver,
            save_config_kwargs={"overwrite": True},
            seed_everything_default=0,
            parser_kwargs={
                "prog": "lit-translate",
                "description": help_description(),
                "formatter_class": _HelpFormatter,
                "exit_on_error": not friendly_errors,
            },
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
        parser.add_lightning_class_args(SpeedOptions, "speed")  # channels_last, compile, TF32, cudnn.benchmark
        parser.add_argument(
            "--overwrite",
            type=bool,
            default=False,
            help="fit only: start a new run in a run directory that holds one, deleting its checkpoints, logs, "
            "samples and config (without it such a fit is refused; resume with --ckpt_path last instead)",
        )
        parser.set_defaults({"trainer.default_root_dir": DEFAULT_ROOT})

    @override
    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        try:
            super().parse_arguments(parser, args)
        except ArgumentError as err:
            if not self.friendly_errors:
                raise
            raise ConfigError(explain_parse_error(str(err), self._option_strings())) from err
        if self.config.get("subcommand") == "fit":
            # Before anything reads ckpt_path (W&B resume, Lightning): "auto" and "last" resolved, run dir checked.
            prepare_fit(self.config["fit"], DEFAULT_ROOT)

    def _option_strings(self) -> list[str]:
        """Return every ``--option`` of the command and its subcommands (for "did you mean")."""
        parsers = [self.parser]
        for action in self.parser._actions:  # the subcommands action maps names to their parsers
            if isinstance(getattr(action, "choices", None), dict):
                parsers += list(action.choices.values())
        return [option for parser in parsers for action in parser._actions for option in action.option_strings]

    @override
    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        # The model and the DataModule exist now: check what only they can tell (image size, channels,
        # optimizers) before the Trainer starts printing and long before training starts.
        if self.subcommand == "fit":
            check_fit(self.model, self.datamodule, self._run_config().get("model"))
        return super().instantiate_trainer(**kwargs)

    @override
    def instantiate_classes(self) -> None:
        try:
            super().instantiate_classes()
        except (ValueError, TypeError, FileNotFoundError, ImportError, AttributeError) as err:
            if not self.friendly_errors or isinstance(err, InputError):
                raise
            raise ConfigError(explain_error(err)) from err

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
        """Print where the run's files are, and how to resume it or, when it is finished, to train longer."""
        trainer = self.trainer
        root = Path(trainer.default_root_dir)
        checkpoint = trainer.checkpoint_callback
        grids = [cb for cb in trainer.callbacks if isinstance(cb, SampleGrid)]
        lines = [f"Run directory: {root}", f"  config:           {root / 'config.yaml'}"]
        last = checkpoint.last_model_path if isinstance(checkpoint, RunCheckpoint) else None
        if isinstance(checkpoint, RunCheckpoint) and not last and checkpoint.dirpath:
            last = last_checkpoint(Path(checkpoint.dirpath))  # a finished run run again saves nothing new
        if last:
            lines.append(f"  last checkpoint:  {last}")
        if grids and grids[0].last_path is not None:
            lines.append(f"  sample grid:      {grids[0].last_path}")
        val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
        if val:
            lines.append("  validation:       " + ", ".join(f"{k}={v:.4g}" for k, v in sorted(val.items())))
        stop = [cb for cb in trainer.callbacks if isinstance(cb, Preemption) and cb.stopped_by]
        if stop:
            lines.append(f"  stopped by:       {stop[0].stopped_by} at step {trainer.global_step}")
        finished = [] if stop else finished_lines(trainer)
        lines += finished or ["  resume with:      the same command plus --ckpt_path last"]
        rank_zero_info("\n".join(lines))


def _fail(message: str, status: int) -> None:
    sys.stderr.write(f"{message}\n")
    raise SystemExit(status)


class InputExit(SystemExit, InputError):
    """How ``lit-translate`` ends on bad input, once ``error: <message>`` is printed: exit status 2.

    Also an :class:`~lit_translate.errors.InputError` (a ``ValueError``) whose ``str()`` is that line, for code
    that calls :func:`main` in Python and catches the error.
    """

    def __init__(self, line: str) -> None:
        super().__init__(2)
        self.line = line

    def __str__(self) -> str:
        return self.line


def _input_error(err: InputError) -> None:
    """Print ``error: <message>`` and exit with status 2; a DDP rank other than 0 first lets rank 0 say it.

    Every rank raises the same error before training (the set-up scan is broadcast, each rank loads the same
    files); rank 0 ends the ranks it launched (``RunTrainer``), so the error prints once. A rank whose rank 0 did
    not fail (or a torchrun worker, which its agent ends) prints it after :data:`RANK_GRACE_S`: it never hangs.
    """
    if rank_zero_only.rank > 0:
        time.sleep(RANK_GRACE_S)
    line = f"error: {err}"
    sys.stderr.write(f"{line}\n")
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # A DDP rank: the interpreter's exit would tear down the process group's threads and abort (gloo:
        # "terminate called without an active exception", status -6); leave at once with the error's status.
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(2)
    raise InputExit(line) from err


def main(args: list[str] | None = None) -> None:
    """Entry point of ``lit-translate`` and ``python -m lit_translate``.

    ``lit-translate wandb-sync RUN_DIR`` uploads a run's offline W&B folders (:mod:`lit_translate.run.wandb_sync`);
    ``lit-translate export`` writes a checkpoint's generator as ONNX / TorchScript / torch.export
    (:mod:`lit_translate.export.command`).
    Exit status: 0 (done, or stopped by SLURM's warning signal and requeued), 2 (bad input, any
    :class:`~lit_translate.errors.InputError` before training: a configuration mistake, a data or pretrained file,
    an output folder; ``error: <message>``; ``LIT_TRANSLATE_TRACEBACK=1`` raises it with its traceback),
    130 / 143 (stopped by Ctrl-C / SIGTERM, checkpoint written; or aborted by a second Ctrl-C).
    """
    argv = list(sys.argv[1:] if args is None else args)
    if argv[:1] == ["wandb-sync"]:
        from lit_translate.run.wandb_sync import main as wandb_sync

        raise SystemExit(wandb_sync(argv[1:]))
    if argv[:1] == ["export"]:
        from lit_translate.export.command import main as export_main

        raise SystemExit(export_main(argv[1:]))
    if argv[:1] == ["predict"] and "--engine" in argv:
        from lit_translate.export.command import engine_args

        argv = engine_args(argv)
    installed = INTERRUPTS.install()
    try:
        text = short_help(
            argv, TranslateCLI
        )  # SUBCOMMAND [-c RECIPE] --help, --model.help METHOD (the full help: --help all)
        if text is not None:
            print(text)
            return
        with command_line(with_run_config(full_help_args(argv))):
            cli = TranslateCLI(friendly_errors=True)
    except InputError as err:
        if os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
            raise
        _input_error(err)
    except KeyboardInterrupt:
        _fail("lit-translate: interrupted (Ctrl-C)", 130)
    except SIGTERMException:
        _fail("lit-translate: stopped by SIGTERM before training started", 143)
    except SystemExit as exc:
        if INTERRUPTS.aborted and exc.code not in (0, None):
            _fail("lit-translate: aborted by Ctrl-C; the checkpoints written before are kept", 130)
        raise
    finally:
        if installed:
            INTERRUPTS.restore()
    stop = [cb for cb in getattr(cli.trainer, "callbacks", []) if isinstance(cb, Preemption)]
    status = stop[0].exit_status if stop else None
    if status:
        raise SystemExit(status)


__all__ = ["InputExit", "TranslateCLI", "help_description", "main"]
