"""StarGAN's configuration checks: nets against the labels, data against the nets (before the first step).

Each failure is one ``ValueError`` naming the config keys and the fix.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lit_translate.labels import LabelSpace


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
    """Raise unless G takes labels of ``space.label_dim``, D returns ``space.class_dim`` logits, sampling fits."""
    g_dim, d_dim = getattr(generator, "c_dim", None), getattr(discriminator, "c_dim", None)
    if g_dim is not None and g_dim != space.label_dim:
        raise ValueError(
            f"model.init_args.generator.init_args.c_dim is {g_dim} but the labels have {space.label_dim} entries "
            f"({_describe(space)}); set c_dim: {space.label_dim}"
        )
    if d_dim is not None and d_dim != space.class_dim:
        raise ValueError(
            f"model.init_args.discriminator.init_args.c_dim is {d_dim} but D classifies {space.class_dim} labels "
            f"({_describe(space)}; the mask vector is not classified); set c_dim: {space.class_dim}"
        )
    if target_sampling == "other" and space.attributes:
        raise ValueError(
            f"model.init_args.target_sampling 'other' draws another one-hot domain, but the labels have attributes "
            f"{list(space.attributes)}; use target_sampling: permute"
        )


def check_same_labels(ours: LabelSpace | None, theirs: LabelSpace, source: str) -> None:
    """Raise if the model already has labels and ``source`` (the data, a checkpoint) describes other ones."""
    if ours is not None and ours != theirs:
        raise ValueError(
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
    raise ValueError(
        f"data.init_args.image_size is {size} but the discriminator was built for image_size={d_size}{rule}: D's "
        f"class head has a kernel of image_size / 2**repeat_num, so set both image_size keys to the same value"
        + (f" (a multiple of {divisor})" if divisor and size % divisor else "")
    )


__all__ = ["check_data", "check_nets", "check_same_labels", "label_space_of"]
