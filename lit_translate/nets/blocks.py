"""Building blocks shared by the generators and discriminators.

The layer order follows junyanz/pytorch-CycleGAN-and-pix2pix ``models/networks.py`` and so do the
attribute names (``model``, ``conv_block``), so parameter counts and ``state_dict`` keys match the
reference networks.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

from lit_translate.choices import resolve_choice
from lit_translate.nets.attention import SelfAttention

NormFactory = Callable[[int], nn.Module]
Norm = Literal["batch", "instance", "none"]
"""The ``norm`` choices of the generators, discriminators and blocks (``--help`` lists them)."""
PaddingType = Literal["reflect", "replicate", "zero"]
"""The ``padding_type`` choices of the ResNet generator and its blocks."""


def _identity(num_features: int) -> nn.Module:
    return nn.Identity()


_NORM_LAYERS: dict[str, NormFactory] = {
    "batch": partial(nn.BatchNorm2d, affine=True, track_running_stats=True),
    "instance": partial(nn.InstanceNorm2d, affine=False, track_running_stats=False),
    "none": _identity,
}

# A conv followed by BatchNorm needs no bias (BN's shift replaces it). The reference keeps the bias
# only for InstanceNorm and, by a comparison quirk, also drops it for norm "none", which leaves those
# convs without any shift; here "none" keeps the bias.
_CONV_BIAS: dict[str, bool] = {"batch": False, "instance": True, "none": True}

_PADDING_LAYERS: dict[str, Callable[[int], nn.Module] | None] = {
    "reflect": nn.ReflectionPad2d,
    "replicate": nn.ReplicationPad2d,
    "zero": None,
}


def get_norm_layer(norm: Norm) -> NormFactory:
    """Return a factory for the normalisation layer named ``norm``.

    Args:
        norm: ``"batch"`` (``BatchNorm2d``, affine, running statistics), ``"instance"``
            (``InstanceNorm2d``, no affine, no running statistics) or ``"none"`` (``Identity``).

    Returns:
        A callable mapping a channel count to a fresh ``nn.Module``.

    Raises:
        ValueError: If ``norm`` is unknown.
    """
    return resolve_choice("norm", norm, _NORM_LAYERS)


def get_padding_layer(padding_type: PaddingType) -> Callable[[int], nn.Module] | None:
    """Return the padding layer class named ``padding_type``.

    Args:
        padding_type: ``"reflect"`` (``ReflectionPad2d``), ``"replicate"`` (``ReplicationPad2d``) or
            ``"zero"`` (``None``: the convolution pads with zeros itself).

    Returns:
        A callable mapping a padding width to a padding module, or ``None`` for zero padding.

    Raises:
        ValueError: If ``padding_type`` is unknown.
    """
    return resolve_choice("padding_type", padding_type, _PADDING_LAYERS)


def conv_bias_for_norm(norm: Norm) -> bool:
    """Whether a convolution followed by the norm layer ``norm`` should have a bias.

    Args:
        norm: ``"batch"`` (no bias), ``"instance"`` (bias) or ``"none"`` (bias).

    Returns:
        ``True`` if the convolution should use a bias.

    Raises:
        ValueError: If ``norm`` is unknown.
    """
    return resolve_choice("norm", norm, _CONV_BIAS)


_SPECTRAL_LAYERS = (
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
    nn.Linear,
)


def spectral_normalize(module: nn.Module) -> nn.Module:
    """Spectrally normalise every convolution, transposed convolution and linear layer of ``module`` in place.

    The one mechanism behind the ``spectral_norm`` option of the nets (Miyato et al. 2018):
    ``torch.nn.utils.parametrizations.spectral_norm`` with one power iteration per training forward. Its ``u`` and
    ``v`` vectors are buffers, so they are in ``state_dict`` (checkpoints, exact resume) and not trainable. Layers
    already spectrally normalised are left as they are. Call it after the weights are initialised: it reads the
    initial weight and draws ``u`` and ``v`` from the global RNG (layers in ``module.modules()`` order).

    Args:
        module: The network.

    Returns:
        ``module``, for chaining.
    """
    for layer in list(module.modules()):
        if isinstance(layer, _SPECTRAL_LAYERS) and not parametrize.is_parametrized(layer, "weight"):
            _spectral_norm(layer)
    return module


class ResnetBlock(nn.Module):
    """Residual block ``x + conv_block(x)`` with two 3x3 convolutions.

    ``conv_block`` is pad, conv, norm, ReLU, [dropout 0.5], pad, conv, norm.

    Args:
        dim: Number of input and output channels.
        norm: Normalisation, ``"batch"``, ``"instance"`` or ``"none"``. Default ``"instance"``.
        use_dropout: Insert ``Dropout(0.5)`` between the two convolutions. Default ``False``.
        padding_type: ``"reflect"``, ``"replicate"`` or ``"zero"``. Default ``"reflect"``.

    Shape:
        Input ``(N, dim, H, W)``, output ``(N, dim, H, W)``.
    """

    def __init__(
        self, dim: int, norm: Norm = "instance", use_dropout: bool = False, padding_type: PaddingType = "reflect"
    ) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        bias = conv_bias_for_norm(norm)
        pad = get_padding_layer(padding_type)
        conv_padding = 1 if pad is None else 0
        layers: list[nn.Module] = []
        for index in range(2):
            if pad is not None:
                layers.append(pad(1))
            layers += [nn.Conv2d(dim, dim, kernel_size=3, padding=conv_padding, bias=bias), norm_layer(dim)]
            if index == 0:
                layers.append(nn.ReLU(True))
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the residual block.

        Args:
            x: Feature map ``(N, dim, H, W)``.

        Returns:
            ``x + conv_block(x)``, shape ``(N, dim, H, W)``.
        """
        return x + self.conv_block(x)


class UnetSkipConnectionBlock(nn.Module):
    """One level of the recursive U-Net: downsample, ``submodule``, upsample, skip connection.

    Non-outermost blocks return ``cat([x, up(submodule(down(x)))], dim=1)``; the outermost block returns
    the upsampled output only (through ``tanh``).

    Args:
        outer_nc: Channels of the block's output (and input unless ``input_nc`` is given).
        inner_nc: Channels produced by the block's downsampling convolution.
        input_nc: Channels of the block's input; ``None`` means ``outer_nc``. Default ``None``.
        submodule: The next inner block, ``None`` for the innermost block. Default ``None``.
        outermost: This is the outermost block (no norm, ``tanh`` output). Default ``False``.
        innermost: This is the innermost block (no submodule). Default ``False``.
        norm: Normalisation, ``"batch"``, ``"instance"`` or ``"none"``. Default ``"batch"``.
        use_dropout: Append ``Dropout(0.5)`` (intermediate blocks only). Default ``False``.
        attention: Append a ``SelfAttention`` over the up-sampled ``outer_nc`` channels (after the norm and
            dropout; not in the outermost block). Default ``False``.

    Shape:
        Input ``(N, input_nc, H, W)`` with ``H`` and ``W`` even; output ``(N, outer_nc, H, W)`` for the
        outermost block (values in ``[-1, 1]``) and ``(N, input_nc + outer_nc, H, W)`` otherwise.
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        norm: Norm = "batch",
        use_dropout: bool = False,
        attention: bool = False,
    ) -> None:
        super().__init__()
        if (outermost and innermost) or (submodule is None) != innermost:
            raise ValueError(
                "A U-Net block is either innermost (submodule=None) or has a submodule, and it cannot be "
                f"both innermost and outermost; got outermost={outermost}, innermost={innermost}, "
                f"submodule={'None' if submodule is None else type(submodule).__name__}."
            )
        self.outermost = outermost
        norm_layer = get_norm_layer(norm)
        bias = conv_bias_for_norm(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        up_in = inner_nc if innermost else inner_nc * 2
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        # Not in-place (the reference's LeakyReLU is): the skip then carries x instead of LeakyReLU(x),
        # which the parent's ReLU maps to the same values, so the forward pass is unchanged.
        downrelu = nn.LeakyReLU(0.2)
        if outermost:
            upconv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, nn.ReLU(), upconv, norm_layer(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(up_in, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias)
            layers = [downrelu, downconv, norm_layer(inner_nc), submodule, nn.ReLU(), upconv]
            layers += [norm_layer(outer_nc)] + ([nn.Dropout(0.5)] if use_dropout else [])
        if attention and not outermost:
            layers.append(SelfAttention(outer_nc))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Apply the block.

        Args:
            x: Feature map ``(N, input_nc, H, W)``.

        Returns:
            ``(N, outer_nc, H, W)`` in ``[-1, 1]`` (outermost) or the skip concatenation
            ``(N, input_nc + outer_nc, H, W)``.
        """
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], dim=1)
