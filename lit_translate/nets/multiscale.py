"""The multi-scale PatchGAN discriminator of pix2pixHD and SPADE, returning its intermediate features.

Wang et al. 2018, "High-Resolution Image Synthesis and Semantic Manipulation with Conditional GANs" (pix2pixHD,
CVPR), Sec. 3.2, and Park et al. 2019 (SPADE, CVPR), which reuses it with spectral norm. Follows NVIDIA/pix2pixHD
``models/networks.py MultiscaleDiscriminator`` / ``NLayerDiscriminator`` and NVlabs/SPADE
``models/networks/discriminator.py``: ``num_D`` PatchGANs (each a
:class:`~lit_translate.nets.discriminators.PatchDiscriminator` with 4x4 convs padded by 2), the ``i``-th seeing the
input downsampled ``i`` times by a 3x3 average pool (stride 2, padding 1, ``count_include_pad=False``).

Spectral norm: see :mod:`lit_translate.nets.spade` (eval-mode outputs equal the reference's for its weights).
Parameter counts (ndf 64, 2 scales, 3 stride-2 convs each): SPADE ``spectralinstance`` with 39 input channels
5,601,410 (2 x 2,800,705), with 154 5,836,930; pix2pixHD (instance norm, conv biases kept) with 39 5,603,202.
"""

from __future__ import annotations

from typing import Literal

import torch.nn.functional as F
from torch import Tensor, nn

from lit_translate.choices import check_choice
from lit_translate.nets.blocks import Norm
from lit_translate.nets.discriminators import PatchDiscriminator
from lit_translate.nets.init import InitType

NormD = Literal["spectralinstance", "spectralbatch", "spectralnone", "instance", "batch", "none"]
"""``norm_D`` as the references spell it: an optional ``spectral`` prefix (spectral norm on the normed convs),
then the norm after every inner conv."""

_NORMS_D = ("spectralinstance", "spectralbatch", "spectralnone", "instance", "batch", "none")


def downsample(x: Tensor) -> Tensor:
    """Halve ``x`` (ceil) by a 3x3 average pool, stride 2, padding 1, ``count_include_pad=False`` (the references).

    Args:
        x: ``(N, C, H, W)``.

    Returns:
        ``(N, C, ceil(H / 2), ceil(W / 2))``.
    """
    return F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGAN discriminators on an image pyramid, each returning its intermediate features.

    Settings of the references (see the module docstring for the parameter counts):

    * SPADE: ``norm_D="spectralinstance"`` (spectral norm and instance norm on the inner convs, which then have
      no bias; first and last conv plain), ``init_type="xavier"``; SPADE's ``n_layers_D`` 4 is ``n_layers=3``.
    * pix2pixHD: ``norm_D="instance", conv_bias=True, init_type="normal"`` (``n_layers_D`` 3 is ``n_layers=3``).

    Args:
        in_channels: Input channels: the semantic map's plus the image's (e.g. 36 + 3 = 39 for Cityscapes).
        ndf: Filters of the first conv of each scale. Default ``64``.
        n_layers: Stride-2 convs per scale (PatchDiscriminator's, pix2pixHD's ``n_layers_D``). Default ``3``.
        num_D: Number of scales. Default ``2``.
        norm_D: See :data:`NormD`. Default ``"spectralinstance"``.
        conv_bias: Bias on the normed convs; None: only without a norm (SPADE). Default None.
        init_type: See :func:`~lit_translate.nets.init.init_weights`. Default ``"xavier"``.
        init_gain: Default ``0.02``.

    Attributes:
        discriminators: ``nn.ModuleList`` of the ``num_D`` :class:`PatchDiscriminator`, full resolution first.

    Shape:
        Input ``(N, in_channels, H, W)``; output a list over scales of lists of ``n_layers + 2`` tensors: the
        activations of the ``n_layers + 1`` inner stages, then the logits ``(N, 1, h_i, w_i)``.

    Raises:
        ValueError: ``num_D < 1``, ``n_layers < 1`` or an unknown choice.
    """

    def __init__(
        self,
        in_channels: int,
        ndf: int = 64,
        n_layers: int = 3,
        num_D: int = 2,  # noqa: N803 - the references' option name
        norm_D: NormD = "spectralinstance",  # noqa: N803
        conv_bias: bool | None = None,
        init_type: InitType = "xavier",
        init_gain: float = 0.02,
    ) -> None:
        super().__init__()
        if num_D < 1:
            raise ValueError(f"MultiscaleDiscriminator needs num_D >= 1; got num_D={num_D}")
        check_choice("norm_D", norm_D, _NORMS_D)
        spectral = norm_D.startswith("spectral")
        norm: Norm = norm_D.removeprefix("spectral")  # type: ignore[assignment]
        bias = (norm == "none") if conv_bias is None else conv_bias
        self.num_D, self.n_layers = num_D, n_layers
        self.discriminators = nn.ModuleList(
            PatchDiscriminator(
                in_channels,
                ndf,
                n_layers,
                norm,
                spectral_norm=spectral,
                init_type=init_type,
                init_gain=init_gain,
                padding=2,
                conv_bias=bias,
                spectral_norm_layers="normed",
            )
            for _ in range(num_D)
        )

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        """Score ``x`` at every scale.

        Args:
            x: ``(N, in_channels, H, W)``, the semantic map concatenated with a real or generated image.

        Returns:
            ``[[features..., logits] per scale]``, full resolution first. Feed the logits to
            :func:`lit_translate.losses.multiscale_gan_loss` and the lists to
            :func:`lit_translate.losses.feature_matching_loss`.
        """
        outputs = []
        for index, discriminator in enumerate(self.discriminators):
            if index:
                x = downsample(x)
            outputs.append(discriminator.features(x))
        return outputs


__all__ = ["MultiscaleDiscriminator", "NormD", "downsample"]
