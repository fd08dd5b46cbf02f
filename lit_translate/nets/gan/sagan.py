"""SAGAN (Zhang et al., ICML 2019) generator and discriminator for 64 px.

The layout of heykeetae/Self-Attention-GAN ``sagan_models.py``.

Generator: ``z`` -> 4x4 transposed conv to ``8 * conv_dim`` (4 x 4), three stride-2 4x4 transposed convs halving the
width (8, 16, 32 px), batch norm and ReLU after each, then a stride-2 4x4 transposed conv to the image and ``tanh``;
self-attention after the 16 x 16 and the 32 x 32 block. Discriminator: four stride-2 4x4 convs from ``conv_dim``,
doubling (32, 16, 8, 4 px), LeakyReLU 0.1, self-attention after the 8 x 8 and the 4 x 4 block, and a 4x4 conv to one
logit. Spectral norm (``spectral_norm=True``) on every layer but the attention blocks and the last layer, as the
reference; torch's default init, as the reference. ``SelfAttention`` is the paper's block (query/key ``C / 8``, value
``C``, ``gamma`` from 0, no scaling).

Trainable parameters (spectral norm's ``u`` / ``v`` are buffers): G ``SAGAN_G_PARAMS`` = 3,832,885 with the reference
run's ``z_dim`` 128 (3,603,509 with the constructor default of its ``Generator``, ``z_dim`` 100) and D
``SAGAN_D_PARAMS`` = 3,175,299, at ``conv_dim`` 64.
"""

from __future__ import annotations

from torch import Tensor, nn

from lit_translate.nets.attention import SelfAttention
from lit_translate.nets.blocks import spectral_normalize
from lit_translate.nets.gan.latent import flat_latent

SAGAN_G_PARAMS = 3_832_885
"""Trainable parameters of ``SAGANGenerator()`` (latent 128, conv_dim 64, 64 px)."""
SAGAN_D_PARAMS = 3_175_299
"""Trainable parameters of ``SAGANDiscriminator()`` (conv_dim 64, 64 px)."""


def _normalised(layers: list[nn.Module], spectral_norm: bool) -> nn.Sequential:
    block = nn.Sequential(*layers)
    return spectral_normalize(block) if spectral_norm else block


class SAGANGenerator(nn.Module):
    """SAGAN's 64 px generator (module docstring).

    Args:
        latent_dim: Length of ``z`` (the reference run's ``z_dim``). Default ``128``.
        conv_dim: Width of the 32 x 32 block; the 4 x 4 block has ``8 * conv_dim``. Default ``64``.
        out_channels: Image channels. Default ``3``.
        spectral_norm: Spectral norm on the four hidden transposed convs. Default ``True``.

    Shape:
        Input ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)``; output ``(N, out_channels, 64, 64)`` in ``[-1, 1]``.
    """

    def __init__(
        self, latent_dim: int = 128, conv_dim: int = 64, out_channels: int = 3, spectral_norm: bool = True
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        width = conv_dim * 8
        self.l1 = _normalised(
            [nn.ConvTranspose2d(latent_dim, width, 4), nn.BatchNorm2d(width), nn.ReLU()], spectral_norm
        )
        for name in ("l2", "l3", "l4"):
            up = nn.ConvTranspose2d(width, width // 2, 4, 2, 1)
            setattr(self, name, _normalised([up, nn.BatchNorm2d(width // 2), nn.ReLU()], spectral_norm))
            width //= 2
        self.attn1 = SelfAttention(conv_dim * 2)  # after l3: 16 x 16
        self.attn2 = SelfAttention(conv_dim)  # after l4: 32 x 32
        self.last = nn.Sequential(nn.ConvTranspose2d(conv_dim, out_channels, 4, 2, 1), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        """Generate images ``(N, out_channels, 64, 64)`` in ``[-1, 1]`` from ``z``."""
        h = flat_latent(z, self.latent_dim, type(self).__name__)[:, :, None, None]
        h = self.attn1(self.l3(self.l2(self.l1(h))))
        return self.last(self.attn2(self.l4(h)))


class SAGANDiscriminator(nn.Module):
    """SAGAN's 64 px discriminator (module docstring).

    Args:
        in_channels: Image channels. Default ``3``.
        conv_dim: Width of the first conv; the 4 x 4 block has ``8 * conv_dim``. Default ``64``.
        spectral_norm: Spectral norm on the four stride-2 convs. Default ``True``.

    Shape:
        Input ``(N, in_channels, 64, 64)``; output logits ``(N, 1)``.
    """

    def __init__(self, in_channels: int = 3, conv_dim: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        width = conv_dim
        self.l1 = _normalised([nn.Conv2d(in_channels, width, 4, 2, 1), nn.LeakyReLU(0.1)], spectral_norm)
        for name in ("l2", "l3", "l4"):
            setattr(self, name, _normalised([nn.Conv2d(width, width * 2, 4, 2, 1), nn.LeakyReLU(0.1)], spectral_norm))
            width *= 2
        self.attn1 = SelfAttention(conv_dim * 4)  # after l3: 8 x 8
        self.attn2 = SelfAttention(conv_dim * 8)  # after l4: 4 x 4
        self.last = nn.Conv2d(conv_dim * 8, 1, 4)

    def forward(self, x: Tensor) -> Tensor:
        """Return real/fake logits ``(N, 1)`` for images ``(N, in_channels, 64, 64)``."""
        h = self.attn1(self.l3(self.l2(self.l1(x))))
        return self.last(self.attn2(self.l4(h))).flatten(1)
