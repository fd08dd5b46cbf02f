"""The short help of ``lit-translate``: the method's, its nets' and the data's arguments, and how runs resume.

``lit-translate fit -c RECIPE --help`` prints the arguments of the recipe's method, of each of its networks and
of its DataModule with their values (and the default where the recipe changes it), the common trainer options
and what ``--ckpt_path`` takes; without ``-c`` it lists the methods and recipes. ``--model.help METHOD`` prints a
method's arguments and defaults. ``--help all`` is LightningCLI's complete list (about 1,500 lines).
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import docstring_parser
from jsonargparse import Namespace

from lit_translate.errors import InputError
from lit_translate.run.command import command_line, with_run_config
from lit_translate.run.config_checks import available_methods

SUBCOMMANDS = ("fit", "validate", "test", "predict")
HELP_FLAGS = ("-h", "--help")
METHOD_HELP = ("--model.help", "--model.init_args.help")
TRAINER_KEYS = ("default_root_dir", "max_epochs", "max_steps", "accelerator", "devices", "precision", "strategy")
CHECKPOINT_KEYS = ("every_n_epochs", "every_n_train_steps", "train_time_interval", "keep_periodic", "monitor")
CKPT_PATH_HELP = (
    "--ckpt_path (fit: where training continues from; validate/test/predict: the weights):",
    "  last   resume this run from its checkpoints/last.ckpt (an error naming the folder if there is none)",
    "  auto   resume from last.ckpt if the run has one, else start a new run (job scripts that are requeued)",
    "  hpc    Lightning's SLURM requeue checkpoint (hpc_ckpt_*.ckpt in the run directory)",
    "  FILE   a checkpoint file; validate/test/predict without -c use the run's config.yaml next to it",
    "--overwrite true (fit): delete the run in --trainer.default_root_dir and start over (also with auto)",
)
WIDTH = 120
_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)(?<!etc)\.\s")
_ROLE = re.compile(r":\w+:`~?([^`]+)`")


def full_help_args(argv: list[str]) -> list[str]:
    """Return ``argv`` with ``--help all`` turned into ``--help`` (LightningCLI's complete help)."""
    for i, arg in enumerate(argv[:-1]):
        if arg in HELP_FLAGS and argv[i + 1] == "all":
            return [*argv[: i + 1], *argv[i + 2 :]]
    return argv


def help_description() -> str:
    """Return the ``lit-translate --help`` text: the project, its methods and recipes, how to start and resume."""
    configs = Path(__file__).resolve().parents[1] / "configs"
    configs = configs if configs.is_dir() else Path("configs")
    recipes = sorted(p for p in configs.glob("*/*.yaml") if p.parent.name != "trainer")
    root = configs.parent
    listed = "\n".join(f"  {p.relative_to(root) if p.is_relative_to(root) else p}" for p in recipes)
    return (
        "lit_translate: conditional image-to-image translation on PyTorch Lightning.\n\n"
        f"methods (--model.class_path):\n{chr(10).join('  ' + m for m in available_methods())}\n"
        f"recipes (-c FILE):\n{listed or '  (see configs/ in the repository)'}\n\n"
        "start:   lit-translate fit -c configs/pix2pix/demo.yaml\n"
        "resume:  the same command plus --ckpt_path last (or --ckpt_path auto: resume if there is a checkpoint)\n"
        "options: lit-translate fit -c RECIPE --help (every option: --help all); the resolved config: --print_config\n"
        "W&B:     lit-translate wandb-sync RUN_DIR uploads a run's offline W&B folders as one run"
    )


def short_help(argv: list[str], cli_class: type) -> str | None:
    """Return the short help that ``argv`` asks for, or None (not a help request, or ``--help all``)."""
    method = next((argv[i + 1] for i, a in enumerate(argv[:-1]) if a in METHOD_HELP), None)
    method = method or next((a.split("=", 1)[1] for a in argv if a.startswith("--model.help=")), None)
    if method is not None:
        return method_help(method)
    if not argv or argv[0] not in SUBCOMMANDS or not any(a in HELP_FLAGS for a in argv):
        return None
    if full_help_args(argv) != argv:
        return None
    try:
        argv = with_run_config(argv)  # predict/test --ckpt_path FILE without -c: the run's config
    except InputError:
        pass
    args = [a for a in argv[1:] if a not in HELP_FLAGS]
    config, problem = parsed_config(cli_class, argv[0], args)
    text = subcommand_help(argv[0], config)
    return f"{text}\n\nnote: the method could not be read from the command: {problem}" if args and problem else text


def parsed_config(cli_class: type, subcommand: str, args: list[str]) -> tuple[Namespace | None, str]:
    """Return the parsed (not instantiated) config of ``lit-translate SUBCOMMAND ARGS``, or None and why not."""
    from lightning.pytorch.cli import LightningCLI

    class Parsed(Exception):  # noqa: N818 - carries the config out of LightningCLI's constructor
        pass

    class ParseOnly(cli_class):
        def parse_arguments(self, parser: Any, args: Any) -> None:
            LightningCLI.parse_arguments(self, parser, args)  # not TranslateCLI's: no run-directory checks
            raise Parsed(self.config[subcommand])

    try:
        with command_line([subcommand, *args]):
            ParseOnly(friendly_errors=True)
    except Parsed as parsed:
        return parsed.args[0], ""
    except (Exception, SystemExit) as err:  # noqa: BLE001 - no method in the command yet: the general help
        return None, str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return None, ""


def subcommand_help(subcommand: str, config: Namespace | None) -> str:
    """Return the short help of a subcommand, for the method of ``config`` (None: no method given yet)."""
    lines = [f"usage: lit-translate {subcommand} -c RECIPE [-c MORE.yaml] [--KEY VALUE ...]", ""]
    if config is None or not isinstance(config.get("model"), Namespace):
        lines += [help_description(), "", "method options: lit-translate fit -c RECIPE --help, or --model.help METHOD"]
    else:
        lines += class_section("method", "--model.init_args", config.model)
        if isinstance(config.get("data"), Namespace):
            lines += ["", *class_section("data", "--data.init_args", config.data)]
        lines += ["", "trainer (--trainer.KEY VALUE):", *value_lines(config.trainer, TRAINER_KEYS, "  ")]
        if subcommand == "fit":
            lines += ["checkpoints (--checkpoint.KEY VALUE):", *value_lines(config.checkpoint, CHECKPOINT_KEYS, "  ")]
    lines += ["", *CKPT_PATH_HELP, ""]
    lines.append(f"every option (about 1,500 lines): lit-translate {subcommand} [-c RECIPE] --help all")
    lines.append("the resolved config: add --print_config")
    return "\n".join(lines)


def method_help(name: str) -> str:
    """Return the arguments and defaults of a method class (``Pix2Pix`` or ``lit_translate.methods.Pix2Pix``)."""
    candidates = [m for m in available_methods() if m == name or m.rsplit(".", 1)[1] == name]
    path = candidates[0] if candidates else name
    try:
        cls = import_class(path)
    except (ImportError, AttributeError, ValueError) as err:
        methods = ", ".join(m.rsplit(".", 1)[1] for m in available_methods())
        raise InputError(f"--model.help {name}: no such method; the methods: {methods}") from err
    init_args = Namespace()
    for key, parameter in inspect.signature(cls.__init__).parameters.items():
        if key != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            init_args[key] = "(required)" if parameter.default is inspect.Parameter.empty else parameter.default
    lines = class_section("method", "--model.init_args", Namespace(class_path=path, init_args=init_args))
    lines += ["", "a network's options: --model.init_args.KEY.help CLASS (e.g. lit_translate.nets.UnetGenerator)"]
    lines.append("a recipe's values: lit-translate fit -c configs/<method>/RECIPE.yaml --help")
    return "\n".join(lines)


def import_class(path: str) -> type:
    """Import ``package.module.Class``."""
    module, _, name = path.rpartition(".")
    if not module:
        raise ValueError(path)
    return getattr(importlib.import_module(module), name)


def class_section(title: str, prefix: str, node: Namespace) -> list[str]:
    """Return the lines of one configured class: its name, one line of its docstring, its arguments."""
    cls = _class_or_none(node.class_path)
    summary = _plain(_docs(cls).short_description or "") if cls is not None else ""
    lines = [f"{title}: {node.class_path}" + (f"  ({summary.rstrip(':.')})" if summary else "")]
    nets = f"; a network's: {prefix}.KEY.init_args.KEY VALUE" if title == "method" else ""
    lines.append(f"  set with {prefix}.KEY VALUE{nets}")
    return lines + argument_lines(cls, node.get("init_args") or Namespace(), "  ")


def argument_lines(cls: type | None, init_args: Namespace, indent: str) -> list[str]:
    """Return ``KEY  VALUE  (default D)  description`` lines; nested lit_translate classes get their own lines."""
    defaults, docs = _defaults(cls), _param_docs(cls)
    lines = []
    for key, value in vars(init_args).items():
        if isinstance(value, Namespace) and value.get("class_path"):
            nested = _class_or_none(value.class_path)
            if value.class_path.startswith("lit_translate."):
                lines.append(f"{indent}{key:<22} {value.class_path}")
                lines += argument_lines(nested, value.get("init_args") or Namespace(), indent + "  ")
                continue
            changed = {
                k: v for k, v in vars(value.get("init_args") or Namespace()).items() if v != _defaults(nested).get(k, v)
            }
            value = f"{value.class_path}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
        default = defaults.get(key, inspect.Parameter.empty)
        note = "" if default is inspect.Parameter.empty or default == value else f"  (default {_show(default)})"
        text = f"{indent}{key:<22} {_show(value)}{note}"
        lines.append(_with_doc(text, docs.get(key, "")))
    return lines


def value_lines(node: Namespace, keys: tuple[str, ...], indent: str) -> list[str]:
    """Return ``KEY  VALUE`` lines for ``keys`` of ``node``."""
    return [f"{indent}{key:<22} {_show(node.get(key))}" for key in keys if key in node]


def _with_doc(text: str, doc: str) -> str:
    room = WIDTH - len(text) - 4
    if not doc or room < 20:
        return text
    first = _SENTENCE_END.split(_plain(doc))[0].rstrip(".")
    return f"{text}  -- {first if len(first) <= room else first[: room - 3] + '...'}"


def _plain(text: str) -> str:
    """Return docstring text without reStructuredText markup (````code````, ``:meth:`x```)."""
    return _ROLE.sub(r"\1", text).replace("``", "")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _class_or_none(path: str) -> type | None:
    try:
        return import_class(path)
    except (ImportError, AttributeError, ValueError):
        return None


def _defaults(cls: type | None) -> dict[str, Any]:
    """Return the default of every keyword argument of ``cls`` and of the base classes its ``**kwargs`` reach."""
    defaults: dict[str, Any] = {}
    for klass in reversed(inspect.getmro(cls)) if cls is not None else ():
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            continue
        defaults |= {p.name: p.default for p in parameters if p.default is not inspect.Parameter.empty}
    return defaults


def _docs(cls: type) -> docstring_parser.Docstring:
    return docstring_parser.parse(inspect.getdoc(cls) or "")


def _param_docs(cls: type | None) -> dict[str, str]:
    """Return each argument's description from the ``Args:`` of ``cls`` and its base classes (own first)."""
    docs: dict[str, str] = {}
    for klass in inspect.getmro(cls) if cls is not None else ():
        for param in _docs(klass).params:
            docs.setdefault(param.arg_name, " ".join((param.description or "").split()))
    return docs


__all__ = ["full_help_args", "help_description", "method_help", "parsed_config", "short_help", "subcommand_help"]
