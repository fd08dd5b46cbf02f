"""``lit-translate export``: write a checkpoint's inference generator as ONNX, TorchScript or torch.export.

``lit-translate export --ckpt_path CK --format onnx|torchscript|exported_program --output FILE [--target NAME]
[--inference_mode eval|train]``. The graph is what ``translate_any_size`` computes (:mod:`.graph`); its metadata
(:mod:`.formats`) says what goes in and comes out. Bad input: one ``error:`` line, exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from pathlib import Path

import torch

from lit_translate.errors import InputError
from lit_translate.export.formats import FORMATS, save
from lit_translate.export.graph import export_graph
from lit_translate.methods.base import INFERENCE_MODES, TranslationModule


def load_method(path: Path) -> TranslationModule:
    """Load the method a ``lit-translate fit`` checkpoint holds (its class from the stored ``_class_path``), on CPU."""
    if not path.is_file():
        raise InputError(f"checkpoint {path} (--ckpt_path) does not exist")
    checkpoint = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    class_path = (checkpoint.get("hyper_parameters") or {}).get("_class_path")
    if not class_path:
        raise InputError(f"{path} holds no model class (it was not written by lit-translate fit)")
    module, _, name = str(class_path).rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    method = cls.load_from_checkpoint(path, map_location="cpu")
    return method.float().eval()


def parser() -> argparse.ArgumentParser:
    """Return the ``lit-translate export`` argument parser."""
    p = argparse.ArgumentParser(prog="lit-translate export", description=__doc__.split("\n\n")[0])
    p.add_argument("--ckpt_path", required=True, type=Path, help="a checkpoint written by lit-translate fit")
    p.add_argument("--format", required=True, choices=FORMATS, help="onnx, torchscript or exported_program (.pt2)")
    p.add_argument("--output", required=True, type=Path, help="the file to write")
    p.add_argument(
        "--target",
        default=None,
        help="the target to export (CycleGAN: AtoB or BtoA; StarGAN: a domain); default: the first target, "
        "StarGAN: the target label as an input",
    )
    p.add_argument(
        "--inference_mode",
        default=None,
        choices=INFERENCE_MODES,
        help="default: the method's declared mode (train: batch statistics of the input, dropout off)",
    )
    return p


def main(argv: list[str]) -> int:
    """Run ``lit-translate export ARGV``; return the exit status (2 after one ``error:`` line on bad input)."""
    args = parser().parse_args(argv)
    try:
        method = load_method(args.ckpt_path)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            graph, spec = export_graph(method, args.target, args.inference_mode)
        for warning in caught:
            if "exported graph" in str(warning.message):
                sys.stderr.write(f"warning: {warning.message}\n")
        save(graph, spec, args.format, args.output)
    except InputError as err:
        sys.stderr.write(f"error: {err}\n")
        return 2
    meta = spec.metadata
    print(
        f"wrote {args.output} ({args.format}): {meta['method']} target {meta['target']}, inputs {spec.inputs}, "
        f"inference_mode {meta['inference_mode']}, size_divisor {meta['size_divisor']}, scale {meta['scale']}"
    )
    return 0


def engine_args(argv: list[str]) -> list[str]:
    """Rewrite ``predict --engine onnx --model FILE ...`` into a predict run of :class:`~.engine.OnnxEngine`.

    The rest of the command (``-c RUN/config.yaml`` for the data, ``--data.init_args.predict_dir``, the writer's
    options) is kept.
    """
    args = list(argv)
    index = args.index("--engine")
    engine = args[index + 1] if index + 1 < len(args) else ""
    del args[index : index + 2]
    if engine != "onnx":
        raise SystemExit(_error(f"--engine must be onnx, not {engine!r}; without --engine predict runs PyTorch"))
    if "--model" not in args or args.index("--model") + 1 >= len(args):
        raise SystemExit(_error("predict --engine onnx needs --model FILE.onnx (written by lit-translate export)"))
    at = args.index("--model")
    path = args[at + 1]
    if not Path(path).is_file():
        raise SystemExit(_error(f"--model {path} does not exist"))
    del args[at : at + 2]  # last, so that a -c RUN/config.yaml (its model) given after --model does not win
    return [*args, "--model", "lit_translate.export.engine.OnnxEngine", "--model.init_args.path", path]


def _error(line: str) -> int:
    sys.stderr.write(f"error: {line}\n")
    return 2


__all__ = ["engine_args", "load_method", "main", "parser"]
