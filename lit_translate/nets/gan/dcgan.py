"""DCGAN (Radford et al., ICLR 2016) generator and discriminator, the layout of pytorch/examples ``dcgan/main.py``.

The generator is the one the LSGAN and BEGAN papers compare against. At 64 px with ``latent_dim`` 100 and 64 filters
(the reference's ``nz``, ``ngf``, ``ndf``): G has ``DCGAN_G_PARAMS`` = 3,576,704 and D ``DCGAN_D_PARAMS`` = 2,765,568
trainable parameters, the reference's counts. D returns logits: the reference's final sigmoid is in the loss
(``GANLoss("vanilla")`` is BCE with logits), which is the same objective, computed stably.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from lit_translate.nets.blocks import spectral_normalize
from lit_translate.nets.gan.latent import check_image_size, flat_latent
from lit_translate.nets.init import init_weights

DCGAN_G_PARAMS = 3_576_704
"""Trainable parameters of ``DCGANGenerator()`` (64 px, latent 100, ngf 64), as the reference."""
DCGAN_D_PARAMS = 2_765_568
"""Trainable parameters of ``DCGANDiscriminator()`` (64 px, ndf 64), as the reference."""
_SIZES = (32, 64, 128)


class DCGANGenerator(nn.Module):
    """The DCGAN generator: a 4x4 transposed conv from ``z`` to 4 x 4, then stride-2 4x4 transposed convs to the size.

    Widths ``ngf * image_size / 8`` at 4 x 4, halving at every doubling, down to ``ngf`` before the last layer; batch
    norm and ReLU after every layer but the last, which has ``tanh``; no biases. Weights ``N(0, 0.02)``, batch norm
    weights ``N(1, 0.02)`` (the reference's ``weights_init`` = ``init_weights("normal", 0.02)``).

    Args:
        latent_dim: Length of ``z`` (the reference's ``nz``). Default ``100``.
        ngf: Filters of the last hidden layer. Default ``64``.
        out_channels: Image channels. Default ``3``.
        image_size: 32, 64 (the reference) or 128. Default ``64``.
        spectral_norm: Spectral norm on every convolution (after the init). Default ``False``.

    Shape:
        Input ``(N, latent_dim)`` or ``(N, latent_dim, 1, 1)``; output ``(N, out_channels, image_size, image_size)``
        in ``[-1, 1]``.
    """

    def __init__(
        self,
        latent_dim: int = 100,
        ngf: int = 64,
        out_channels: int = 3,
        image_size: int = 64,
        spectral_norm: bool = False,
    ) -> None:
        super().__init__()
        check_image_size(type(self).__name__, image_size, _SIZES)
        self.latent_dim = latent_dim
        width = ngf * image_size // 8
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False)]
        layers += [nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(int(math.log2(image_size)) - 3):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2)]
            layers += [nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, out_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        init_weights(self, "normal", 0.02)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, z: Tensor) -> Tensor:
        """Generate images ``(N, out_channels, image_size, image_size)`` in ``[-1, 1]`` from ``z``."""
        return self.main(flat_latent(z, self.latent_dim, type(self).__name__)[:, :, None, None])


class DCGANDiscriminator(nn.Module):
    """The DCGAN discriminator: stride-2 4x4 convs down to 4 x 4 (LeakyReLU 0.2), then a 4x4 conv to one logit.

    Widths ``ndf``, doubling at every halving; batch norm on all but the first; no biases; weights as the generator's.

    Args:
        in_channels: Image channels. Default ``3``.
        ndf: Filters of the first layer. Default ``64``.
        image_size: 32, 64 (the reference) or 128. Default ``64``.
        spectral_norm: Spectral norm on every convolution (after the init). Default ``False``.

    Shape:
        Input ``(N, in_channels, image_size, image_size)``; output logits ``(N, 1)``.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, image_size: int = 64, spectral_norm: bool = False) -> None:
        super().__init__()
        check_image_size(type(self).__name__, image_size, _SIZES)
        layers: list[nn.Module] = [nn.Conv2d(in_channels, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        width = ndf
        for _ in range(int(math.log2(image_size)) - 3):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2)]
            layers += [nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)
        init_weights(self, "normal", 0.02)
        if spectral_norm:
            spectral_normalize(self)

    def forward(self, x: Tensor) -> Tensor:
        """Return real/fake logits ``(N, 1)`` for images ``(N, in_channels, image_size, image_size)``."""
        return self.main(x).flatten(1)
