"""Energy objectives of auto-encoder discriminators: EBGAN (Zhao et al., ICLR 2017) and BEGAN (Berthelot et al. 2017).

Plain torch, as ``lit_translate.losses``. The discriminator is an auto-encoder
(``lit_translate.nets.gan.AutoEncoderDiscriminator``); an image's energy is its reconstruction error.

EBGAN (paper eq. 1-2 and Sec. 2.4): ``D(x) = ||Dec(Enc(x)) - x||`` (the Euclidean norm per image),
``L_D = D(x) + [m - D(G(z))]^+`` and ``L_G = D(G(z)) + lambda_PT * f_PT(S)``, with the pulling-away term
``f_PT(S) = 1 / (N (N - 1)) sum_i sum_{j != i} (S_i^T S_j / (||S_i|| ||S_j||))^2`` on the encoder's embeddings ``S`` of
the generated batch (``lambda_PT`` 0.1). The margin ``m`` depends on the energy's scale (image size and channels); the
default 20 is the value used here for 64 px RGB.

BEGAN (paper eq. 4-5 and Sec. 3.4): ``L(v) = mean |v - D(v)|``, ``L_D = L(x) - k_t L(G(z))``, ``L_G = L(G(z))``,
``k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1)`` (``gamma`` 0.5, ``lambda_k`` 0.001, ``k_0 = 0``),
and the convergence measure ``M_global = L(x) + |gamma L(x) - L(G(z))|``. ``k_t`` is run state: ``BEGANBalance`` holds
it as a persistent buffer, so the method that owns it saves it in checkpoints and resumes it exactly, and averages the
losses over ranks before each update, so every rank holds the same ``k``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from lit_translate.choices import check_choice

EnergyMode = Literal["ebgan", "began"]
"""The energy objectives of :class:`EnergyObjective`."""
AnyGanMode = Literal["vanilla", "lsgan", "wgangp", "hinge", "ebgan", "began"]
"""``GanMode`` and ``EnergyMode`` as one choice (one flat list in ``--help`` and in the error of a misspelt value)."""


def ebgan_energy(x: Tensor, reconstruction: Tensor) -> Tensor:
    """EBGAN's energy: the Euclidean norm of the reconstruction error of each image, ``(N,)`` in float32."""
    return (reconstruction.float() - x.float()).flatten(1).norm(dim=1)


def pulling_away_term(embedding: Tensor) -> Tensor:
    """EBGAN's pulling-away term: the mean squared cosine similarity of every ordered pair of distinct embeddings.

    Args:
        embedding: ``(N, ...)`` with ``N >= 2``; each row is flattened.

    Returns:
        A float32 scalar in ``[0, 1]``: 0 for mutually orthogonal embeddings, 1 for parallel ones.

    Raises:
        ValueError: If ``N < 2``.
    """
    count = embedding.shape[0]
    if count < 2:
        raise ValueError(f"The pulling-away term needs a batch of at least 2 embeddings; got {count}.")
    unit = F.normalize(embedding.float().flatten(1), dim=1)
    cosine = unit @ unit.T
    off_diagonal = cosine.pow(2).sum() - cosine.diagonal().pow(2).sum()
    return off_diagonal / (count * (count - 1))


def ebgan_discriminator_loss(energy_real: Tensor, energy_fake: Tensor, margin: float) -> tuple[Tensor, Tensor]:
    """EBGAN's ``L_D`` terms: ``(mean D(x), mean [m - D(G(z))]^+)``; their sum is ``L_D``."""
    return energy_real.mean(), F.relu(margin - energy_fake).mean()


def began_reconstruction_loss(x: Tensor, reconstruction: Tensor) -> Tensor:
    """BEGAN's ``L(v) = mean |v - D(v)|`` over every element, a float32 scalar."""
    return F.l1_loss(reconstruction.float(), x.float())


class BEGANBalance(nn.Module):
    """BEGAN's equilibrium control: the balance ``k_t`` (a persistent buffer) and its proportional update.

    Args:
        gamma: Diversity ratio ``gamma = E[L(G(z))] / E[L(x)]`` the control aims at. Default ``0.5``.
        lambda_k: Proportional gain of the update. Default ``0.001``.
        k_init: ``k_0``. Default ``0.0``.

    Attributes:
        k: 0-d float32 buffer, in ``state_dict`` (exact resume).
    """

    k: Tensor

    def __init__(self, gamma: float = 0.5, lambda_k: float = 0.001, k_init: float = 0.0) -> None:
        super().__init__()
        self.gamma, self.lambda_k = gamma, lambda_k
        self.register_buffer("k", torch.tensor(float(k_init)), persistent=True)

    def discriminator_loss(self, loss_real: Tensor, loss_fake: Tensor) -> Tensor:
        """Return ``L_D = L(x) - k_t L(G(z))`` (``k_t`` is copied, so :meth:`update` may run before backward)."""
        return loss_real - self.k.clone() * loss_fake

    @torch.no_grad()
    def update(self, loss_real: Tensor, loss_fake: Tensor) -> Tensor:
        """Update ``k`` from this step's ``L(x)`` and ``L(G(z))`` and return ``M_global``.

        Under ``torch.distributed`` the two losses are first averaged over all ranks (a collective: every rank calls
        it), so every rank computes the same ``k``.

        Args:
            loss_real: ``L(x)``, a scalar (detached here).
            loss_fake: ``L(G(z))``, a scalar (detached here).

        Returns:
            The convergence measure ``M_global = L(x) + |gamma L(x) - L(G(z))|``, a detached float32 scalar.
        """
        losses = torch.stack([loss_real.detach().float(), loss_fake.detach().float()])
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(losses, op=dist.ReduceOp.SUM)
            losses /= dist.get_world_size()
        real, fake = losses[0], losses[1]
        balance = self.gamma * real - fake
        self.k.copy_((self.k + self.lambda_k * balance.to(self.k)).clamp(0.0, 1.0))
        return real + balance.abs()

    def extra_repr(self) -> str:
        """Show the settings in ``repr``."""
        return f"gamma={self.gamma}, lambda_k={self.lambda_k}"


class EnergyObjective(nn.Module):
    """EBGAN's or BEGAN's objective on an auto-encoder discriminator, for a method's D and G steps.

    Args:
        mode: ``"ebgan"`` or ``"began"``.
        margin: EBGAN's margin ``m``. Default ``20.0``.
        lambda_pt: EBGAN's pulling-away weight (0 leaves the term out). Default ``0.1``.
        gamma: BEGAN's diversity ratio. Default ``0.5``.
        lambda_k: BEGAN's gain of the ``k`` update. Default ``0.001``.

    Attributes:
        balance: The ``BEGANBalance`` (``"began"``), else None.

    Raises:
        ValueError: If ``mode`` is unknown.
    """

    def __init__(
        self,
        mode: EnergyMode,
        margin: float = 20.0,
        lambda_pt: float = 0.1,
        gamma: float = 0.5,
        lambda_k: float = 0.001,
    ) -> None:
        super().__init__()
        check_choice("gan_mode", mode, ("ebgan", "began"))
        self.mode, self.margin, self.lambda_pt = mode, margin, lambda_pt
        self.balance = BEGANBalance(gamma, lambda_k) if mode == "began" else None

    def discriminator_losses(
        self, discriminator: nn.Module, real: Tensor, fake: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Return D's loss terms (they sum to ``L_D``) and what to log besides (BEGAN: ``k`` and ``convergence``).

        With BEGAN, ``k`` is updated here (after ``L_D`` used ``k_t``): call it once per D step, on every rank.

        Args:
            discriminator: An auto-encoder (``encode`` / ``decode``, ``forward`` = reconstruction).
            real: Real images (or pairs) ``(N, C, H, W)``.
            fake: Generated ones, detached from G.
        """
        if self.balance is None:
            real_term, fake_term = ebgan_discriminator_loss(
                ebgan_energy(real, discriminator(real)), ebgan_energy(fake, discriminator(fake)), self.margin
            )
            return {"real": real_term, "fake": fake_term}, {}
        loss_real = began_reconstruction_loss(real, discriminator(real))
        loss_fake = began_reconstruction_loss(fake, discriminator(fake))
        fake_term = -self.balance.k.clone() * loss_fake  # L_D = L(x) - k_t L(G(z))
        convergence = self.balance.update(loss_real, loss_fake)
        return {"real": loss_real, "fake": fake_term}, {"k": self.balance.k.clone(), "convergence": convergence}

    def generator_losses(self, discriminator: nn.Module, fake: Tensor) -> dict[str, Tensor]:
        """Return G's loss terms: ``{"gan": energy}`` and, for EBGAN with ``lambda_pt``, ``{"pt": ...}``."""
        if self.balance is not None:
            return {"gan": began_reconstruction_loss(fake, discriminator(fake))}
        embedding = discriminator.encode(fake)
        losses = {"gan": ebgan_energy(fake, discriminator.decode(embedding)).mean()}
        if self.lambda_pt:
            losses["pt"] = self.lambda_pt * pulling_away_term(embedding)
        return losses

    def extra_repr(self) -> str:
        """Show the mode in ``repr``."""
        return f"mode={self.mode!r}"
