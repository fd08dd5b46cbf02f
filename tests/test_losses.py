"""Tests for lit_translate.losses: GAN objectives by hand, gradient penalty against analytics and autograd."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, vmap

from lit_translate.losses import GANLoss, gradient_penalty

PRED = [[-2.0, 0.5], [1.0, 3.0]]
VALUES = [v for row in PRED for v in row]


def softplus(x: float) -> float:
    return math.log(1.0 + math.exp(x))


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


# loss of PRED for target_is_real = True / False, computed by hand
EXPECTED: dict[str, tuple[float, float]] = {
    # BCE with logits: -log(sigmoid(x)) = softplus(-x) for real, -log(1 - sigmoid(x)) = softplus(x) for fake
    "vanilla": (mean([softplus(-v) for v in VALUES]), mean([softplus(v) for v in VALUES])),
    # (9 + 0.25 + 0 + 4) / 4 and (4 + 0.25 + 1 + 9) / 4
    "lsgan": (3.3125, 3.5625),
    # -mean and mean, mean = 2.5 / 4
    "wgangp": (-0.625, 0.625),
    # relu(1 - x) = 3, 0.5, 0, 0 and relu(1 + x) = 0, 1.5, 2, 4
    "hinge": (0.875, 1.875),
}


def test_expected_table_by_hand() -> None:
    assert EXPECTED["vanilla"][0] == pytest.approx(
        (-math.log(1 / (1 + math.exp(2))) - math.log(1 / (1 + math.exp(-0.5))) + softplus(-1) + softplus(-3)) / 4
    )


@pytest.mark.parametrize("gan_mode", list(EXPECTED))
@pytest.mark.parametrize("target_is_real", [True, False])
def test_discriminator_objectives(gan_mode: str, target_is_real: bool) -> None:
    loss = GANLoss(gan_mode)(torch.tensor(PRED), target_is_real)
    expected = EXPECTED[gan_mode][0 if target_is_real else 1]
    assert loss.shape == ()
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("gan_mode", ["vanilla", "lsgan", "wgangp"])
@pytest.mark.parametrize("target_is_real", [True, False])
def test_for_discriminator_does_not_matter_outside_hinge(gan_mode: str, target_is_real: bool) -> None:
    criterion = GANLoss(gan_mode)
    pred = torch.tensor(PRED)
    assert torch.equal(criterion(pred, target_is_real, True), criterion(pred, target_is_real, False))


def test_hinge_generator_side() -> None:
    criterion = GANLoss("hinge")
    pred = torch.tensor(PRED)
    assert criterion(pred, True, for_discriminator=False).item() == pytest.approx(-0.625)
    with pytest.raises(ValueError, match="target_is_real=True"):
        criterion(pred, False, for_discriminator=False)


@pytest.mark.parametrize("gan_mode", list(EXPECTED))
def test_list_of_predictions_averages_scales(gan_mode: str) -> None:
    criterion = GANLoss(gan_mode)
    big = torch.tensor(PRED).reshape(1, 1, 2, 2)
    small = torch.tensor([[[[0.25]]]])
    for target_is_real in (True, False):
        expected = (criterion(big, target_is_real) + criterion(small, target_is_real)) / 2
        torch.testing.assert_close(criterion([big, small], target_is_real), expected)
    assert criterion([big], True).item() == pytest.approx(EXPECTED[gan_mode][0], rel=1e-6)
    with pytest.raises(ValueError, match="empty"):
        criterion([], True)


@pytest.mark.parametrize("gan_mode", list(EXPECTED))
def test_bf16_prediction_gives_float32(gan_mode: str) -> None:
    criterion = GANLoss(gan_mode)
    pred = torch.tensor(PRED, dtype=torch.bfloat16, requires_grad=True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        loss = criterion(pred, False)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(EXPECTED[gan_mode][1], rel=1e-6)
    loss.backward()
    assert pred.grad is not None and pred.grad.dtype == torch.bfloat16


def test_gan_loss_gradient_and_state() -> None:
    criterion = GANLoss("lsgan")
    assert list(criterion.parameters()) == [] and list(criterion.buffers()) == []
    assert "lsgan" in repr(criterion)
    pred = torch.tensor(PRED, requires_grad=True)
    criterion(pred, True).backward()
    torch.testing.assert_close(pred.grad, 2 * (pred.detach() - 1) / 4)


def test_unknown_gan_mode_raises() -> None:
    with pytest.raises(ValueError, match=r"gan_mode='wgan'.*allowed values.*'hinge'"):
        GANLoss("wgan")


# ---------------------------------------------------------------- gradient penalty


class LinearCritic(nn.Module):
    def __init__(self, weight: Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight.clone())

    def forward(self, x: Tensor) -> Tensor:
        return (self.weight * x).flatten(1).sum(dim=1)


def small_critic() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.Tanh(), nn.Conv2d(4, 1, 3, stride=2), nn.Softplus())


def images(seed: int, shape: tuple[int, ...] = (3, 2, 6, 6)) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_penalty_linear_critic_exact(seed: int) -> None:
    real, fake = images(seed)
    weight = torch.randn(2, 6, 6, generator=torch.Generator().manual_seed(seed + 10))
    critic = LinearCritic(weight)
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(seed))
    assert penalty.dtype == torch.float32 and penalty.shape == ()
    assert penalty.item() == pytest.approx((weight.norm().item() - 1.0) ** 2, rel=1e-5)


def test_gradient_penalty_zero_at_target_norm() -> None:
    real, fake = images(0)
    weight = torch.randn(2, 6, 6)
    assert gradient_penalty(LinearCritic(weight / weight.norm()), real, fake).item() == pytest.approx(0.0, abs=1e-10)
    scaled = LinearCritic(2.5 * weight / weight.norm())
    assert gradient_penalty(scaled, real, fake, target_norm=2.5).item() == pytest.approx(0.0, abs=1e-10)


def test_gradient_penalty_backpropagates_to_critic_only() -> None:
    real, fake_source = images(0)
    weight = torch.randn(2, 6, 6)
    critic = LinearCritic(weight)
    fake_param = nn.Parameter(fake_source.clone())
    fake = fake_param * 1.0
    gradient_penalty(critic, real, fake).backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    expected = 2 * (weight.norm() - 1) * weight / weight.norm()
    torch.testing.assert_close(critic.weight.grad, expected, rtol=1e-5, atol=1e-6)
    assert fake_param.grad is None


def reference_penalty(critic: nn.Module, real: Tensor, fake: Tensor, alpha: Tensor) -> Tensor:
    """Per-sample gradient norms with torch.func, independently of the autograd.grad path."""
    params = {name: p.detach() for name, p in critic.named_parameters()}

    def score(x: Tensor) -> Tensor:
        return functional_call(critic, params, (x.unsqueeze(0),)).sum()

    mixed = alpha * real + (1 - alpha) * fake
    grads = vmap(grad(score))(mixed)
    return ((grads.flatten(1).norm(dim=1) - 1) ** 2).mean()


def test_gradient_penalty_matches_torch_func_on_nonlinear_critic() -> None:
    critic = small_critic()
    real, fake = images(3)
    alpha = torch.rand(3, 1, 1, 1, generator=torch.Generator().manual_seed(5))
    penalty = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    expected = reference_penalty(critic, real, fake, alpha)
    assert penalty.item() == pytest.approx(expected.item(), rel=1e-5)
    assert penalty.item() > 1e-3


def test_gradient_penalty_finite_difference() -> None:
    critic = small_critic().double()
    real, fake = (t[:1] for t in images(4, (1, 2, 4, 4)))
    alpha = torch.rand(1, 1, 1, 1, generator=torch.Generator().manual_seed(9)).double()
    mixed = (alpha * real.double() + (1 - alpha) * fake.double()).flatten()
    eps = 1e-6
    gradient = torch.zeros_like(mixed)
    with torch.no_grad():
        for i in range(mixed.numel()):
            step = torch.zeros_like(mixed)
            step[i] = eps
            upper = critic((mixed + step).reshape(1, 2, 4, 4)).sum()
            lower = critic((mixed - step).reshape(1, 2, 4, 4)).sum()
            gradient[i] = (upper - lower) / (2 * eps)
    expected = (gradient.norm().item() - 1) ** 2
    float_critic = small_critic()
    penalty = gradient_penalty(float_critic, real, fake, generator=torch.Generator().manual_seed(9))
    assert penalty.item() == pytest.approx(expected, rel=1e-4)


def test_gradient_penalty_nonlinear_critic_parameters_get_gradients() -> None:
    critic = small_critic()
    real, fake = images(6)
    gradient_penalty(critic, real, fake).backward()
    for name, param in critic.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
    assert critic[0].weight.grad.abs().sum() > 0


def test_gradient_penalty_generator_determinism_and_alpha_matters() -> None:
    critic = small_critic()
    real, fake = images(7)
    first = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    again = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(1))
    other = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_gradient_penalty_under_bf16_autocast_and_no_grad() -> None:
    critic = small_critic()
    real, fake = images(8)
    expected = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        penalty = gradient_penalty(critic, real.bfloat16(), fake.bfloat16(), generator=torch.Generator().manual_seed(3))
    assert penalty.dtype == torch.float32
    assert penalty.item() == pytest.approx(expected.item(), rel=2e-2)
    with torch.no_grad():
        quiet = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(quiet, expected.detach())


def test_gradient_penalty_shape_mismatch_raises() -> None:
    real, fake = images(0)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(small_critic(), real, fake[:2])
