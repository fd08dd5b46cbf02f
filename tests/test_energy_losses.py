"""EBGAN and BEGAN objectives (issue 24 item 4): values on hand-computable inputs, the k_t control, its state."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lit_translate.losses.energy import (
    BEGANBalance,
    EnergyObjective,
    began_reconstruction_loss,
    ebgan_discriminator_loss,
    ebgan_energy,
    pulling_away_term,
)


def test_ebgan_energy_is_the_norm_of_the_reconstruction_error():
    x = torch.zeros(2, 1, 2, 2)
    reconstruction = torch.tensor([[[[3.0, 4.0], [0.0, 0.0]]], [[[1.0, 1.0], [1.0, 1.0]]]])
    assert ebgan_energy(x, reconstruction).tolist() == [5.0, 2.0]


def test_ebgan_discriminator_loss_has_the_margin_hinge():
    real, fake = ebgan_discriminator_loss(torch.tensor([1.0, 3.0]), torch.tensor([5.0, 25.0]), margin=20.0)
    assert real.item() == 2.0  # mean D(x)
    assert fake.item() == 7.5  # mean [20 - 5, 20 - 25]^+ = (15 + 0) / 2


def test_pulling_away_term_is_the_mean_squared_cosine_of_distinct_pairs():
    assert pulling_away_term(torch.eye(3)).item() == 0.0  # orthogonal: nothing to pull away from
    assert pulling_away_term(torch.tensor([[1.0, 0.0], [2.0, 0.0]])).item() == pytest.approx(1.0)  # parallel
    # cos(S_0, S_1) = 1 / sqrt(2), cos(S_0, S_2) = 0, cos(S_1, S_2) = 1 / sqrt(2): the squares over the 6 ordered
    # pairs sum to 2, divided by N (N - 1) = 6
    s = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 3.0]])
    assert pulling_away_term(s).item() == pytest.approx(2 / 6)
    assert pulling_away_term(s.view(3, 1, 2, 1)).item() == pytest.approx(2 / 6), "embeddings are flattened"
    with pytest.raises(ValueError, match="at least 2"):
        pulling_away_term(torch.ones(1, 4))


def test_began_reconstruction_loss_is_the_mean_absolute_error():
    x = torch.zeros(1, 1, 2, 2)
    assert began_reconstruction_loss(x, torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])).item() == 1.0


def test_began_balance_update_and_clip():
    balance = BEGANBalance()
    assert balance.k.item() == 0.0 and balance.gamma == 0.5 and balance.lambda_k == 0.001
    # gamma L(x) - L(G(z)) = 0.5 * 0.4 - 0.1 = 0.1: k = 0 + 0.001 * 0.1; M = 0.4 + |0.1|
    convergence = balance.update(torch.tensor(0.4), torch.tensor(0.1))
    assert balance.k.item() == pytest.approx(1e-4) and convergence.item() == pytest.approx(0.5)
    loss = balance.discriminator_loss(torch.tensor(0.4), torch.tensor(0.1))
    assert loss.item() == pytest.approx(0.4 - 1e-4 * 0.1)
    balance.update(torch.tensor(0.0), torch.tensor(1.0))  # k would go below 0
    assert balance.k.item() == 0.0
    strong = BEGANBalance(lambda_k=1.0, k_init=0.9)
    strong.update(torch.tensor(1.0), torch.tensor(0.0))  # 0.9 + 0.5 > 1
    assert strong.k.item() == 1.0


def test_began_balance_is_in_the_state_dict_and_resumes_exactly():
    balance = BEGANBalance()
    for real, fake in ((0.5, 0.1), (0.3, 0.05), (0.7, 0.2)):
        balance.update(torch.tensor(real), torch.tensor(fake))
    assert list(balance.state_dict()) == ["k"]
    restored = BEGANBalance()
    restored.load_state_dict(balance.state_dict())
    assert torch.equal(restored.k, balance.k)
    balance.update(torch.tensor(0.4), torch.tensor(0.1))
    restored.update(torch.tensor(0.4), torch.tensor(0.1))
    assert torch.equal(restored.k, balance.k)


def test_began_loss_backward_survives_the_k_update():
    balance = BEGANBalance(k_init=0.5)
    fake = torch.tensor(0.2, requires_grad=True)
    loss = balance.discriminator_loss(torch.tensor(0.4), fake)
    balance.update(torch.tensor(0.4), fake)
    loss.backward()
    assert fake.grad.item() == -0.5, "the loss used k_t, not k_{t+1}"


class _Scaled(nn.Module):
    """A toy auto-encoder: reconstruction = scale * x, embedding = x."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.scale = scale

    def encode(self, x):
        return x

    def decode(self, h):
        return self.scale * h

    def forward(self, x):
        return self.decode(self.encode(x))


def test_energy_objective_terms():
    real, fake = torch.ones(2, 1, 2, 2), torch.full((2, 1, 2, 2), 2.0)
    d = _Scaled(0.5)  # reconstruction error |x / 2|
    ebgan = EnergyObjective("ebgan", margin=3.0)
    losses, logged = ebgan.discriminator_losses(d, real, fake)
    # energies: real ||0.5 * ones(4)|| = 1, fake ||1.0 * ones(4)|| = 2; fake term [3 - 2]^+ = 1
    assert losses["real"].item() == pytest.approx(1.0) and losses["fake"].item() == pytest.approx(1.0) and not logged
    g = ebgan.generator_losses(d, fake)
    assert g["gan"].item() == pytest.approx(2.0) and g["pt"].item() == pytest.approx(0.1)  # parallel embeddings
    began = EnergyObjective("began")
    began.balance.k.fill_(0.5)
    losses, logged = began.discriminator_losses(d, real, fake)
    # L(x) = 0.5, L(G(z)) = 1.0: fake term -0.5 * 1.0; k += 0.001 * (0.25 - 1.0); M = 0.5 + 0.75
    assert losses["real"].item() == 0.5 and losses["fake"].item() == -0.5
    assert logged["k"].item() == pytest.approx(0.5 - 0.00075) and logged["convergence"].item() == pytest.approx(1.25)
    assert began.generator_losses(d, fake)["gan"].item() == 1.0
    assert "balance.k" in began.state_dict() and not ebgan.state_dict()
    with pytest.raises(ValueError, match="gan_mode"):
        EnergyObjective("wgan")


def _balance_on_rank(rank: int, world: int, init: str, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        balance = BEGANBalance(lambda_k=0.1)
        # rank 0 sees L(x) 0.4, L(G(z)) 0.0; rank 1 sees 0.8, 0.2: the means are 0.6 and 0.1
        convergence = balance.update(torch.tensor(0.4 + 0.4 * rank), torch.tensor(0.2 * rank))
        results[rank] = (balance.k.item(), convergence.item())
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~10 s of CPU
def test_began_balance_averages_the_losses_over_ranks(tmp_path):
    import torch.multiprocessing as mp

    results = mp.Manager().dict()
    mp.spawn(_balance_on_rank, args=(2, f"file://{tmp_path / 'init'}", results), nprocs=2)
    # k = 0.1 * (0.5 * 0.6 - 0.1) = 0.02 on both ranks; M = 0.6 + 0.2
    assert results[0] == pytest.approx((0.02, 0.8)) and results[1] == results[0]
