"""SPADE and pix2pixHD nets and loss terms: reference parameter counts, shapes at a tiny size, hand-computed losses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from lit_translate.losses import (
    VGG_LOSS_LAYERS,
    GANLoss,
    feature_matching_loss,
    kl_divergence,
    multiscale_gan_loss,
    reference_vgg_input,
    vgg_loss,
)
from lit_translate.nets import (
    SPADE,
    ConvEncoder,
    FeatureEncoder,
    GlobalGenerator,
    LocalEnhancer,
    MultiscaleDiscriminator,
    PatchDiscriminator,
    SPADEGenerator,
)
from lit_translate.nets.pix2pixhd import instance_average
from lit_translate.nets.spade import reparameterize
from lit_translate.nets.vgg import IMAGENET_MEAN, IMAGENET_STD, vgg_layer_names

CITY = {"semantic_nc": 36, "num_upsampling_layers": "more", "crop_size": 512, "aspect_ratio": 2.0}
PIX2PIXHD_D = {"norm_D": "instance", "conv_bias": True, "init_type": "normal"}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# The generators have 93M to 183M parameters: built on the meta device (the same parameters, no memory, no init
# time). Spectral norm's u and v are buffers, so only the trainable weights count, as in the references.
@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (lambda: SPADEGenerator(**CITY), 93_048_003),
        (lambda: SPADEGenerator(**CITY, use_vae=True), 101_136_579),
        (lambda: SPADEGenerator(151, num_upsampling_layers="normal", crop_size=256), 96_492_483),
        (lambda: GlobalGenerator(36), 182_546_755),
    ],
    ids=["spade_city", "spade_city_vae", "spade_ade20k", "pix2pixhd_global"],
)
def test_generator_parameter_counts_match_the_references(build, expected):
    with torch.device("meta"):
        assert n_params(build()) == expected


def test_discriminator_and_encoder_parameter_counts_match_the_references():
    spade_d = MultiscaleDiscriminator(39)
    assert n_params(spade_d) == 5_601_410
    assert [n_params(d) for d in spade_d.discriminators] == [2_800_705, 2_800_705]
    assert n_params(MultiscaleDiscriminator(154)) == 5_836_930  # ADE20K: 151 semantic + 3
    assert n_params(MultiscaleDiscriminator(39, **PIX2PIXHD_D)) == 5_603_202
    assert n_params(ConvEncoder()) == 10_463_424
    assert n_params(FeatureEncoder(nef=16)) == 788_803
    # spectral norm only on the normed convs (SPADE's spectralinstance), whose bias is dropped
    convs = [m for m in spade_d.discriminators[0].model if isinstance(m, nn.Conv2d)]
    assert [hasattr(c, "parametrizations") for c in convs] == [False, True, True, True, False]
    assert [c.bias is not None for c in convs] == [True, False, False, False, True]


def test_spade_generator_shapes_and_vae_at_a_tiny_size():
    torch.manual_seed(0)
    seg = torch.zeros(2, 5, 64, 128).scatter_(1, torch.randint(0, 5, (2, 1, 64, 128)), 1.0)
    plain = SPADEGenerator(5, ngf=16, crop_size=128, aspect_ratio=2.0)
    assert plain.latent_size == (2, 4) and plain.wants_sync_batchnorm
    out = plain(seg)
    assert out.shape == (2, 3, 64, 128) and out.abs().max() <= 1
    vae = SPADEGenerator(5, ngf=16, crop_size=128, aspect_ratio=2.0, use_vae=True, z_dim=8).eval()
    z = torch.randn(2, 8)
    assert vae(seg, z).shape == (2, 3, 64, 128)
    assert torch.equal(vae(seg, z), vae(seg, z)) and not torch.equal(vae(seg, z), vae(seg, -z))
    most = SPADEGenerator(
        5, ngf=8, num_upsampling_layers="most", crop_size=256, aspect_ratio=2.0, norm_G="spadeinstance3x3"
    )
    assert most(seg).shape == (2, 3, 128, 256)  # latent 1x2, seven doublings
    with pytest.raises(ValueError, match="crop_size=64"):
        SPADEGenerator(5, num_upsampling_layers="most", crop_size=64)
    with pytest.raises(ValueError, match="norm_G must be one of"):
        SPADEGenerator(5, norm_G="spectralspadegroup3x3")


def test_conv_encoder_and_multiscale_discriminator_shapes():
    mu, logvar = ConvEncoder(ngf=8, z_dim=16, input_size=64)(torch.randn(2, 3, 64, 128))
    assert mu.shape == logvar.shape == (2, 16)
    z = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    assert torch.equal(z, reparameterize(mu, logvar, torch.Generator().manual_seed(3)))
    assert torch.allclose(reparameterize(mu, torch.full_like(logvar, -200.0)), mu)
    disc = MultiscaleDiscriminator(8, ndf=8, n_layers=3, num_D=3).eval()  # eval: no power iteration
    x = torch.randn(2, 8, 64, 128)
    outputs = disc(x)
    assert [len(scale) for scale in outputs] == [5, 5, 5]
    assert [tuple(scale[-1].shape) for scale in outputs] == [(2, 1, 11, 19), (2, 1, 7, 11), (2, 1, 5, 7)]
    assert [scale[0].shape[-2:] for scale in outputs] == [(33, 65), (17, 33), (9, 17)]
    half = nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    assert torch.equal(outputs[1][-1], disc.discriminators[1](half))


def test_patch_discriminator_features_end_with_its_logits():
    disc = PatchDiscriminator(6, ndf=8, n_layers=2, norm="instance")
    x = torch.randn(1, 6, 32, 32)
    features = disc.features(x)
    assert len(features) == 4 and torch.equal(features[-1], disc(x))


def test_spade_norm_modulates_by_the_nearest_resized_label_map():
    torch.manual_seed(0)
    spade = SPADE(4, 3, "instance")
    x, seg = torch.randn(2, 4, 8, 8), torch.rand(2, 3, 16, 16)
    normalized = nn.functional.instance_norm(x)
    for conv in (spade.mlp_gamma, spade.mlp_beta):
        nn.init.zeros_(conv.weight)
        nn.init.zeros_(conv.bias)
    assert torch.allclose(spade(x, seg), normalized, atol=1e-6)
    nn.init.constant_(spade.mlp_gamma.bias, 1.0)  # gamma = 1: x * 2
    nn.init.constant_(spade.mlp_beta.bias, 0.5)
    assert torch.allclose(spade(x, seg), 2 * normalized + 0.5, atol=1e-6)
    # gamma from the label map, resized nearest to 8x8 (every other pixel of the 16x16 map)
    spade.mlp_gamma.weight.data.zero_()
    spade.mlp_gamma.bias.data.zero_()
    hidden = spade.mlp_shared(seg[:, :, ::2, ::2])
    expected = normalized * (1 + spade.mlp_gamma(hidden)) + spade.mlp_beta(hidden)
    assert torch.allclose(spade(x, seg), expected, atol=1e-6)


def test_syncbatch_builds_batchnorm_that_converts_to_sync_batchnorm():
    gen = SPADEGenerator(3, ngf=4, crop_size=32, norm_G="spectralspadesyncbatch3x3")
    norms = [m.param_free_norm for m in gen.modules() if isinstance(m, SPADE)]
    assert norms and all(type(n) is nn.BatchNorm2d and not n.affine for n in norms)
    converted = nn.SyncBatchNorm.convert_sync_batchnorm(gen)  # what Trainer(sync_batchnorm=True) does
    assert all(isinstance(m.param_free_norm, nn.SyncBatchNorm) for m in converted.modules() if isinstance(m, SPADE))
    seg = torch.zeros(2, 3, 32, 32)
    seg[:, 0] = 1
    assert converted.train()(seg).shape == (2, 3, 32, 32)  # one process: falls back to batch norm
    assert not SPADEGenerator(3, ngf=4, crop_size=32, norm_G="spadeinstance3x3").wants_sync_batchnorm


def test_pix2pixhd_generators_and_instance_average():
    x = torch.randn(1, 6, 32, 64)
    assert GlobalGenerator(6, ngf=4, n_downsampling=3, n_blocks=1)(x).shape == (1, 3, 32, 64)
    local = LocalEnhancer(6, ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1)
    assert local.size_divisor == 8 and local(x).shape == (1, 3, 32, 64)
    features = torch.arange(2 * 2 * 2 * 3, dtype=torch.float32).reshape(2, 2, 2, 3)
    instances = torch.tensor([[[5, 5, 7], [7, 7, 7]], [[5, 0, 0], [0, 0, 0]]]).unsqueeze(1)
    pooled = instance_average(features, instances)
    # sample 0, channel 0: values 0 1 2 / 3 4 5; instance 5 = {0, 1} -> 0.5, instance 7 = {2, 3, 4, 5} -> 3.5
    assert pooled[0, 0].tolist() == [[0.5, 0.5, 3.5], [3.5, 3.5, 3.5]]
    # sample 1, channel 1: values 18..23; instance 5 = {18}, instance 0 = the rest (mean 21)
    assert pooled[1, 1].tolist() == [[18.0, 21.0, 21.0], [21.0, 21.0, 21.0]]
    encoded = FeatureEncoder(nef=4)(torch.randn(2, 3, 32, 32), torch.zeros(2, 1, 32, 32))
    assert encoded.shape == (2, 3, 32, 32) and torch.equal(encoded, encoded[:, :, :1, :1].expand_as(encoded))


def _scales(*values: float, logits: float) -> list[list[torch.Tensor]]:
    return [[torch.full((1, 2, 4, 4), v), torch.full((1, 1, 3, 3), logits)] for v in values]


def test_feature_matching_loss_weights_and_detaches_the_real_features():
    # two scales, two intermediate features each: |diff| = 1, 2 (scale 0) and 3, 4 (scale 1); logits ignored
    fake = [[torch.full((1, 2, 4, 4), 1.0, requires_grad=True), torch.full((1, 2, 2, 2), 2.0), torch.ones(1, 1, 1)]]
    fake.append([torch.full((1, 2, 2, 2), 3.0), torch.full((1, 2, 1, 1), -4.0), torch.ones(1, 1, 1)])
    real = [[torch.zeros(1, 2, 4, 4, requires_grad=True), torch.zeros(1, 2, 2, 2), torch.full((1, 1, 1), 9.0)]]
    real.append([torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 1, 1), torch.full((1, 1, 1), 9.0)])
    spade = feature_matching_loss(fake, real)
    assert spade.item() == pytest.approx((1 + 2 + 3 + 4) / 2)
    assert feature_matching_loss(fake, real, "pix2pixhd").item() == pytest.approx((1 + 2 + 3 + 4) / 2 * 4 / 2)
    spade.backward()
    assert fake[0][0].grad is not None and real[0][0].grad is None
    with pytest.raises(ValueError, match="weighting must be one of"):
        feature_matching_loss(fake, real, "pix2pix")


def test_multiscale_hinge_loss_takes_each_scales_logits():
    outputs = [[torch.zeros(1, 2, 4, 4), torch.full((1, 1, 3, 3), 0.5)], [torch.full((1, 1, 2, 2), -1.0)]]
    hinge = GANLoss("hinge")
    assert multiscale_gan_loss(hinge, outputs, True).item() == pytest.approx((0.5 + 2.0) / 2)
    assert multiscale_gan_loss(hinge, outputs, False).item() == pytest.approx((1.5 + 0.0) / 2)
    assert multiscale_gan_loss(hinge, outputs, True, False).item() == pytest.approx((-0.5 + 1.0) / 2)
    assert multiscale_gan_loss(GANLoss("lsgan"), outputs, True, over_scales="sum").item() == pytest.approx(4.25)


def test_vgg_loss_weights_kl_divergence_and_reference_input():
    assert set(VGG_LOSS_LAYERS) <= set(vgg_layer_names("vgg19"))
    fake = {name: torch.full((1, 2, 2, 2), 1.0, requires_grad=True) for name in VGG_LOSS_LAYERS}
    real = {name: torch.zeros(1, 2, 2, 2, requires_grad=True) for name in VGG_LOSS_LAYERS}
    loss = vgg_loss(fake, real)
    assert loss.item() == pytest.approx(1 / 32 + 1 / 16 + 1 / 8 + 1 / 4 + 1)
    loss.backward()
    assert real["relu1_1"].grad is None and fake["relu5_1"].grad is not None
    with pytest.raises(ValueError, match="relu5_1"):
        vgg_loss({k: v for k, v in fake.items() if k != "relu5_1"}, real)
    mu = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, 0.0], [math.log(2.0), 0.0]])
    # -0.5 * [(1 - 1 - 1) + (1 - 4 - 1) + (1 + ln 2 - 2) + 0] = 0.5 * (1 + 4 + 1 - ln 2)
    assert kl_divergence(mu, logvar).item() == pytest.approx(0.5 * (6 - math.log(2.0)))
    assert kl_divergence(torch.zeros(3, 4), torch.zeros(3, 4)).item() == 0.0
    images = torch.rand(2, 3, 4, 4) * 2 - 1
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert torch.allclose(((reference_vgg_input(images) + 1) / 2 - mean) / std, images, atol=1e-6)
