"""The effective command line: the run's config for ``--ckpt_path`` without ``-c``, ``sys.argv`` while parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_info

from lit_translate.errors import InputError


def with_run_config(args: list[str]) -> list[str]:
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
        raise InputError(f"--ckpt_path {ckpt} needs the run's config: add -c RUN_DIR/config.yaml, or pass a .ckpt file")
    if not Path(ckpt).is_file():
        raise InputError(f"checkpoint {ckpt} (--ckpt_path) does not exist")
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
            raise InputError(
                f"{path} holds no model configuration (it was not written by lit-translate fit) and no "
                f"config.yaml is next to it; pass -c CONFIG"
            )
        init_args = {k: v for k, v in stored.items() if not k.startswith("_")}
        config[section] = {"class_path": class_path, "init_args": init_args}
    rank_zero_info(f"No config.yaml next to {path}: using the model and data arguments stored in it")
    return json.dumps(config)


@contextmanager
def command_line(args: list[str]) -> Iterator[None]:
    """Make ``sys.argv`` the effective command line (LightningCLI parses it; DDP launchers re-run it)."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else "lit-translate", *args]
    try:
        yield
    finally:
        sys.argv = saved


__all__ = ["checkpoint_config", "command_line", "with_run_config"]
