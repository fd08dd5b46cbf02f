"""Auto-encoder discriminators: the energy of an image is how badly D reconstructs it (EBGAN, BEGAN).

``EBGANDiscriminator`` follows Zhao et al. (ICLR 2017, EBGAN, the 64 px auto-encoder of the appendix): an encoder of
stride-2 4x4 convs to 64, 128, 256 channels and a decoder of stride-2 4x4 transposed convs back to 128, 64 and the
image, batch norm inside, LeakyReLU 0.2 / ReLU (as DCGAN), ``N(0, 0.02)`` init. ``BEGANDiscriminator`` follows
Berthelot et al. (2017, BEGAN, Fig. 1): 3x3 convs with ELU, two per scale, stride-2 3x3 convs between scales with
widths ``n, 2n, 3n, 4n`` (64 px), a linear embedding of size ``h``; its decoder is ``BEGANGenerator``, the paper's
generator (linear from ``h`` to ``8 x 8 x n``, two 3x3 conv + ELU per scale, nearest-neighbour x2 between scales, a 3x3
conv to the image). The paper's 64 px setting is ``h = n = 64``.

The objectives (``lit_translate.losses.energy``) use ``encode`` (EBGAN's pulling-away term is on the embedding) and
``decode``; ``forward`` is ``decode(encode(x))``, the reconstruction.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from lit_translate.nets.blocks import spectral_normalize
from lit_translate.nets.gan.latent import check_image_size, flat_latent
from lit_translate.nets.init import init_weights

_SIZES = (32, 64, 128)


class AutoEncoderDiscriminator(nn.Module):
    """An energy discriminator: ``encode`` to an embedding, ``decode`` back; ``forward`` returns the reconstruction."""

    def encode(self, x: Tensor) -> Tensor:
        """Return the embedding of ``x`` (the batch first)."""
        raise NotImplementedError

    def decode(self, embedding: Tensor) -> Tensor:
        """Return the reconstruction ``(N, C, H, W)`` from an embedding of :meth:`encode`."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Return the reconstruction of ``x``, its shape."""
        return self.decode(self.encode(x))


def _elu_conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1), nn.ELU(inplace=True)]


class BEGANGenerator(nn.Module):
    """BEGAN's generator, also the decoder of ``BEGANDiscriminator`` (module docstring).

    The output is not squashed (no ``tanh``), as in the paper's Fig. 1.

    Args:
        latent_dim: Length of ``z`` (``h``, the embedding size). Default ``64``.
        ngf: Filters of every conv (``n``). Default ``64``.
        out_channels: Image channels. Default ``3``.
        image_size: 32, 64 or 128. Default ``64``.
        spectral_norm: Spectral norm on every layer. Default ``False``.

    Shape:
        Input ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)``; output ``(N, out_channels, image_size, image_size)``.
    """

    def __init__(
        self,
        latent_dim: int = 64,
        ngf: int = 64,
        out_channels: int = 3,
        image_size: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_image_size(type(self).__name__, image_size, _SIZES)
        self.latent_dim, self.ngf = latent_dim, ngf
        self.fc = nn.Linear(latent_dim, 8 * 8 * ngf)
        layers: list[nn.Module] = []
        scales = int(math.log2(image_size // 8)) + 1
        for scale in range(scales):
            layers += _elu_conv(ngf, ngf) + _elu_conv(ngf, ngf)
            layers += [nn.Upsample(scale_factor=2, mode="nearest")] if scale < scales - 1 else []
        layers += [nn.Conv2d(ngf, out_channels, 3, 1, 1)]
        self.main = nn.Sequential(*layers)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, z: Tensor) -> Tensor:
        """Generate (or decode) images ``(N, out_channels, image_size, image_size)`` from ``z``."""
        h = self.fc(flat_latent(z, self.latent_dim, type(self).__name__))
        return self.main(h.view(-1, self.ngf, 8, 8))


class BEGANDiscriminator(AutoEncoderDiscriminator):
    """BEGAN's auto-encoder discriminator (module docstring).

    Args:
        in_channels: Channels of the images it reconstructs (6 for pix2pix's input + target pairs). Default ``3``.
        hidden_dim: Embedding size ``h``. Default ``64``.
        ndf: Filters ``n`` (widths ``n, 2n, ...`` in the encoder, ``n`` in the decoder). Default ``64``.
        image_size: 32, 64 or 128: the encoder ends at 8 x 8. Default ``64``.
        spectral_norm: Spectral norm on every layer. Default ``False``.

    Shape:
        Input ``(N, in_channels, image_size, image_size)``; output the reconstruction, same shape; embedding
        ``(N, hidden_dim)``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        hidden_dim: int = 64,
        ndf: int = 64,
        image_size: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_image_size(type(self).__name__, image_size, _SIZES)
        self.image_size = image_size
        scales = int(math.log2(image_size // 8)) + 1
        layers = _elu_conv(in_channels, ndf)
        for scale in range(1, scales + 1):
            layers += _elu_conv(ndf * scale, ndf * scale) + _elu_conv(ndf * scale, ndf * scale)
            layers += _elu_conv(ndf * scale, ndf * (scale + 1), stride=2) if scale < scales else []
        self.encoder = nn.Sequential(*layers)
        self.embed = nn.Linear(8 * 8 * ndf * scales, hidden_dim)
        self.decoder = BEGANGenerator(hidden_dim, ndf, in_channels, image_size)
        if spectral_norm:
            spectral_normalize(self)

    def encode(self, x: Tensor) -> Tensor:
        """Return the embedding ``(N, hidden_dim)`` of images ``(N, in_channels, image_size, image_size)``."""
        if tuple(x.shape[-2:]) != (self.image_size, self.image_size):
            raise ValueError(
                f"{type(self).__name__}(image_size={self.image_size}) got {tuple(x.shape)}: its linear embedding "
                f"needs {self.image_size} x {self.image_size} images; set image_size to the crop size."
            )
        return self.embed(self.encoder(x).flatten(1))

    def decode(self, embedding: Tensor) -> Tensor:
        """Return the reconstruction ``(N, in_channels, image_size, image_size)``."""
        return self.decoder(embedding)


class EBGANDiscriminator(AutoEncoderDiscriminator):
    """EBGAN's auto-encoder discriminator for 64 px (module docstring); any size divisible by 8 works.

    Args:
        in_channels: Channels of the images it reconstructs (6 for pix2pix's input + target pairs). Default ``3``.
        ndf: Filters of the first encoder conv (then ``2 ndf``, ``4 ndf``). Default ``64``.
        spectral_norm: Spectral norm on every layer (after the init). Default ``False``.

    Shape:
        Input ``(N, in_channels, H, W)``; output the reconstruction, same shape; embedding
        ``(N, 4 ndf, H / 8, W / 8)``.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, ndf, 4, 2, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 4),
            nn.LeakyReLU(0.2, True),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(ndf * 4, ndf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ndf * 2, ndf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ndf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ndf, in_channels, 4, 2, 1),
        )
        init_weights(self, "normal", 0.02)
        if spectral_norm:
            spectral_normalize(self)

    def encode(self, x: Tensor) -> Tensor:
        """Return the embedding ``(N, 4 ndf, H / 8, W / 8)`` of images ``(N, in_channels, H, W)``."""
        return self.encoder(x)

    def decode(self, embedding: Tensor) -> Tensor:
        """Return the reconstruction ``(N, in_channels, H, W)``."""
        return self.decoder(embedding)
