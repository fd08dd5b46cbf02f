"""gan_ddp with the package's methods, in process: two forked gloo ranks with batch b train exactly as one process
with batch 2b (SGD, instance norm, 1e-6) for Pix2Pix, CycleGAN and Pix2Pix's WGAN-GP mode; a BatchNorm D scored
on real and fake before one backward trains with ranks (parameters and running statistics) identical.

The data are fixed tensors without augmentation, and rank r of w reads the samples r, r + w, ... in order
(:class:`RankSlices`), so the two ranks of one step hold exactly the single process's batch. Losses are batch
means and instance norm is per sample, so the average of the ranks' gradients is the single process's gradient.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from lightning.pytorch import Callback, Trainer
from torch.utils.data import DataLoader, Dataset, Sampler

import lit_translate.methods.pix2pix as pix2pix_module
from lit_translate.losses import gradient_penalty
from lit_translate.methods import CycleGAN, Pix2Pix
from lit_translate.nets import PatchDiscriminator, ResnetGenerator, UnetGenerator
from lit_translate.strategies import GANDDPStrategy

SIZE, SAMPLES, STEPS = 32, 8, 2  # two steps of 4 images: 2 ranks x 2 or one process x 4
LR = 0.01  # small enough that float32 rounding (batch 4 vs 2 x 2 summation order) stays below 1e-6


class PairedTensors(Dataset):
    """``SAMPLES`` fixed random pairs ``{"A": (3, 32, 32), "B": (3, 32, 32)}`` in [-1, 1]."""

    def __init__(self) -> None:
        rng = torch.Generator().manual_seed(0)
        self.a = torch.rand(SAMPLES, 3, SIZE, SIZE, generator=rng) * 2 - 1
        self.b = torch.rand(SAMPLES, 3, SIZE, SIZE, generator=rng) * 2 - 1

    def __len__(self) -> int:
        return SAMPLES

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"A": self.a[index], "B": self.b[index]}


class RankSlices(Sampler):
    """Rank r of w reads samples r, r + w, r + 2w, ... (read when iterating, after the process group exists).

    Lightning's own DistributedSampler shuffles the training set, which one process with ``shuffle=False`` would
    not: the two runs would train on different batches.
    """

    def __init__(self, size: int) -> None:
        self.size = size

    def __iter__(self):
        rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
        return iter(range(rank, self.size, world))

    def __len__(self) -> int:
        return self.size // (dist.get_world_size() if dist.is_initialized() else 1)


def loader(batch_size: int) -> DataLoader:
    return DataLoader(PairedTensors(), batch_size=batch_size, sampler=RankSlices(SAMPLES))


def sgd(params, lr: float = LR):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def pix2pix(norm: str = "instance", gan_mode: str = "lsgan", lr: float = LR) -> Pix2Pix:
    torch.manual_seed(0)
    return Pix2Pix(
        UnetGenerator(3, 3, num_downs=5, ngf=4, norm=norm, use_dropout=False),
        PatchDiscriminator(6, ndf=4, n_layers=2, norm=norm),
        optimizer_g=partial(sgd, lr=lr),
        optimizer_d=partial(sgd, lr=lr),
        gan_mode=gan_mode,
    )


def cyclegan() -> CycleGAN:
    torch.manual_seed(0)
    return CycleGAN(
        ResnetGenerator(3, 3, ngf=4, n_blocks=1, norm="instance"),
        ResnetGenerator(3, 3, ngf=4, n_blocks=1, norm="instance"),
        PatchDiscriminator(3, ndf=4, n_layers=2, norm="instance"),
        PatchDiscriminator(3, ndf=4, n_layers=2, norm="instance"),
        optimizer_g=sgd,
        optimizer_d=sgd,
        pool_size=0,  # the pool's coin flips come from each rank's own stream; 0 returns the current fakes
    )


class RankSpread(Callback):
    """At the end of fit, rank 0 writes the largest difference between the ranks' copies of every state-dict
    entry (parameters and buffers), and the number of optimizer steps."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer, pl_module):
        state = pl_module.state_dict()
        flat = torch.cat([v.detach().double().flatten() for v in state.values()])
        gathered = pl_module.all_gather(flat).reshape(trainer.world_size, -1)
        if trainer.is_global_zero:
            differs = (gathered - gathered[0]).abs().max(dim=0).values.split([v.numel() for v in state.values()])
            spread = {k: d.max().item() for k, d in zip(state, differs) if d.max() > 0}
            report = {
                "spread": spread,
                "steps": trainer.global_step,
                "stats": str(getattr(trainer.strategy, "stats", None)),
            }
            self.path.write_text(json.dumps(report))


def fit(model, tmp_path: Path, devices: int) -> dict[str, torch.Tensor]:
    """Train ``STEPS`` iterations of ``4 / devices`` images per rank; return rank 0's final state dict."""
    strategy = GANDDPStrategy(start_method="fork") if devices > 1 else "auto"
    trainer = Trainer(
        accelerator="cpu",
        devices=devices,
        strategy=strategy,
        max_steps=STEPS,
        callbacks=[RankSpread(tmp_path / f"spread{devices}.json")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        use_distributed_sampler=False,
    )
    trainer.fit(model, loader(4 // devices))
    report = json.loads((tmp_path / f"spread{devices}.json").read_text())
    assert report["steps"] == STEPS, report
    assert report["spread"] == {}, f"ranks differ: {report}"
    return {k: v.detach().clone() for k, v in model.state_dict().items()}  # the fork launcher loads rank 0's


def assert_two_ranks_equal_one_process(build, tmp_path: Path) -> None:
    ddp, single = fit(build(), tmp_path, devices=2), fit(build(), tmp_path, devices=1)
    assert ddp.keys() == single.keys()
    assert not [k for k in ddp if "module." in k or "_orig_mod." in k]
    start = build().state_dict()
    moved = [k for k, v in single.items() if v.is_floating_point() and not torch.equal(v, start[k])]
    assert len(moved) > len(single) // 2, "the weights barely moved: the comparison would prove nothing"
    worst = max((ddp[k].double() - single[k].double()).abs().max().item() for k in single)
    assert worst <= 1e-6, f"largest difference between 2 ranks x 2 images and 1 process x 4 images: {worst:.3g}"


def test_pix2pix_two_ranks_equal_one_process_with_the_doubled_batch(tmp_path):
    assert_two_ranks_equal_one_process(pix2pix, tmp_path)


def test_cyclegan_two_ranks_equal_one_process_with_the_doubled_batch(tmp_path):
    """Both Ds frozen in the G step, each generator run three times (fake, cycle, identity) before one backward."""
    assert_two_ranks_equal_one_process(cyclegan, tmp_path)


def sample_keyed_penalty(discriminator, real, fake, generator=None, target_norm=1.0):
    """``gradient_penalty`` with each sample's alpha drawn from a generator seeded by that sample, so that two
    ranks and one process interpolate identically (the rank's own stream would not). D runs once per sample."""
    penalties = []
    for r, f in zip(real.split(1), fake.split(1)):
        seed = int(r.double().abs().sum().item() * 1e4) % (2**31)
        rng = torch.Generator(device=r.device).manual_seed(seed)
        penalties.append(gradient_penalty(discriminator, r, f, generator=rng, target_norm=target_norm))
    return torch.stack(penalties).mean()


def test_wgan_gp_two_ranks_equal_one_process_with_the_doubled_batch(tmp_path, monkeypatch):
    """The gradient penalty's double backward (``autograd.grad(create_graph=True)``) inside the D step."""
    monkeypatch.setattr(pix2pix_module, "gradient_penalty", sample_keyed_penalty)  # forked ranks inherit it
    # The critic's scores are unbounded and its gradients large (weights move by ~1 in 2 steps at lr 1e-4).
    assert_two_ranks_equal_one_process(partial(pix2pix, gan_mode="wgangp", lr=1e-4), tmp_path)


@pytest.mark.parametrize("buffer_sync", ["average", "broadcast"])
def test_batchnorm_discriminator_scored_twice_before_one_backward(tmp_path, buffer_sync):
    """Pix2Pix's D step: D(real), D(fake), one backward, with BatchNorm in G and D. Under one DDP wrapper with
    broadcast_buffers this is pytorch#175024; here it trains, and parameters and running statistics stay equal."""
    model = pix2pix(norm="batch")
    trainer = Trainer(
        accelerator="cpu",
        devices=2,
        strategy=GANDDPStrategy(start_method="fork", buffer_sync=buffer_sync),
        max_steps=STEPS,
        callbacks=[RankSpread(tmp_path / "spread.json")],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, DataLoader(PairedTensors(), batch_size=2, shuffle=True))  # DistributedSampler: other data
    report = json.loads((tmp_path / "spread.json").read_text())
    assert report["spread"] == {} and report["steps"] == STEPS, report
    tracked = model.state_dict()["discriminator.model.3.num_batches_tracked"]
    assert tracked.item() == 3 * STEPS  # D(real) and D(fake) in the D step, D(fake) in the G step
