"""Frozen auxiliary networks (loss networks): the one marker that method plumbing and DDP set-up look for.

A :class:`FrozenModule` is a fixed function, never a trained or saved part of a model: its weights are
**non-persistent buffers** (not in ``parameters()``, so no optimizer, gradient or DDP all-reduce; not in
``state_dict()``, so never in checkpoints; yet moved by ``.to()`` with the parent), it stays in eval mode, and
dtype conversions of a parent to float16/bfloat16 are undone for its buffers. :func:`frozen_buffer_names` lists
the buffers of every frozen module under a model, for DDP to ignore (identical on every rank already).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn


class FrozenModule(nn.Module):
    """Base of frozen auxiliary networks: eval mode always, buffers kept in at least float32.

    Subclasses hold their weights as non-persistent buffers (``register_buffer(..., persistent=False)``) and call
    ``super().train(False)`` at the end of ``__init__``.
    """

    @property
    def frozen_buffers(self) -> tuple[str, ...]:
        """Return the names of this module's buffers, relative to it."""
        return tuple(name for name, _ in self.named_buffers())

    def train(self, mode: bool = True) -> FrozenModule:
        """Stay in eval mode whatever ``mode`` is (the network is a fixed function)."""
        return super().train(False)

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> FrozenModule:
        # Follow device moves and float64, but keep float16/bfloat16 conversions of a parent away from the frozen
        # network: its features (and Gram matrices of them) are only meaningful in at least float32.
        super()._apply(fn, recurse)
        for module in self.modules():
            for name, buffer in module._buffers.items():
                if buffer is not None and buffer.dtype in (torch.float16, torch.bfloat16):
                    module._buffers[name] = buffer.float()
        return self


def frozen_buffer_names(model: nn.Module) -> list[str]:
    """Fully qualified names of every :class:`FrozenModule` buffer under ``model`` (for DDP's ignore list).

    Args:
        model: Any module, e.g. the LightningModule before Lightning wraps it in DDP.

    Returns:
        Names such as ``"vgg.features.conv1_1.weight"``, relative to ``model``, each once.
    """
    names = (
        f"{prefix}.{name}" if prefix else name
        for prefix, module in model.named_modules()
        if isinstance(module, FrozenModule)
        for name in module.frozen_buffers
    )
    return list(dict.fromkeys(names))


__all__ = ["FrozenModule", "frozen_buffer_names"]
