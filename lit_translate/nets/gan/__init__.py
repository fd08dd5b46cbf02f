"""Noise -> image GANs in their papers' settings: DCGAN, SNGAN, SAGAN, EBGAN and BEGAN.

DCGAN, SNGAN's ResNets, SAGAN, and the auto-encoder discriminators of EBGAN and BEGAN (with BEGAN's generator).
Plain ``nn.Module`` nets, as the rest of ``lit_translate.nets``.

Every generator takes a latent batch ``z`` of shape ``(N, latent_dim)`` (or ``(N, latent_dim, 1, 1)``) and returns
images in ``[-1, 1]``; ``latent_dim`` is an attribute. Every discriminator but the auto-encoders returns logits
``(N, 1)``; the auto-encoders return the reconstruction of their input (the energy is computed by
``lit_translate.losses.energy``).
"""

from lit_translate.nets.gan.autoencoder import (
    AutoEncoderDiscriminator,
    BEGANDiscriminator,
    BEGANGenerator,
    EBGANDiscriminator,
)
from lit_translate.nets.gan.dcgan import DCGANDiscriminator, DCGANGenerator
from lit_translate.nets.gan.sagan import SAGANDiscriminator, SAGANGenerator
from lit_translate.nets.gan.sngan import SNGANDiscriminator, SNGANGenerator

__all__ = [
    "AutoEncoderDiscriminator",
    "BEGANDiscriminator",
    "BEGANGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "EBGANDiscriminator",
    "SAGANDiscriminator",
    "SAGANGenerator",
    "SNGANDiscriminator",
    "SNGANGenerator",
]
