"""StarGAN's configuration checks: nets against the labels, data against the nets (before the first step).

Each failure is one :class:`~lit_translate.errors.InputError` naming the config keys and the fix.
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.parsing import AttributeDict
from torch import nn

from lit_translate.data.domains.labels import LabelSpace
from lit_translate.errors import InputError


def label_space_of(datamodule: Any) -> LabelSpace | None:
    """Return the label space a multi-domain DataModule describes (``attributes``, ``domains``), else None."""
    attributes, domains = getattr(datamodule, "attributes", None), getattr(datamodule, "domains", None)
    if attributes is None and domains is None:
        return None
    return LabelSpace(tuple(attributes or ()), tuple(domains or ()))


def _describe(space: LabelSpace) -> str:
    parts = [f"attributes {list(space.attributes)}"] if space.attributes else []
    parts += [f"domains {list(space.domains)}"] if space.domains else []
    if space.joint:
        parts.append(f"a mask vector of {len(space.dims)}")
    return " + ".join(parts)


def check_nets(generator: nn.Module, discriminator: nn.Module, space: LabelSpace, target_sampling: str) -> None:
    """Raise unless G takes labels of ``space.label_dim``, D returns ``space.class_dim`` logits, sampling fits.

    Both nets' ``c_dim`` are checked together: one error names every key that is wrong, with its value.
    """
    keys = "model.init_args.{}.init_args.c_dim"
    wrong = [
        (keys.format(net), value, expected)
        for net, value, expected in (
            ("generator", getattr(generator, "c_dim", None), space.label_dim),
            ("discriminator", getattr(discriminator, "c_dim", None), space.class_dim),
        )
        if value is not None and value != expected
    ]
    if wrong:
        mask = "; D does not classify the mask vector" if space.joint else ""
        listed = " and ".join(f"{key} is {value} (set c_dim: {expected})" for key, value, expected in wrong)
        raise InputError(
            f"the labels have {space.label_dim} entries ({_describe(space)}{mask}) but {listed}; both nets' c_dim "
            f"(model.init_args.generator and .discriminator) follow the data: G's the label length, D's the number "
            f"of classes"
        )
    if target_sampling == "other" and space.attributes:
        raise InputError(
            f"model.init_args.target_sampling 'other' draws another one-hot domain, but the labels have attributes "
            f"{list(space.attributes)}; use target_sampling: permute"
        )


def check_same_labels(ours: LabelSpace | None, theirs: LabelSpace, source: str) -> None:
    """Raise if the model already has labels and ``source`` (the data, a checkpoint) describes other ones."""
    if ours is not None and ours != theirs:
        raise InputError(
            f"the model's labels ({_describe(ours)}) differ from {source}'s ({_describe(theirs)}); set "
            f"model.init_args.attributes/domains to match, or use the data / checkpoint the model was trained with"
        )


def check_data(datamodule: Any, discriminator: nn.Module) -> None:
    """Raise unless the data's ``image_size`` is D's (which is a multiple of ``2**repeat_num``)."""
    size, d_size = getattr(datamodule, "image_size", None), getattr(discriminator, "image_size", None)
    head = getattr(getattr(discriminator, "conv2", None), "kernel_size", None)
    if size is None or d_size is None or size == d_size:
        return
    divisor = d_size // head[0] if head else None
    rule = f" (repeat_num={divisor.bit_length() - 1}: a multiple of {divisor})" if divisor else ""
    raise InputError(
        f"data.init_args.image_size is {size} but the discriminator was built for image_size={d_size}{rule}: D's "
        f"class head has a kernel of image_size / 2**repeat_num, so set both image_size keys to the same value"
        + (f" (a multiple of {divisor})" if divisor and size % divisor else "")
    )


def with_data_domains(initial: AttributeDict, datamodule: Any) -> AttributeDict:
    """Return the model's initial hyper-parameters ``initial`` with ``domains`` as ``datamodule`` has it.

    Lightning logs the model's and the DataModule's initial hyper-parameters merged and refuses a key that both
    have with different values. ``DomainFolderDataModule(domains=None)`` means "the folders", while the model's
    ``domains`` holds the names it learnt once LightningCLI re-applies a checkpoint's hyper-parameters
    (``predict``/``test --ckpt_path``), or the names the config sets: the same labels (``StarGAN.setup`` checks
    them against the data), so the logged value is the DataModule's.
    """
    data = getattr(datamodule, "hparams_initial", {})
    if "domains" in initial and "domains" in data:
        initial["domains"] = data["domains"]
    return initial


def warn_permute_at_batch_size_one(datamodule: Any, target_sampling: str) -> None:
    """Warn that ``target_sampling: permute`` at batch size 1 only trains G to reconstruct."""
    if target_sampling == "permute" and getattr(datamodule, "batch_size", 2) == 1:
        rank_zero_warn(
            "StarGAN target_sampling 'permute' at batch size 1: the permuted target always equals the source "
            "label, so G is only trained to reconstruct; use a larger batch or target_sampling: other"
        )


__all__ = [
    "check_data",
    "check_nets",
    "check_same_labels",
    "label_space_of",
    "warn_permute_at_batch_size_one",
    "with_data_domains",
]
