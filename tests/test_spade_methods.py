"""SPADE and Pix2PixHD methods: recipe parameter counts, the VAE's latent codes, label options, step-0 losses."""

from __future__ import annotations

import pytest
import torch
from conftest import CONFIGS, run_cli

from lit_translate.errors import InputError
from lit_translate.methods import SPADE, Pix2PixHD
from lit_translate.nets import ConvEncoder, GlobalGenerator, MultiscaleDiscriminator, SPADEGenerator


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(
    ("recipe", "generator", "discriminator"),
    [
        ("spade/cityscapes.yaml", 93_048_003, 5_601_410),
        ("spade/ade20k.yaml", 96_492_483, 5_836_930),
        ("pix2pixhd/cityscapes_512.yaml", 182_546_755, 5_603_202),
    ],
)
def test_recipes_build_the_reference_parameter_counts(recipe, generator, discriminator, tmp_path):
    model = run_cli(["-c", str(CONFIGS / recipe), "--trainer.default_root_dir", str(tmp_path)]).model
    assert (count(model.generator), count(model.discriminator)) == (generator, discriminator)


def test_spade_cityscapes_recipe_with_the_vae(tmp_path):
    args = ["-c", str(CONFIGS / "spade" / "cityscapes.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    args += ["--model.init_args.encoder", "lit_translate.nets.ConvEncoder"]
    model = run_cli([*args, "--model.init_args.generator.init_args.use_vae", "true"]).model
    assert (count(model.generator), count(model.encoder), model.latent_dim) == (101_136_579, 10_463_424, 256)


def tiny_spade(vae: bool = True) -> SPADE:
    torch.manual_seed(0)
    generator = SPADEGenerator(semantic_nc=6, ngf=4, crop_size=32, use_vae=vae, z_dim=8)
    encoder = ConvEncoder(ngf=4, z_dim=8, input_size=16) if vae else None
    model = SPADE(generator, MultiscaleDiscriminator(9, ndf=4, n_layers=2), encoder, vgg_weights="random")
    model.label_nc, model.contain_dontcare_label, model.use_instance = 5, False, True
    return model


def test_spade_latent_codes_follow_the_contract_by_direct_calls():
    """Seeds, codes and style images (until the base's latent-code support merges, called directly)."""
    model = tiny_spade()
    labels = torch.randint(0, 5, (2, 1, 32, 32))
    net = model.generator.eval()
    seed0, seed0_again = model.generate(net, labels, "AtoB"), model.generate(net, labels, "AtoB", z=0)
    torch.testing.assert_close(seed0, seed0_again, rtol=0, atol=0)
    assert not torch.equal(seed0, model.generate(net, labels, "AtoB", z=1))
    codes = torch.randn(8)
    torch.testing.assert_close(
        model.generate(net, labels, "AtoB", z=codes)[0], model.generate(net, labels[:1], "AtoB", z=codes)[0]
    )
    style = torch.rand(1, 3, 32, 32) * 2 - 1
    by_image = model.generate(net, labels[:1], "AtoB", z=style)
    torch.testing.assert_close(by_image, model.generate(net, labels[:1], "AtoB", z=model.encode_latent(style)))
    assert model.latent_dim == 8 and model.encode_latent(style).shape == (1, 8)
    assert tiny_spade(vae=False).latent_dim is None
    with pytest.raises(InputError, match="no latent code"):
        tiny_spade(vae=False).generate(net, labels, "AtoB", z=0)


def test_spade_refuses_an_encoder_without_use_vae():
    with pytest.raises(InputError, match="use_vae"):
        SPADE(SPADEGenerator(6, ngf=4, crop_size=32), MultiscaleDiscriminator(9, ndf=4), ConvEncoder(ngf=4))


def test_label_options_come_from_the_data_and_a_mismatch_names_both():
    class Data:
        label_nc, contain_dontcare_label, instance = 5, False, True

    model = tiny_spade()
    model.label_nc = model.contain_dontcare_label = model.use_instance = None
    model.read_label_options(Data())
    assert (model.hparams["labels"], model.hparams["dontcare"], model.hparams["instance_edges"]) == (5, False, True)
    model.label_nc = 7
    with pytest.raises(InputError, match="labels is 7 but the data has label_nc 5"):
        model.read_label_options(Data())


def test_spade_and_pix2pixhd_loss_terms_at_step_zero():
    """The weighted terms the references log (G: GAN, feat, VGG [, KLD]; D: fake, real), finite and positive."""
    model = tiny_spade()
    labels, real = torch.randint(0, 5, (2, 1, 32, 32)), torch.rand(2, 3, 32, 32) * 2 - 1
    semantic = model.semantic(labels)
    assert semantic.shape == (2, 6, 32, 32)
    g = model.generator_losses(semantic, real)
    d = model.discriminator_losses(semantic, real)
    assert set(g) == {"gan", "feat", "vgg", "kld"} and set(d) == {"fake", "real"}
    assert all(torch.isfinite(v) for v in [*g.values(), *d.values()])
    hd = Pix2PixHD(
        GlobalGenerator(6, ngf=4, n_downsampling=2, n_blocks=1),
        MultiscaleDiscriminator(9, ndf=4),
        vgg_weights="random",
        labels=5,
        dontcare=False,
        instance_edges=True,
    )
    fake = hd.generator(hd.semantic(labels))
    assert set(hd.generator_losses(semantic, fake, real)) == {"gan", "feat", "vgg"}
    assert hd.translate(labels).shape == (2, 3, 32, 32)
