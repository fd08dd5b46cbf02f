"""SNGAN's ResNet generator and discriminator for 32 px (Miyato et al., ICLR 2018).

The layout of pfnet-research/sngan_projection ``gen_models/resnet_32.py`` and ``dis_models/snresnet_32.py``
(unconditional).

Generator: ``z`` -> linear to ``ch`` x 4 x 4, three up-sampling residual blocks (BN, ReLU, nearest x2, 3x3 conv, BN,
ReLU, 3x3 conv; shortcut nearest x2 + 1x1 conv), BN, ReLU, 3x3 conv to the image, ``tanh``. Discriminator: an
optimised first block (3x3 conv, ReLU, 3x3 conv, 2x2 mean pool; shortcut pool + 1x1 conv), one down-sampling block and
two plain blocks (ReLU, 3x3 conv, ReLU, 3x3 conv [, pool]; learned shortcut only where the shape changes), ReLU, a sum
over positions, a linear layer without bias; spectral norm on every layer. Init as the reference: Glorot-uniform,
gain sqrt(2) on the residual convs and 1 elsewhere; zero biases. The reference's CIFAR-10 recipe (ch 256 G / 128 D,
latent 128, hinge loss, Adam 2e-4 (0, 0.9), 5 D steps per G step) has ``SNGAN_G_PARAMS`` = 4,276,739 and
``SNGAN_D_PARAMS`` = 1,053,824 trainable parameters (spectral norm's ``u`` / ``v`` are buffers).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from lit_translate.nets.blocks import spectral_normalize
from lit_translate.nets.gan.latent import flat_latent

SNGAN_G_PARAMS = 4_276_739
"""Trainable parameters of ``SNGANGenerator()`` (latent 128, ch 256, 32 px)."""
SNGAN_D_PARAMS = 1_053_824
"""Trainable parameters of ``SNGANDiscriminator()`` (ch 128)."""


def _glorot(layer: nn.Conv2d | nn.Linear, gain: float) -> nn.Module:
    nn.init.xavier_uniform_(layer.weight, gain=gain)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


def _conv(cin: int, cout: int, kernel: int, gain: float = math.sqrt(2)) -> nn.Module:
    return _glorot(nn.Conv2d(cin, cout, kernel, padding=kernel // 2), gain)


class _UpBlock(nn.Module):
    """The generator's residual block: BN, ReLU, nearest x2, conv, BN, ReLU, conv; shortcut nearest x2 + 1x1 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.b1, self.b2 = nn.BatchNorm2d(channels, eps=2e-5), nn.BatchNorm2d(channels, eps=2e-5)
        self.c1, self.c2 = _conv(channels, channels, 3), _conv(channels, channels, 3)
        self.c_sc = _conv(channels, channels, 1, gain=1.0)

    def forward(self, x: Tensor) -> Tensor:
        """Return ``residual(x) + shortcut(x)`` at twice the resolution."""
        h = F.interpolate(F.relu(self.b1(x)), scale_factor=2, mode="nearest")
        h = self.c2(F.relu(self.b2(self.c1(h))))
        return h + self.c_sc(F.interpolate(x, scale_factor=2, mode="nearest"))


class _DownBlock(nn.Module):
    """The discriminator's residual block; ``first`` is the reference's ``OptimizedBlock`` (no leading ReLU)."""

    def __init__(self, cin: int, cout: int, downsample: bool, first: bool = False) -> None:
        super().__init__()
        self.downsample, self.first = downsample, first
        self.c1, self.c2 = _conv(cin, cout, 3), _conv(cout, cout, 3)
        self.c_sc = _conv(cin, cout, 1, gain=1.0) if downsample or cin != cout else None

    def forward(self, x: Tensor) -> Tensor:
        """Return ``residual(x) + shortcut(x)`` (half the resolution when ``downsample``)."""
        h = self.c2(F.relu(self.c1(x if self.first else F.relu(x))))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.c_sc is None:
            return h + x
        if self.first:  # the optimised block pools before its shortcut conv
            return h + self.c_sc(F.avg_pool2d(x, 2))
        shortcut = self.c_sc(x)
        return h + (F.avg_pool2d(shortcut, 2) if self.downsample else shortcut)


class SNGANGenerator(nn.Module):
    """SNGAN's ResNet generator for 32 px (module docstring).

    Args:
        latent_dim: Length of ``z``. Default ``128``.
        ch: Channels of every block. Default ``256`` (CIFAR-10).
        bottom_width: Side of the first feature map; the image side is ``8 * bottom_width``. Default ``4``.
        out_channels: Image channels. Default ``3``.
        spectral_norm: Spectral norm on every layer (the reference's G has none). Default ``False``.

    Shape:
        Input ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)``; output ``(N, out_channels, 8 * bottom_width,
        8 * bottom_width)`` in ``[-1, 1]``.
    """

    def __init__(
        self,
        latent_dim: int = 128,
        ch: int = 256,
        bottom_width: int = 4,
        out_channels: int = 3,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        self.latent_dim, self.ch, self.bottom_width = latent_dim, ch, bottom_width
        self.l1 = _glorot(nn.Linear(latent_dim, bottom_width**2 * ch), 1.0)
        self.blocks = nn.Sequential(*(_UpBlock(ch) for _ in range(3)))
        self.b5 = nn.BatchNorm2d(ch, eps=2e-5)
        self.c5 = _conv(ch, out_channels, 3, gain=1.0)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, z: Tensor) -> Tensor:
        """Generate images ``(N, out_channels, 8 * bottom_width, 8 * bottom_width)`` in ``[-1, 1]``."""
        h = self.l1(flat_latent(z, self.latent_dim, type(self).__name__))
        h = self.blocks(h.view(-1, self.ch, self.bottom_width, self.bottom_width))
        return self.c5(F.relu(self.b5(h))).tanh()


class SNGANDiscriminator(nn.Module):
    """SNGAN's ResNet discriminator for 32 px (module docstring): spectral norm on every layer by default.

    Args:
        in_channels: Image channels. Default ``3``.
        ch: Channels of every block. Default ``128`` (CIFAR-10).
        spectral_norm: Spectral norm on every layer (the paper's D). Default ``True``.

    Shape:
        Input ``(N, in_channels, H, W)`` (32 x 32 in the paper; any size divisible by 4 works); output logits
        ``(N, 1)``.
    """

    def __init__(self, in_channels: int = 3, ch: int = 128, spectral_norm: bool = True) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            _DownBlock(in_channels, ch, downsample=True, first=True),
            _DownBlock(ch, ch, downsample=True),
            _DownBlock(ch, ch, downsample=False),
            _DownBlock(ch, ch, downsample=False),
        )
        self.l5 = _glorot(nn.Linear(ch, 1, bias=False), 1.0)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Return real/fake logits ``(N, 1)``: the linear layer on the ReLU features summed over positions."""
        return self.l5(F.relu(self.blocks(x)).sum(dim=(2, 3)))
