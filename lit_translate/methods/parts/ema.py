"""A frozen exponential moving average of a network's weights (BasicSR's ``net_g_ema``), as a plain ``nn.Module``.

Owned by a method as a submodule created in ``__init__`` (``self.gen_ema = ModelEMA(self.gen)``), so its weights
are in every ``state_dict`` under ``<attribute>.averaged.<name>`` plus ``<attribute>.num_updates``, and a resumed
run continues exactly. Its parameters never require grad, so no optimizer, DDP reducer or ``requires_grad`` based
freezing logic takes them; it stays in eval mode whatever ``train()`` is called with.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from lit_translate.errors import InputError


class ModelEMA(nn.Module):
    """Exponential moving average of ``source``'s parameters; buffers are copied from ``source``.

    After each update, ``p_ema = decay * p_ema + (1 - decay) * p`` for every parameter (BasicSR ``model_ema``,
    decay 0.999). After ``k`` updates from a start value ``p_0`` with live values ``p_1..p_k``:
    ``p_ema_k = decay**k * p_0 + (1 - decay) * sum_i decay**(k - i) * p_i``.

    Buffers (batch-norm running statistics, spectral-norm vectors) are copied, not averaged: running statistics
    are already moving averages over batches, averaging them again makes them lag behind the weights they
    normalise, and integer buffers (``num_batches_tracked``) cannot be interpolated. BasicSR leaves them at their
    initial values, which breaks an EMA of a batch-norm net (e.g. the paper's SRResNet); StyleGAN2/3 copy them.

    With ``warmup``, update ``n`` (0-based: the number of updates before it, ``num_updates``) uses the decay
    ``min(decay, (1 + n) / (10 + n))`` (TensorFlow's ``ExponentialMovingAverage(num_updates=...)``, timm's
    ``ModelEmaV3``): 0.1, 0.18, 0.25, ... so that a short run's average follows its training instead of staying
    ~90 % the initial weights (0.999**100 = 0.905); it reaches 0.999 after 9,989 updates. ``num_updates`` is a
    buffer, so a resumed run continues the same schedule. Off (the default), every update uses ``decay``
    (BasicSR), bit-exactly as before the option existed.

    Args:
        source: The network to average; it is deep-copied, so pass the bare net, not a DDP or ``torch.compile``
            wrapper (``update`` accepts those: only the order and shapes of parameters and buffers are compared).
            Keep it in float32: with decay 0.999 a bfloat16 average cannot resolve the 0.1 % steps.
        decay: Weight of the old average, in [0, 1). Default ``0.999``.
        warmup: Ramp the decay up from 0.1 as above. Default ``False``.

    Raises:
        InputError: ``decay`` is outside [0, 1).
    """

    def __init__(self, source: nn.Module, decay: float = 0.999, warmup: bool = False) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise InputError(
                f"ModelEMA decay must be in [0, 1); got decay={decay} (model.init_args.ema_decay): use 0.999 "
                f"(BasicSR), or null for no EMA"
            )
        self.decay, self.warmup = float(decay), bool(warmup)
        self.averaged = copy.deepcopy(source)
        for param in self.averaged.parameters():
            param.requires_grad_(False)
            param.grad = None  # deepcopy also copies .grad
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))  # persistent: saved and resumed
        self.train(False)

    def train(self, mode: bool = True) -> ModelEMA:
        """Keep the average in eval mode whatever ``mode`` is (``Trainer`` calls ``train()`` on all modules)."""
        return super().train(False)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Run the averaged network (same inputs and outputs as ``source``)."""
        return self.averaged(*args, **kwargs)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        """Move the average towards ``source`` (call after each generator optimizer step) and copy its buffers.

        Args:
            source: The live network; same architecture as the one given at construction.
        """
        ema_params, live_params = self._paired(self.averaged.parameters(), source.parameters(), "parameters")
        # lerp_(p_ema, p, w) = p_ema + w * (p - p_ema) = decay * p_ema + (1 - decay) * p with w = 1 - decay
        torch._foreach_lerp_(ema_params, live_params, 1.0 - self.current_decay())
        self._copy_buffers(source)
        self.num_updates += 1

    def current_decay(self) -> float:
        """Return the decay of the next update: ``decay``, or with ``warmup`` ``min(decay, (1 + n) / (10 + n))``.

        With ``warmup`` this reads ``num_updates`` (one device-to-host copy per update on a GPU).
        """
        if not self.warmup:
            return self.decay
        updates = int(self.num_updates)
        return min(self.decay, (1 + updates) / (10 + updates))

    @torch.no_grad()
    def copy_from(self, source: nn.Module) -> None:
        """Set the average to ``source``'s weights and buffers (an update with decay 0; used at the start).

        Restarts the count: ``num_updates`` becomes 0.

        Args:
            source: The live network; same architecture as the one given at construction.
        """
        ema_params, live_params = self._paired(self.averaged.parameters(), source.parameters(), "parameters")
        torch._foreach_copy_(ema_params, live_params)
        self._copy_buffers(source)
        self.num_updates.zero_()

    def _copy_buffers(self, source: nn.Module) -> None:
        ema_buffers, live_buffers = self._paired(self.averaged.buffers(), source.buffers(), "buffers")
        for ema_buffer, live_buffer in zip(ema_buffers, live_buffers):
            ema_buffer.copy_(live_buffer)

    @staticmethod
    def _paired(ema: Any, live: Any, what: str) -> tuple[list[Tensor], list[Tensor]]:
        ema_list, live_list = list(ema), [t.detach() for t in live]
        shapes = [t.shape for t in ema_list]
        if shapes != [t.shape for t in live_list]:
            raise ValueError(
                f"ModelEMA: the source's {what} do not match the averaged copy ({len(live_list)} vs "
                f"{len(ema_list)} tensors or different shapes). Pass the network this ModelEMA was built from."
            )
        return ema_list, live_list

    def extra_repr(self) -> str:  # noqa: D102 (nn.Module API)
        return f"decay={self.decay}, warmup={self.warmup}"
