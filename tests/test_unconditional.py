"""UnconditionalGAN: the latent contract, the n_critic phase, energy objectives (BEGAN's k_t resumes exactly),
FID/KID of samples against the validation images, and the image folder's CelebA crop.

The shared harness (test_methods, test_resume, test_ddp, test_checkpoint_commands) covers the demo
``configs/unconditional/demo.yaml``; these tests cover what it does not.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from conftest import CONFIGS, run_cli, tiny_args

from lit_translate.data.images import center_crop_resize, resize_center_crop
from lit_translate.errors import InputError
from lit_translate.methods import UnconditionalGAN
from lit_translate.nets.gan import BEGANDiscriminator, BEGANGenerator, DCGANDiscriminator, DCGANGenerator

DEMO = CONFIGS / "unconditional" / "demo.yaml"
BEGAN_NETS = [
    "--model.init_args.generator="
    + json.dumps(
        {
            "class_path": "lit_translate.nets.gan.BEGANGenerator",
            "init_args": {"latent_dim": 8, "ngf": 8, "image_size": 32},
        }
    ),
    "--model.init_args.discriminator="
    + json.dumps(
        {
            "class_path": "lit_translate.nets.gan.BEGANDiscriminator",
            "init_args": {"hidden_dim": 8, "ndf": 8, "image_size": 32},
        }
    ),
    "--model.init_args.gan_mode=began",
    "--model.init_args.began_gamma=3.0",  # k_t rises at every step (gamma L(x) > L(G(z)) from the start)
]


def small_model(**kwargs) -> UnconditionalGAN:
    return UnconditionalGAN(DCGANGenerator(16, 8, image_size=32), DCGANDiscriminator(ndf=8, image_size=32), **kwargs)


def test_latent_contract_seeds_codes_and_errors():
    model = small_model()
    assert model.latent_dim == 16
    x = torch.zeros(3, 3, 32, 32)
    default = model.translate(x)
    assert default.shape == (3, 3, 32, 32)
    torch.testing.assert_close(model.translate(x, z=0), default, rtol=0, atol=0)  # None = seed 0
    assert not torch.equal(model.translate(x, z=1), default)
    codes = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(model.translate(x, z=codes), default, rtol=0, atol=0)  # CPU float32 draw, seed 0
    one = model.translate(None, z=codes[0])
    assert one.shape == (1, 3, 32, 32)
    torch.testing.assert_close(one[0], default[0], rtol=0, atol=1e-6)  # batch size 1 vs 3: conv numerics
    assert model.translate(None, z=codes).shape == (3, 3, 32, 32)
    with pytest.raises(InputError, match="no encoder"):
        model.translate(x, z=torch.zeros(3, 3, 32, 32))


def test_constructor_errors_name_the_key():
    with pytest.raises(InputError, match="latent_dim"):
        UnconditionalGAN(torch.nn.Conv2d(3, 3, 1), DCGANDiscriminator(ndf=8, image_size=32))
    with pytest.raises(InputError, match="auto-encoder"):
        small_model(gan_mode="began")
    with pytest.raises(InputError, match="n_critic"):
        small_model(n_critic=0)
    model = UnconditionalGAN(BEGANGenerator(8, 8, image_size=32), BEGANDiscriminator(3, 8, 8, 32), gan_mode="began")
    assert "energy.balance.k" in model.state_dict()


def test_generator_steps_every_n_critic_iterations(tmp_path):
    scheduler = {"class_path": "lit_translate.schedulers.StepwiseLinearDecayLR", "init_args": {"num_iters": 4}}
    scheduler["init_args"].update(num_iters_decay=4, lr_update_step=1, decrement="to_zero")
    args = [*tiny_args(tmp_path, steps=4), "--model.init_args.gan_mode=wgangp", "--model.init_args.n_critic=2"]
    args += ["--trainer.log_every_n_steps=1", f"--model.init_args.lr_scheduler={json.dumps(scheduler)}"]
    cli = run_cli(["-c", str(DEMO), *args])
    steps = []
    original = cli.model.generator_losses
    cli.model.generator_losses = lambda fake: steps.append(cli.model.global_step) or original(fake)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)], "G's scheduler warning is silenced"
    assert cli.model.update_cycle == 2 and cli.trainer.global_step == 4
    # global_step already counts the batch's D step when G's losses are computed: iterations 1 and 3 (0-based)
    assert steps == [2, 4], "G steps after every second D step: (t + 1) % n_critic == 0"
    assert "train/d_gp" in cli.trainer.logged_metrics
    lrs = [opt.param_groups[0]["lr"] for opt in cli.model.optimizers()]
    assert lrs == pytest.approx([0.5e-4, 0.5e-4]), "both decay per iteration: the rate of iteration 3 of 4"


def test_began_k_resumes_exactly(tmp_path):
    """One epoch, its checkpoint, a second epoch from it: k_t, G and D as after two straight epochs."""
    straight = run_cli(["-c", str(DEMO), *tiny_args(tmp_path / "straight", steps=2, epochs=2), *BEGAN_NETS])
    straight.trainer.fit(straight.model, datamodule=straight.datamodule)
    first = run_cli(["-c", str(DEMO), *tiny_args(tmp_path / "split", steps=2, epochs=1), *BEGAN_NETS])
    first.trainer.fit(first.model, datamodule=first.datamodule)
    resumed = run_cli(["-c", str(DEMO), *tiny_args(tmp_path / "split", steps=2, epochs=2), *BEGAN_NETS])
    last = tmp_path / "split" / "checkpoints" / "last.ckpt"
    resumed.trainer.fit(resumed.model, datamodule=resumed.datamodule, ckpt_path=str(last))
    assert resumed.trainer.global_step == straight.trainer.global_step == 4
    want, got = straight.model.state_dict(), resumed.model.state_dict()
    assert 0 < first.model.energy.balance.k.item() < want["energy.balance.k"].item(), "k_t rose in both epochs"
    for key in want:
        assert torch.equal(got[key], want[key]), key
    logged = straight.trainer.logged_metrics
    assert {"train/d_k", "train/d_convergence", "val/convergence"} <= set(logged)


def test_fid_kid_of_samples_against_validation_images(tmp_path):
    """Validation scores N samples per N real images (seeded per batch: two validations agree), FID/KID only."""
    from lit_translate.evaluation import TranslationMetrics
    from lit_translate.pretrained.standins import random_inception_state

    inception = tmp_path / "stand_in_inception.pth"
    torch.save(random_inception_state(), inception)
    args = [*tiny_args(tmp_path / "run", steps=2), "--trainer.limit_val_batches=2", "--metrics.fid=true"]
    args += ["--metrics.kid=true", "--metrics.kid_subset_size=2", f"--metrics.inception_weights={inception}"]
    cli = run_cli(["-c", str(DEMO), *args])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        first = dict(cli.trainer.validate(cli.model, datamodule=cli.datamodule)[0])
        second = dict(cli.trainer.validate(cli.model, datamodule=cli.datamodule)[0])
    (metrics,) = [cb for cb in cli.trainer.callbacks if isinstance(cb, TranslationMetrics)]
    assert metrics.num_images == {"": 4}
    assert {"val/fid", "val/kid"} <= set(first) and not {"val/psnr", "val/ssim", "val/lpips"} & set(first)
    assert first == second and first["val/fid"] > 0 and np.isfinite(list(first.values())).all()


def test_evaluation_codes_differ_per_batch_and_repeat(tmp_path):
    model = small_model()
    batch = {"A": torch.zeros(2, 3, 32, 32), "A_path": ["a", "b"]}
    model._evaluation_seed = 1
    one = model.evaluation_pairs(batch)[""][0]
    model._evaluation_seed = 2
    two = model.evaluation_pairs(batch)[""][0]
    model._evaluation_seed = 1
    assert torch.equal(model.evaluation_pairs(batch)[""][0], one) and not torch.equal(one, two)


def test_celeba_crop_is_the_centre_square_then_resize():
    image = np.random.default_rng(0).integers(0, 256, (218, 178, 3), dtype=np.uint8)
    out = center_crop_resize(image, 178, 64)
    assert out.shape == (64, 64, 3)
    assert np.array_equal(out, resize_center_crop(np.ascontiguousarray(image[20:198]), 64))
    assert np.array_equal(center_crop_resize(image, 500, 32), resize_center_crop(image[20:198], 32))
