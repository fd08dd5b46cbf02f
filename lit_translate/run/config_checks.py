"""Configuration mistakes as one line naming the key: parse errors explained, and checks run before training.

``lit-translate`` prints ``error: <line>`` and exits with status 2 for a :class:`ConfigError`
(``LIT_TRANSLATE_TRACEBACK=1`` shows the full traceback instead). Everything here asks the objects, never a
method's key paths: a method's generators (:meth:`~lit_translate.methods.TranslationModule.generator_for` and
their ``size_divisor``), the DataModule's ``input_channels`` and training image size, and any optimizer
configured anywhere under ``model``.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import inspect
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

import torch
from jsonargparse import Namespace
from lightning.pytorch import LightningDataModule
from torch import nn

from lit_translate.choices import check_choice
from lit_translate.errors import InputError

TRACEBACK_ENV = "LIT_TRANSLATE_TRACEBACK"
"""Set to 1 to get the full traceback of a configuration error instead of its one line."""

_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Errors:",
    "Given value type:",
    "Given value:",
    "Expected a <class 'NoneType'>",
)


class ConfigError(InputError):
    """A configuration mistake, explained in one line that names the key and the fix."""


# ------------------------------------------------------------------------------------------ what is available
def available_classes(module_name: str, base: type) -> list[str]:
    """Return the import paths of the public subclasses of ``base`` that ``module_name`` exports."""
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", dir(module))
    found = []
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isclass(obj) and issubclass(obj, base) and obj is not base and not inspect.isabstract(obj):
            found.append(f"{module_name}.{name}")
    return sorted(found)


def available_methods() -> list[str]:
    """Return the method classes of ``lit_translate.methods`` (the TranslationModule subclasses)."""
    from lit_translate.methods.base import TranslationModule

    return [p for p in available_classes("lit_translate.methods", TranslationModule) if not p.endswith("Module")]


def _candidates(key: str, class_path: str) -> tuple[str, list[str]]:
    """Return what a ``class_path`` under ``key`` may name: ``(description, import paths)``."""
    if key == "model":
        return "methods", available_methods()
    if key == "data":
        return "DataModules", available_classes("lit_translate.data", LightningDataModule)
    module_name = class_path.rpartition(".")[0]
    try:
        return f"classes in {module_name}", available_classes(module_name, nn.Module)
    except ImportError:
        return "", []


def _hint(value: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(value, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def constructor_options(class_path: str) -> list[str]:
    """Return the argument names of a class's constructor, following ``**kwargs`` into its base classes."""
    try:
        module_name, _, name = class_path.rpartition(".")
        cls = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError):
        return []
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        params = inspect.signature(klass.__init__).parameters.values()
        names += [p.name for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    return names


# ------------------------------------------------------------------------------------------- parse errors
def _innermost(message: str) -> tuple[list[tuple[str, str]], str]:
    """Split a jsonargparse error into its chain of ``("key"|"class", value)`` and the innermost message."""
    stack: list[tuple[int, str, str]] = []
    for raw in message.splitlines():
        text = raw.strip()
        if not text:
            continue
        indent = len(raw) - len(raw.lstrip())
        if text.startswith("- "):
            text, indent = text[2:], indent + 2
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = re.fullmatch(r'Parser key "([^"]+)":', text)
        klass = re.fullmatch(r"Problem with given class_path '([^']+)':", text)
        if key or klass:
            stack.append((indent, "key" if key else "class", (key or klass)[1]))
        elif not text.startswith(_NOISE):
            return [(kind, value) for _, kind, value in stack], text
    return [(kind, value) for _, kind, value in stack], message.strip().splitlines()[-1] if message.strip() else ""


def _key_path(chain: list[tuple[str, str]]) -> str:
    parts = []
    for kind, value in chain:
        parts.append("init_args" if kind == "class" else value)
    return ".".join(parts)


def _parse_scalar(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def explain_parse_error(message: str, options: Iterable[str] = ()) -> str:
    """Return one line for a jsonargparse error: the full key, what is wrong, and the closest valid choice.

    Args:
        message: the error message (``ArgumentError`` text).
        options: the command's ``--option`` strings, to suggest one for an unrecognized argument.
    """
    unknown = re.match(r"(?i)unrecognized arguments: (.*)", message.strip())
    if unknown:
        flags = [a for a in unknown[1].split() if a.startswith("--")] or unknown[1].split()[:1]
        flag = flags[0].split("=", 1)[0]
        close = difflib.get_close_matches(flag, list(options), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]}?)" if close else "; see --help for the options"
        return f"unknown option {flag}{hint}"
    not_accepted = re.search(r"does not accept option '([^']+)'", message)
    if not_accepted:
        keys = [option[2:] for option in options if option.startswith("--")]
        close = difflib.get_close_matches(not_accepted[1], keys, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else "; see --help for the options"
        return f"{not_accepted[1]}: unknown key{hint}"
    chain, text = _innermost(message)
    key = _key_path(chain)
    classes = [value for kind, value in chain if kind == "class"]
    if match := re.fullmatch(r"Option '([^']+)' is not accepted", text):
        option, owner = match[1], classes[-1] if classes else ""
        where = f" of {owner.rsplit('.', 1)[-1]}" if owner else ""
        return f"{key}.{option}: unknown option {option!r}{where}{_hint(option, constructor_options(owner))}"
    if match := re.fullmatch(r"Expected a typing\.Literal\[(.*)\]\. Got value: (.*)", text):
        try:
            check_choice(key, _parse_scalar(match[2]), ast.literal_eval(f"[{match[1]}]"))
        except ValueError as err:
            return str(err)
    import_error = re.fullmatch(r"module '[^']+' has no attribute '[^']+'|No module named .*", text)
    not_subclass = re.fullmatch(r"Import path (\S+) does not correspond to a subclass of (\w+)", text)
    if import_error or not_subclass:
        owner = chain[:-1] if import_error and chain and chain[-1][0] == "class" else chain
        class_path = not_subclass[1] if not_subclass else classes[-1] if classes else "?"
        what, paths = _candidates(_key_path(owner), class_path)
        problem = f"{class_path} is not a {not_subclass[2]}" if not_subclass else f"cannot import {class_path!r}"
        listing = f"; available {what}: {', '.join(paths)}" if paths else ""
        hint = "" if not_subclass else _hint(class_path, paths)
        return f"{_key_path(owner)}.class_path: {problem}{hint}{listing}"
    if match := re.fullmatch(r"Expected a <class '(\w+)'>\. Got value: (.*)", text):
        text = f"expected a {match[1]}, got {match[2]!r}"
    return f"{key}: {text}" if key else text


def explain_error(error: BaseException) -> str:
    """Return one line for an exception raised while the configured classes were instantiated."""
    _, text = _innermost(str(error))
    return text or type(error).__name__


# ------------------------------------------------------------------------------------- checks before fit
def _optimizer_configs(node: Any, key: str) -> Iterator[tuple[str, type, dict[str, Any]]]:
    """Yield ``(key, optimizer class, init_args)`` for every optimizer class_path configured under ``node``."""
    if isinstance(node, Namespace):
        node = vars(node)
    if not isinstance(node, dict):
        return
    class_path, init_args = node.get("class_path"), node.get("init_args") or {}
    module_name, _, name = class_path.rpartition(".") if isinstance(class_path, str) else ("", "", "")
    try:
        cls = getattr(importlib.import_module(module_name), name) if module_name else None
    except (ImportError, AttributeError):
        cls = None
    if inspect.isclass(cls) and issubclass(cls, torch.optim.Optimizer):
        yield key, cls, init_args.as_dict() if isinstance(init_args, Namespace) else dict(init_args)
        return
    for child, value in node.items():
        yield from _optimizer_configs(value, f"{key}.{child}")


# What torch.optim's constructors say about a bad value -> the argument it names.
_OPTIMIZER_WORDS = {"learning rate": "lr", "beta": "betas", "epsilon": "eps", "weight_decay": "weight_decay"}


def check_optimizers(model_config: Any, key: str = "model") -> None:
    """Build every optimizer configured under ``model_config`` on a dummy parameter: a bad value names its key.

    Raises:
        ConfigError: e.g. ``model.init_args.optimizer_g.init_args.lr: Invalid learning rate: -0.0002 (Adam)``.
    """
    for where, cls, init_args in _optimizer_configs(model_config, key):
        try:
            cls([nn.Parameter(torch.zeros(1))], **init_args)
        except (ValueError, TypeError) as err:
            arg = next((a for word, a in _OPTIMIZER_WORDS.items() if word in str(err)), None)
            target = f"{where}.init_args.{arg}" if arg else f"{where}.init_args"
            raise ConfigError(f"{target}: {err} ({cls.__name__})") from err


def _generators(model: Any) -> list[tuple[str, nn.Module]]:
    """Return ``(target, generator)`` for each distinct generator of ``model``'s targets."""
    # A method may know its target names only after set-up (StarGAN learns its domains from the data): until
    # then its targets are empty and the generator for the default target is checked.
    targets = tuple(getattr(model, "targets", ())) or (None,)
    seen, nets = set(), []
    for target in targets:
        net = model.generator_for(target)
        if id(net) not in seen:
            seen.add(id(net))
            nets.append((target or "", net))
    return nets


def train_input_size(datamodule: Any) -> tuple[str, int] | None:
    """Return ``(key, size)`` of the training images the generator gets, or None when they vary or are unknown.

    A DataModule may declare ``train_input_size`` (an int, e.g. an SR DataModule's low-resolution patch);
    otherwise ``ResizeCropDataModule`` sizes are used (``crop_size`` when cropping, else ``load_size``).
    """
    declared = getattr(datamodule, "train_input_size", None)
    if isinstance(declared, int):
        return "data.init_args.train_input_size", declared
    sizes = getattr(datamodule, "sizes", None)
    if not isinstance(sizes, dict):
        return None
    if sizes.get("crop"):
        return "data.init_args.crop_size", int(sizes["crop_size"])
    if sizes.get("resize"):
        return "data.init_args.load_size", int(sizes["load_size"])
    return None


def check_image_size(model: Any, datamodule: Any) -> None:
    """Check that the training images fit every generator's ``size_divisor`` (e.g. ``2 ** num_downs``)."""
    size = train_input_size(datamodule)
    if size is None:
        return
    key, value = size
    for target, net in _generators(model):
        divisor = int(getattr(net, "size_divisor", 1))
        if value % divisor:
            low, high = value // divisor * divisor, math.ceil(value / divisor) * divisor
            choices = " or ".join(str(s) for s in (low, high) if s > 0)
            raise ConfigError(
                f"{key}={value} does not fit the generator: {type(net).__name__} (for {target!r}) needs height and "
                f"width divisible by {divisor}; use a multiple of {divisor}, e.g. {choices}"
            )


_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")


def check_input_channels(model: Any, datamodule: Any) -> None:
    """Run the first generator once on a blank batch of ``input_channels``: a channel mismatch names the key.

    The probe runs in eval mode without gradients on a copy of the random state, so it changes nothing.
    """
    channels = getattr(datamodule, "input_channels", None)
    nets = _generators(model)
    if not isinstance(channels, int) or not nets or getattr(datamodule, "batch_kinds", {}).get("A", "image") != "image":
        return  # a label-map input (batch_kinds) is not an image of input_channels: the method checks it
    target, net = nets[0]
    divisor = int(getattr(net, "size_divisor", 1))
    side = divisor * math.ceil(32 / divisor)
    was_training = net.training
    try:
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            net.eval()
            model.generate(net, torch.zeros(1, channels, side, side), model.resolve_target(target))
    except RuntimeError as err:
        match = _CHANNELS.search(str(err))
        if match is None:
            return  # not a channel problem: training reports it with its traceback
        expected, got = int(match[1]), int(match[2])
        raise ConfigError(
            f"data.init_args.input_channels={channels} does not match the generator: {type(net).__name__} (for "
            f"{target!r}) takes {channels + expected - got}-channel images (its in_channels); set "
            f"--data.init_args.input_channels {channels + expected - got} or change the generator's in_channels"
        ) from err
    except Exception:  # noqa: BLE001 - anything else is not ours to judge before training
        return
    finally:
        net.train(was_training)


def check_fit(model: Any, datamodule: Any, model_config: Any) -> None:
    """Every check before ``fit`` starts: optimizers, training image size, input channels."""
    check_optimizers(model_config)
    if datamodule is not None:
        check_image_size(model, datamodule)
        check_input_channels(model, datamodule)


__all__ = [
    "TRACEBACK_ENV",
    "ConfigError",
    "available_classes",
    "available_methods",
    "check_fit",
    "check_image_size",
    "check_input_channels",
    "check_optimizers",
    "constructor_options",
    "explain_error",
    "explain_parse_error",
    "train_input_size",
]
