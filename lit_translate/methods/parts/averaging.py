"""Weight averaging (generator EMA) for any method: the copies, their updates, and what inference uses.

A base of :class:`~lit_translate.methods.TranslationModule`. A method averages a network by calling
:meth:`WeightAveraging.average_weights` in ``__init__``; :meth:`~TranslationModule.optimize` then updates the copy
after every successful step of the matching optimizer, and :meth:`~TranslationModule.inference_generator` returns
it for validation, sample grids, predict and export. See ``docs/architecture.md``, "Generator EMA".
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lit_translate.methods.parts.ema import ModelEMA


class WeightAveraging(nn.Module):
    """EMA copies ``self.<net>_ema`` of networks of the module, each updated by one optimizer's steps."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._averages: list[tuple[str, str, str]] = []  # (net attribute, EMA attribute, optimizer prefix)

    def average_weights(self, net_name: str, decay: float | None, prefix: str = "g", warmup: bool = False) -> None:
        """Keep an EMA of ``self.<net_name>`` as ``self.<net_name>_ema`` (call in ``__init__``, after the net).

        The copy (:class:`~.ema.ModelEMA`) is updated after every successful step of the optimizer
        logged as ``prefix`` and used by ``inference_generator``; its weights are in ``state_dict`` (saved and
        resumed exactly), in no optimizer (they never require grad) and :meth:`averaged_parameter_names` lists
        them. ``decay`` None or 0 turns averaging off (nothing is created, the method is unchanged).

        Args:
            net_name: Attribute of the averaged network, e.g. ``"generator"``.
            decay: EMA decay in [0, 1) (BasicSR: 0.999), or None / 0 for off.
            prefix: The ``optimize(..., prefix)`` whose steps update it. Default ``"g"``.
            warmup: Ramp the decay up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates (see
                :class:`~.ema.ModelEMA`), so that short runs show their training. Default False.
        """
        if not decay:
            return
        ema_name = f"{net_name}_ema"
        setattr(self, ema_name, ModelEMA(getattr(self, net_name), decay, warmup))
        self._averages.append((net_name, ema_name, prefix))

    def averaged_copy(self, net: nn.Module) -> nn.Module | None:
        """Return the averaged copy of ``net`` (a network of this module), or None when it is not averaged."""
        for name, ema_name, _ in self._averages:
            if getattr(self, name) is net:
                return getattr(self, ema_name).averaged
        return None

    def averaged_parameter_names(self) -> set[str]:
        """Return the ``named_parameters`` names of the EMA copies (they change without an optimizer, by design)."""
        names = set()
        for _, ema_name, _ in self._averages:
            names |= {f"{ema_name}.{name}" for name, _ in getattr(self, ema_name).named_parameters()}
        return names

    def reset_averages(self) -> None:
        """Set every EMA copy to its live network's weights (e.g. after loading pre-trained weights)."""
        for name, ema_name, _ in self._averages:
            getattr(self, ema_name).copy_from(getattr(self, name))

    def update_averages(self, prefix: str) -> None:
        """Update the copies of the networks trained by the optimizer logged as ``prefix`` (after its step)."""
        for name, ema_name, ema_prefix in self._averages:
            if ema_prefix == prefix:
                getattr(self, ema_name).update(getattr(self, name))


__all__ = ["WeightAveraging"]
