"""The noise -> image nets of issue 24 item 2: parameter counts of the reference code, shapes, attention placement.

Where the counts come from (trainable parameters; spectral norm's u / v vectors are buffers, not counted):
- DCGAN: pytorch/examples ``dcgan/main.py`` ``Generator`` / ``Discriminator`` with nz 100, ngf 64, ndf 64, nc 3:
  G 3,576,704, D 2,765,568 (convs without bias, BN affine).
- SNGAN: pfnet-research/sngan_projection ``gen_models/resnet_32.py`` (``ResNetGenerator``, ch 256, dim_z 128,
  bottom_width 4) with ``gen_models/resblocks.py``, and ``dis_models/snresnet_32.py``
  (``SNResNetProjectionDiscriminator``, ch 128, n_classes 0) with ``dis_models/resblocks.py``, the settings of
  ``configs/sn_cifar10_unconditional.yml``:
  G 4,276,739, D 1,053,824 (counted by hand from those definitions: Chainer is not installed).
- SAGAN: heykeetae/Self-Attention-GAN ``sagan_models.py`` ``Generator(batch_size, 64, z_dim, 64)`` and
  ``Discriminator(batch_size, 64, 64)``, counted by running that file: G 3,832,885 with ``parameter.py``'s z_dim 128
  (3,603,509 with the constructor's z_dim 100), D 3,175,299.
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from lit_translate.nets.attention import SelfAttention
from lit_translate.nets.gan import (
    BEGANDiscriminator,
    BEGANGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    EBGANDiscriminator,
    SAGANDiscriminator,
    SAGANGenerator,
    SNGANDiscriminator,
    SNGANGenerator,
)


def trainable(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


@pytest.mark.parametrize(
    ("build", "count"),
    [
        (DCGANGenerator, 3_576_704),
        (DCGANDiscriminator, 2_765_568),
        (SNGANGenerator, 4_276_739),
        (SNGANDiscriminator, 1_053_824),
        (SAGANGenerator, 3_832_885),
        (lambda: SAGANGenerator(latent_dim=100), 3_603_509),
        (SAGANDiscriminator, 3_175_299),
    ],
    ids=["dcgan_g", "dcgan_d", "sngan_g", "sngan_d", "sagan_g", "sagan_g_z100", "sagan_d"],
)
def test_parameter_counts_of_the_reference_code(build, count):
    assert trainable(build()) == count


@pytest.mark.parametrize(
    ("generator", "discriminator", "size"),
    [
        (lambda: DCGANGenerator(ngf=8), lambda: DCGANDiscriminator(ndf=8), 64),
        (lambda: DCGANGenerator(ngf=8, image_size=32), lambda: DCGANDiscriminator(ndf=8, image_size=32), 32),
        (lambda: SNGANGenerator(ch=16), lambda: SNGANDiscriminator(ch=16), 32),
        (lambda: SAGANGenerator(conv_dim=16), lambda: SAGANDiscriminator(conv_dim=16), 64),
        (lambda: BEGANGenerator(ngf=8), lambda: BEGANDiscriminator(ndf=8, hidden_dim=8), 64),
        (lambda: BEGANGenerator(ngf=8, image_size=32), lambda: EBGANDiscriminator(ndf=8), 32),
    ],
    ids=["dcgan64", "dcgan32", "sngan", "sagan", "began", "ebgan"],
)
def test_generators_make_images_their_discriminators_score(generator, discriminator, size):
    torch.manual_seed(0)
    g, d = generator(), discriminator()
    z = torch.randn(2, g.latent_dim)
    images = g(z)
    assert images.shape == (2, 3, size, size)
    assert torch.equal(g.eval()(z), g(z[:, :, None, None])), "z as (N, latent_dim, 1, 1) is the same code"
    score = d(images)
    assert score.shape == ((2, 3, size, size) if hasattr(d, "encode") else (2, 1))


def test_latent_shape_is_checked():
    with pytest.raises(ValueError, match=r"needs latent codes \(N, 100\)"):
        DCGANGenerator(ngf=8)(torch.randn(2, 99))
    with pytest.raises(ValueError, match="supports image_size 32, 64, 128"):
        DCGANGenerator(image_size=48)


def test_sagan_attention_sits_where_the_reference_puts_it():
    sizes: list[int] = []
    for net, x in ((SAGANGenerator(conv_dim=16), torch.randn(1, 128)), (SAGANDiscriminator(conv_dim=16), None)):
        for module in net.modules():
            if isinstance(module, SelfAttention):
                module.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1]))
        net.eval()(x if x is not None else torch.randn(1, 3, 64, 64))
    assert sizes == [16, 32, 8, 4]


def test_spectral_norm_defaults_follow_the_papers():
    def normalised(net):
        return sum(parametrize.is_parametrized(m, "weight") for m in net.modules())

    assert normalised(SNGANDiscriminator(ch=16)) == 4 * 2 + 2 + 1  # every conv, both learned shortcuts, the linear
    assert normalised(SNGANGenerator(ch=16)) == 0
    assert normalised(SAGANGenerator(conv_dim=16)) == 4 and normalised(SAGANDiscriminator(conv_dim=16)) == 4
    assert normalised(SAGANGenerator(conv_dim=16, spectral_norm=False)) == 0
    assert normalised(DCGANDiscriminator(ndf=8, spectral_norm=True)) == 5
    state = SAGANDiscriminator(conv_dim=16).state_dict()
    assert sum(k.endswith("._u") for k in state) == 4


def test_autoencoder_discriminators_encode_and_decode():
    torch.manual_seed(0)
    began = BEGANDiscriminator(in_channels=6, ndf=8, hidden_dim=16)
    x = torch.randn(2, 6, 64, 64)
    assert began.encode(x).shape == (2, 16) and torch.equal(began(x), began.decode(began.encode(x)))
    with pytest.raises(ValueError, match="set image_size to the crop size"):
        began(torch.randn(2, 6, 32, 32))
    ebgan = EBGANDiscriminator(in_channels=6, ndf=8)
    assert ebgan.encode(x).shape == (2, 32, 8, 8) and ebgan(x).shape == x.shape
