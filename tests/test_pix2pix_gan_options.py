"""Issue 24 items 3 and 4 in a translation method: pix2pix with an SN-PatchGAN + self-attention, and with the BEGAN
and EBGAN auto-encoder discriminators, by config overrides only (in-process, as tests/test_methods.py)."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import PIX2PIX_DEMO, run_cli, tiny_args
from torch.nn.utils import parametrize

from lit_translate.nets.attention import SelfAttention
from lit_translate.nets.gan import BEGANDiscriminator, EBGANDiscriminator

D = "--model.init_args.discriminator"


def fit(tmp_path, *overrides: str, steps: int = 3):
    cli = run_cli(["-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path, steps=steps), *overrides])
    before = {n: p.detach().clone() for n, p in cli.model.discriminator.named_parameters()}
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, before


def test_pix2pix_with_a_spectral_norm_patchgan_and_attention(tmp_path):
    cli, before = fit(
        tmp_path,
        f"{D}.init_args.norm=none",
        f"{D}.init_args.spectral_norm=true",
        f"{D}.init_args.attention_at=[2]",
        "--model.init_args.generator.init_args.attention_at=[4]",
    )
    model = cli.model
    d_attention = [m for m in model.discriminator.modules() if isinstance(m, SelfAttention)]
    g_attention = [m for m in model.generator.modules() if isinstance(m, SelfAttention)]
    assert len(d_attention) == 1 and len(g_attention) == 1
    assert all(m.gamma.item() != 0.0 for m in d_attention + g_attention), "attention's gamma moved from 0"
    assert sum(parametrize.is_parametrized(m, "weight") for m in model.discriminator.modules()) == 5 + 3
    name = next(n for n, p in model.discriminator.named_parameters() if n.endswith("original"))
    assert not torch.equal(before[name], dict(model.discriminator.named_parameters())[name])
    assert any(k.endswith("._u") for k in model.state_dict())
    assert all(torch.isfinite(v).all() for k, v in cli.trainer.logged_metrics.items() if k.startswith("train/"))


@pytest.mark.parametrize(
    ("mode", "net"),
    [("began", "BEGANDiscriminator"), ("ebgan", "EBGANDiscriminator")],
)
def test_pix2pix_with_an_auto_encoder_discriminator(tmp_path, mode, net):
    sizes = '"hidden_dim": 8, "ndf": 8, "image_size": 64' if mode == "began" else '"ndf": 8'
    cli, before = fit(
        tmp_path,
        f'{D}={{"class_path": "lit_translate.nets.gan.{net}", "init_args": {{"in_channels": 6, {sizes}}}}}',
        f"--model.init_args.gan_mode={mode}",
        "--model.init_args.began_gamma=3.0",  # gamma L(x) > L(G(z)) from the start, so k_t rises from 0
        steps=4,
    )
    model = cli.model
    assert isinstance(model.discriminator, BEGANDiscriminator if mode == "began" else EBGANDiscriminator)
    assert model.gan_loss is None and model.energy.mode == mode
    moved = [n for n, p in model.discriminator.named_parameters() if not torch.equal(before[n], p)]
    assert moved, "D trained"
    logged = cli.trainer.logged_metrics
    assert {"train/d_real", "train/d_fake", "train/g_gan"} <= set(logged)
    if mode == "began":
        k = model.state_dict()["energy.balance.k"]
        assert 0.0 < k.item() < 0.1, "k_t moved from k_0 = 0 by the proportional control (lambda_k 0.001)"
        assert logged["train/d_k"].item() == pytest.approx(k.item())
        assert torch.isfinite(logged["train/d_convergence"])
        checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
        assert torch.equal(checkpoint["state_dict"]["energy.balance.k"], k), "k_t is in the checkpoint"
        assert model.hparams["began_gamma"] == 3.0
    else:
        assert "train/g_pt" in logged


def test_default_pix2pix_keeps_its_objective_and_state():
    from lit_translate.losses import GANLoss
    from lit_translate.methods import Pix2Pix
    from lit_translate.nets import PatchDiscriminator, UnetGenerator

    model = Pix2Pix(UnetGenerator(num_downs=5, ngf=8), PatchDiscriminator(ndf=8))
    assert isinstance(model.gan_loss, GANLoss) and model.energy is None
    assert all(k.startswith(("generator.", "discriminator.")) for k in model.state_dict())


def test_an_energy_gan_mode_needs_an_auto_encoder_discriminator():
    from lit_translate.errors import InputError
    from lit_translate.methods import Pix2Pix
    from lit_translate.nets import PatchDiscriminator, UnetGenerator

    with pytest.raises(InputError, match="needs an auto-encoder discriminator; got PatchDiscriminator"):
        Pix2Pix(UnetGenerator(num_downs=5, ngf=8), PatchDiscriminator(ndf=8), gan_mode="began")
    model = Pix2Pix(UnetGenerator(num_downs=5, ngf=8), BEGANDiscriminator(6, 8, 8), gan_mode="began")
    assert "energy.balance.k" in model.state_dict()


def test_began_k_resumes_exactly(tmp_path):
    """One epoch, its checkpoint, a second epoch from it: k_t and D as after two straight epochs."""
    net = {"class_path": "lit_translate.nets.gan.BEGANDiscriminator", "init_args": {"in_channels": 6, "ndf": 8}}
    net["init_args"]["hidden_dim"] = 8
    began = [f"{D}={json.dumps(net)}", "--model.init_args.gan_mode=began", "--model.init_args.began_gamma=3.0"]
    straight = run_cli(["-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "straight", steps=2, epochs=2), *began])
    straight.trainer.fit(straight.model, datamodule=straight.datamodule)
    first = run_cli(["-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "split", steps=2, epochs=1), *began])
    first.trainer.fit(first.model, datamodule=first.datamodule)
    resumed = run_cli(["-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "split", steps=2, epochs=2), *began])
    last = tmp_path / "split" / "checkpoints" / "last.ckpt"
    resumed.trainer.fit(resumed.model, datamodule=resumed.datamodule, ckpt_path=str(last))
    assert resumed.trainer.global_step == straight.trainer.global_step == 4
    want, got = straight.model.state_dict(), resumed.model.state_dict()
    assert 0 < first.model.energy.balance.k.item() < want["energy.balance.k"].item(), "k_t rose in both epochs"
    assert torch.equal(got["energy.balance.k"], want["energy.balance.k"])
    assert all(torch.equal(got[k], want[k]) for k in want if k.startswith("discriminator."))
