"""Batch-key kinds and the on-device semantic input of label-map methods (pure torch, no Lightning).

A DataModule declares what each tensor of its batches is (``TranslationDataModule.batch_kinds``):

- ``"image"``: float32 ``(N, C, H, W)`` in [-1, 1] (every existing key: ``A``, ``B``);
- ``"label_map"``: int64 ``(N, 1, H, W)`` class ids, never normalised (resized with nearest neighbour);
- ``"instance_map"``: int64 ``(N, 1, H, W)`` instance ids (only their boundaries are used).

Label maps travel as ids (a 151-class one-hot of a 256x512 map would be 20M floats per image in the loader
workers); a method turns them into its generator's input on the device with :func:`semantic_input`, e.g.
in its training step or in ``on_after_batch_transfer``::

    semantic = semantic_input(batch["A"], label_nc, contain_dontcare_label, batch.get("A_instance"))

which is NVlabs/SPADE ``Pix2PixModel.preprocess_input``: one-hot channels, plus the instance edge map.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from lit_translate.errors import InputError

BatchKind = Literal["image", "label_map", "instance_map"]
"""What a batch tensor holds (see the module docstring)."""
BATCH_KINDS: tuple[str, ...] = ("image", "label_map", "instance_map")
IMAGE_KINDS: dict[str, BatchKind] = {"A": "image", "B": "image"}
"""The batch kinds of every image-to-image DataModule (the default of ``TranslationDataModule.batch_kinds``)."""


def semantic_channels(label_nc: int, contain_dontcare_label: bool, instance: bool) -> int:
    """Return the channels of :func:`semantic_input`: ``label_nc`` (+1 dontcare) (+1 instance edges).

    Args:
        label_nc: Number of label classes (ids ``0..label_nc-1``).
        contain_dontcare_label: The maps also hold the dontcare id ``label_nc``.
        instance: An instance edge channel is appended.
    """
    return label_nc + int(contain_dontcare_label) + int(instance)


def one_hot(label_map: torch.Tensor, num_classes: int, check: bool = True) -> torch.Tensor:
    """Return float32 one-hot channels ``(N, num_classes, H, W)`` of an int ``(N, 1, H, W)`` label map.

    ``check`` tests the id range first (one host-device synchronisation; the set-up scan has already checked
    the files, so a method may turn it off for speed).

    Raises:
        InputError: The map is not ``(N, 1, H, W)`` integers, or holds an id outside ``0..num_classes-1``
            (on CUDA the reference's ``scatter_`` would fail with a device-side assert instead).
    """
    if label_map.ndim != 4 or label_map.shape[1] != 1 or label_map.is_floating_point():
        raise InputError(
            f"a label map must be an integer tensor (N, 1, H, W) of class ids, got {tuple(label_map.shape)} "
            f"{label_map.dtype}; declare the key as 'label_map' in the DataModule's batch_kinds"
        )
    low, high = (int(v) for v in torch.aminmax(label_map)) if check else (0, 0)
    if low < 0 or high >= num_classes:
        raise InputError(
            f"label map ids span {low}..{high}, outside 0..{num_classes - 1}; set label_nc / contain_dontcare_label "
            f"to cover them"
        )
    out = torch.zeros(label_map.shape[0], num_classes, *label_map.shape[2:], device=label_map.device)
    return out.scatter_(1, label_map.long(), 1.0)


def instance_edges(instance_map: torch.Tensor) -> torch.Tensor:
    """Return the instance boundary map of ``(N, 1, H, W)`` ids: float32 1 where a neighbour's id differs.

    A pixel is an edge when its id differs from its right or lower neighbour; both pixels of such a pair are
    marked (NVlabs/SPADE ``Pix2PixModel.get_edges``, also pix2pixHD's).
    """
    t = instance_map
    horizontal = (t[:, :, :, 1:] != t[:, :, :, :-1]).float()
    vertical = (t[:, :, 1:, :] != t[:, :, :-1, :]).float()
    # Out-of-place (a traced / ONNX graph has no in-place ``|=`` on slices): the same 0/1 map.
    edge = F.pad(horizontal, (1, 0)) + F.pad(horizontal, (0, 1)) + F.pad(vertical, (0, 0, 1, 0))
    return (edge + F.pad(vertical, (0, 0, 0, 1)) > 0).float()


def semantic_input(
    label_map: torch.Tensor,
    label_nc: int,
    contain_dontcare_label: bool,
    instance_map: torch.Tensor | None = None,
    check: bool = True,
) -> torch.Tensor:
    """Turn a batch's label map (and instance map) into the generator's semantic input, on their device.

    Args:
        label_map: int64 ``(N, 1, H, W)`` class ids in ``0..label_nc-1``, and ``label_nc`` (dontcare) when
            ``contain_dontcare_label``.
        label_nc: Number of label classes.
        contain_dontcare_label: Add the dontcare channel (id ``label_nc``).
        instance_map: Optional int ``(N, 1, H, W)`` instance ids; its :func:`instance_edges` is appended.
        check: Check the id range (see :func:`one_hot`). Default True.

    Returns:
        float32 ``(N, semantic_channels(label_nc, contain_dontcare_label, instance_map is not None), H, W)``.
    """
    semantic = one_hot(label_map, label_nc + int(contain_dontcare_label), check)
    if instance_map is None:
        return semantic
    if instance_map.shape != label_map.shape:
        raise InputError(
            f"the instance map {tuple(instance_map.shape)} and the label map {tuple(label_map.shape)} differ in shape"
        )
    return torch.cat((semantic, instance_edges(instance_map)), dim=1)


__all__ = [
    "BATCH_KINDS",
    "IMAGE_KINDS",
    "BatchKind",
    "instance_edges",
    "one_hot",
    "semantic_channels",
    "semantic_input",
]
