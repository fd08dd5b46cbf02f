"""CycleGAN: loss terms and weights, which generator does what, pools in checkpoints, the demo learns."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFIGS, run_cli, tiny_args
from lightning.pytorch import Callback, Trainer
from torch import nn
from torch.utils.data import DataLoader

from lit_translate.methods import CycleGAN
from lit_translate.nets import PatchDiscriminator, ResnetGenerator

DEMO = CONFIGS / "cyclegan" / "demo.yaml"
HORSE2ZEBRA = CONFIGS / "cyclegan" / "horse2zebra.yaml"


class Affine(nn.Module):
    """A known "generator" x -> scale * x + shift."""

    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.scale, self.shift = scale, shift

    def forward(self, x):
        return self.scale * x + self.shift


class FirstChannel(nn.Module):
    """A known "discriminator": the first channel as the logit map."""

    def forward(self, x):
        return x[:, :1]


class Recorder(nn.Module):
    """Wraps a network and records every (input, output) it sees."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.calls: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, x):
        y = self.net(x)
        self.calls.append((x.detach().clone(), y.detach().clone()))
        return y

    def output_for(self, x: torch.Tensor) -> torch.Tensor:
        matches = [y for inp, y in self.calls if torch.equal(inp, x)]
        assert len(matches) == 1, f"expected exactly one call on this input, got {len(matches)}"
        return matches[0]


def known_model(**kwargs) -> CycleGAN:
    """gen_ab(x) = 0.5 x, gen_ba(x) = x + 0.25, both discriminators return the first channel."""
    return CycleGAN(Affine(0.5, 0.0), Affine(1.0, 0.25), FirstChannel(), FirstChannel(), **kwargs)


def tiny_model(**kwargs) -> CycleGAN:
    def gen():
        return ResnetGenerator(ngf=4, n_blocks=1)

    def disc():
        return PatchDiscriminator(in_channels=3, ndf=4, n_layers=1, norm="instance")

    return CycleGAN(gen(), gen(), disc(), disc(), **kwargs)


REAL_A = torch.full((2, 3, 8, 8), 0.4)
REAL_B = torch.full((2, 3, 8, 8), -0.2)


@pytest.mark.parametrize("lambda_a, lambda_b", [(10.0, 10.0), (10.0, 4.0)])
def test_generator_terms_equal_hand_computed_values(lambda_a, lambda_b):
    model = known_model(lambda_a=lambda_a, lambda_b=lambda_b, lambda_identity=0.5)
    images = model.cycle(REAL_A, REAL_B)
    # fake_b = 0.5 * 0.4 = 0.2, rec_a = 0.2 + 0.25 = 0.45; fake_a = -0.2 + 0.25 = 0.05, rec_b = 0.025
    for key, value in {"fake_b": 0.2, "rec_a": 0.45, "fake_a": 0.05, "rec_b": 0.025}.items():
        torch.testing.assert_close(images[key], torch.full_like(REAL_A, value))
    losses = model.generator_losses(REAL_A, REAL_B, images)
    expected = {
        "gan_ab": (0.2 - 1) ** 2,  # lsgan on disc_b(fake_b) with target real
        "gan_ba": (0.05 - 1) ** 2,  # lsgan on disc_a(fake_a)
        "cycle_a": lambda_a * abs(0.45 - 0.4),
        "cycle_b": lambda_b * abs(0.025 + 0.2),
        "idt_a": 0.5 * lambda_a * abs(0.65 - 0.4),  # gen_ba(real_a) = 0.65
        "idt_b": 0.5 * lambda_b * abs(-0.1 + 0.2),  # gen_ab(real_b) = -0.1
    }
    assert list(losses) == list(expected)
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-5), key


def test_identity_weight_is_half_of_lambda_not_half():
    # The reference weights the identity L1 by lambda_identity * lambda (= 5); mmagic's 0.5 is 10x weaker.
    model = known_model()
    losses = model.generator_losses(REAL_A, REAL_B, model.cycle(REAL_A, REAL_B))
    assert losses["idt_a"].item() == pytest.approx(5.0 * F.l1_loss(REAL_A + 0.25, REAL_A).item())


def test_lambda_identity_zero_drops_the_terms_and_their_forwards():
    gen_ab, gen_ba = Recorder(Affine(0.5, 0.0)), Recorder(Affine(1.0, 0.25))
    model = CycleGAN(gen_ab, gen_ba, FirstChannel(), FirstChannel(), lambda_identity=0.0)
    losses = model.generator_losses(REAL_A, REAL_B, model.cycle(REAL_A, REAL_B))
    assert set(losses) == {"gan_ab", "gan_ba", "cycle_a", "cycle_b"}
    assert len(gen_ab.calls) == len(gen_ba.calls) == 2  # the two cycles only


def test_discriminator_terms_are_half_real_plus_half_fake():
    model = known_model()
    fake_a, fake_b = torch.full_like(REAL_A, 0.05), torch.full_like(REAL_B, 0.2)
    losses = model.discriminator_losses(REAL_A, REAL_B, fake_a, fake_b)
    expected = {
        "a_real": 0.5 * (0.4 - 1) ** 2,  # disc_a judges domain A
        "a_fake": 0.5 * 0.05**2,
        "b_real": 0.5 * (-0.2 - 1) ** 2,  # disc_b judges domain B
        "b_fake": 0.5 * 0.2**2,
    }
    assert list(losses) == list(expected)
    for key, value in expected.items():
        assert losses[key].item() == pytest.approx(value, rel=1e-5), key


def test_identity_needs_equal_channels():
    model = tiny_model()
    with pytest.raises(ValueError, match="lambda_identity"):
        model.generator_losses(REAL_A, REAL_B[:, :1], {})


def fit_one_step(model: CycleGAN, batch: dict, callbacks=()) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=list(callbacks),
    )
    trainer.fit(model, train_dataloaders=DataLoader([batch], batch_size=None))
    return trainer


def test_training_step_composes_the_generators_the_right_way():
    torch.manual_seed(0)
    model = tiny_model()
    model.gen_ab, model.gen_ba = Recorder(model.gen_ab), Recorder(model.gen_ba)
    real_a, real_b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    trainer = fit_one_step(model, {"A": real_a, "B": real_b, "A_path": ["a0", "a1"], "B_path": ["b0", "b1"]})
    gen_ab, gen_ba = model.gen_ab, model.gen_ba
    assert len(gen_ab.calls) == len(gen_ba.calls) == 3  # cycle (2) + identity (1) each, one G step
    fake_b = gen_ab.output_for(real_a)  # G(a)
    fake_a = gen_ba.output_for(real_b)  # F(b)
    rec_a = gen_ba.output_for(fake_b)  # F(G(a))
    rec_b = gen_ab.output_for(fake_a)  # G(F(b))
    idt_b = gen_ab.output_for(real_b)  # the A -> B generator applied to a B image
    idt_a = gen_ba.output_for(real_a)  # the B -> A generator applied to an A image
    logged = trainer.callback_metrics
    expected = {
        "train/g_cycle_a": 10 * F.l1_loss(rec_a, real_a),
        "train/g_cycle_b": 10 * F.l1_loss(rec_b, real_b),
        "train/g_idt_a": 5 * F.l1_loss(idt_a, real_a),
        "train/g_idt_b": 5 * F.l1_loss(idt_b, real_b),
    }
    for key, value in expected.items():
        torch.testing.assert_close(logged[key], value, msg=key)
    for key in ("train/d_a_real", "train/d_a_fake", "train/d_b_real", "train/d_b_fake", "train/g_gan_ab"):
        assert key in logged
    # The pools hold this step's fakes: pool_a the generated A images (for disc_a), pool_b the B ones.
    torch.testing.assert_close(torch.cat(model.pool_a.images), fake_a)
    torch.testing.assert_close(torch.cat(model.pool_b.images), fake_b)
    assert trainer.global_step == 1


def test_evaluation_hooks():
    torch.manual_seed(0)
    model = tiny_model()
    batch = {"A": torch.rand(2, 3, 16, 16) * 2 - 1, "B": torch.rand(2, 3, 16, 16) * 2 - 1}
    visuals = model.visuals(batch)
    assert list(visuals) == ["real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"]
    with torch.no_grad():
        fake_b, fake_a = model.gen_ab(batch["A"]), model.gen_ba(batch["B"])
        rec_a, rec_b = model.gen_ba(fake_b), model.gen_ab(fake_a)
    for key, value in {"fake_B": fake_b, "rec_A": rec_a, "fake_A": fake_a, "rec_B": rec_b}.items():
        torch.testing.assert_close(visuals[key], value, msg=key)
    pairs = model.evaluation_pairs(batch)
    assert set(pairs) == {"ab", "ba"}
    torch.testing.assert_close(pairs["ab"][0], fake_b)
    torch.testing.assert_close(pairs["ba"][0], fake_a)
    assert pairs["ab"][1] is batch["B"] and pairs["ba"][1] is batch["A"]
    val = model.validation_losses(batch, pairs)
    torch.testing.assert_close(val["cycle_a"], F.l1_loss(rec_a, batch["A"]))
    torch.testing.assert_close(val["cycle_b"], F.l1_loss(rec_b, batch["B"]))
    assert model.generator_for("AtoB") is model.gen_ab and model.generator_for("BtoA") is model.gen_ba
    assert not model.paired and model.directions == ("AtoB", "BtoA")


class CheckPoolsAtFirstBatch(Callback):
    """Record the pools when the first resumed batch starts (after the module restored its rank state)."""

    def __init__(self, expected):
        self.expected, self.checked = expected, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if not self.checked:
            for key, pool in (("pool_a", pl_module.pool_a), ("pool_b", pl_module.pool_b)):
                assert torch.equal(torch.cat(pool.images), self.expected[key]["images"])
            self.checked = True


def test_image_pools_are_checkpointed_and_restored(tmp_path):
    run = tmp_path / "run"
    args = ["-c", str(DEMO), *tiny_args(run, steps=3), "--samples.num_samples", "0"]
    cli = run_cli(args)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    path = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(path, weights_only=True, map_location="cpu")
    (state,) = ckpt["rank_states"]  # one entry per rank
    for key, pool in (("pool_a", cli.model.pool_a), ("pool_b", cli.model.pool_b)):
        assert state[key]["pool_size"] == 50
        assert isinstance(state[key]["images"], torch.Tensor)
        assert state[key]["images"].shape == (6, 3, 64, 64)  # 3 steps of batch 2
        assert torch.equal(state[key]["images"], torch.cat(pool.images))
    assert not torch.equal(state["pool_a"]["images"], state["pool_b"]["images"])

    # Resuming a fit restores them (through the Trainer's weights_only load) before the first batch.
    resumed = run_cli([*args, "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "2"])
    check = CheckPoolsAtFirstBatch(state)
    resumed.trainer.callbacks.append(check)
    resumed.trainer.fit(resumed.model, datamodule=resumed.datamodule, ckpt_path=str(path))
    assert check.checked and len(resumed.model.pool_a.images) == 10  # + 2 steps of batch 2


def test_rank_state_round_trips_the_pools_and_checks_the_pool_size():
    source = tiny_model(pool_size=4)
    source.pool_a.query(torch.rand(3, 3, 8, 8))
    state = source.rank_state()
    target = tiny_model(pool_size=4)
    target.load_rank_state(state)
    assert torch.equal(torch.cat(target.pool_a.images), torch.cat(source.pool_a.images))
    assert target.pool_b.images == []
    with pytest.raises(ValueError, match="pool_size"):
        tiny_model(pool_size=5).load_rank_state(state)
    tiny_model().on_load_checkpoint({})  # a checkpoint without rank states leaves the pools empty


@pytest.mark.parametrize("seed", [0, 4])
def test_demo_task_learns_cycle_reconstruction(tmp_path, seed):
    steps = 20
    args = [
        "-c",
        str(DEMO),
        *tiny_args(tmp_path, steps=steps),
        "--seed_everything",
        str(seed),
        "--data.batch_size",
        "4",
        "--data.synthetic_size",
        str(4 * steps),
        "--trainer.limit_val_batches",
        "0",
        "--trainer.logger",
        "false",
        "--samples.num_samples",
        "0",
        "--checkpoint.save_last",
        "false",
    ]
    cli = run_cli(args)
    cli.datamodule.setup("fit")
    batch = next(iter(cli.datamodule.val_dataloader()))

    def cycle_l1() -> float:
        losses = cli.model.validation_losses(batch, cli.model.evaluation_pairs(batch))
        return float(losses["cycle_a"] + losses["cycle_b"])

    before = cycle_l1()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == steps
    after = cycle_l1()
    assert after < 0.6 * before, f"cycle L1 {before:.3f} -> {after:.3f} after {steps} iterations"


def test_horse2zebra_recipe_has_the_paper_networks(tmp_path):
    cli = run_cli(["-c", str(HORSE2ZEBRA), "--trainer.default_root_dir", str(tmp_path)])
    model = cli.model
    assert isinstance(model, CycleGAN)

    def count(net):
        return sum(p.numel() for p in net.parameters())

    assert count(model.gen_ab) == count(model.gen_ba) == 11_378_179
    assert count(model.disc_a) == count(model.disc_b) == 2_764_737
    assert (model.gan_loss.gan_mode, model.lambda_a, model.lambda_b, model.lambda_identity) == ("lsgan", 10, 10, 0.5)
    assert model.pool_a.pool_size == model.pool_b.pool_size == 50
    assert cli.datamodule.batch_size == 1
