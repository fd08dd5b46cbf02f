"""Weight initialisation as in junyanz/pytorch-CycleGAN-and-pix2pix ``init_weights``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from torch import Tensor, nn
from torch.nn.utils import parametrize

from lit_translate.choices import resolve_choice

_WEIGHTED_LAYERS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def _normal(weight: Tensor, gain: float) -> None:
    nn.init.normal_(weight, 0.0, gain)


def _xavier(weight: Tensor, gain: float) -> None:
    nn.init.xavier_normal_(weight, gain=gain)


def _kaiming(weight: Tensor, gain: float) -> None:
    # The reference ignores init_gain for kaiming: std = sqrt(2 / fan_in).
    nn.init.kaiming_normal_(weight, a=0, mode="fan_in")


def _orthogonal(weight: Tensor, gain: float) -> None:
    nn.init.orthogonal_(weight, gain=gain)


InitType = Literal["normal", "xavier", "kaiming", "orthogonal"]
"""The ``init_type`` choices of :func:`init_weights` and every net that calls it (``--help`` lists them)."""

_INITIALISERS: dict[str, Callable[[Tensor, float], None]] = {
    "normal": _normal,
    "xavier": _xavier,
    "kaiming": _kaiming,
    "orthogonal": _orthogonal,
}


def _raw_weight(layer: nn.Module) -> Tensor:
    """Return the stored weight tensor, below any parametrization such as spectral norm."""
    if parametrize.is_parametrized(layer, "weight"):
        return layer.parametrizations.weight.original
    return layer.weight


def init_weights(module: nn.Module, init_type: InitType = "normal", init_gain: float = 0.02) -> nn.Module:
    """Initialise the weights of ``module`` and all its submodules in place.

    Conv, ConvTranspose and Linear weights are drawn by ``init_type`` and their biases set to 0.
    ``BatchNorm2d`` weights are drawn from ``N(1, init_gain)`` and biases set to 0. Other layers keep
    their weights. Parametrized weights (e.g. spectral norm) are initialised through their original
    tensor.

    Args:
        module: The network to initialise.
        init_type: ``"normal"`` (``N(0, init_gain)``), ``"xavier"`` (Xavier normal with gain
            ``init_gain``), ``"kaiming"`` (Kaiming normal, fan-in, ``init_gain`` unused) or
            ``"orthogonal"`` (gain ``init_gain``). Default ``"normal"``.
        init_gain: Standard deviation or gain, see ``init_type``. Default ``0.02``.

    Returns:
        ``module``, for chaining.

    Raises:
        ValueError: If ``init_type`` is unknown.
    """
    initialise = resolve_choice("init_type", init_type, _INITIALISERS)

    def init_layer(layer: nn.Module) -> None:
        if isinstance(layer, _WEIGHTED_LAYERS):
            initialise(_raw_weight(layer).data, init_gain)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias.data)
        elif isinstance(layer, nn.BatchNorm2d) and layer.affine:
            nn.init.normal_(layer.weight.data, 1.0, init_gain)
            nn.init.zeros_(layer.bias.data)

    # Module.apply visits children before parents, the reference's order of random draws.
    return module.apply(init_layer)
