"""Adversarial objectives: GANLoss, the WGAN-GP gradient penalty, multi-scale GAN losses.

``GANLoss`` (vanilla / LSGAN / WGAN-GP / hinge), ``gradient_penalty`` and ``multiscale_gan_loss`` over the scales
of a multi-scale discriminator (SPADE, pix2pixHD).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_translate.choices import resolve_choice

_Objective = Callable[[Tensor, bool, bool], Tensor]


def _vanilla(prediction: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.binary_cross_entropy_with_logits(prediction, target)


def _lsgan(prediction: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
    target = torch.ones_like(prediction) if target_is_real else torch.zeros_like(prediction)
    return F.mse_loss(prediction, target)


def _wgangp(prediction: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
    return -prediction.mean() if target_is_real else prediction.mean()


def _hinge(prediction: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
    if not for_discriminator:
        if not target_is_real:
            raise ValueError("The hinge generator loss (for_discriminator=False) needs target_is_real=True.")
        return -prediction.mean()
    if target_is_real:
        return F.relu(1.0 - prediction).mean()
    return F.relu(1.0 + prediction).mean()


GanMode = Literal["vanilla", "lsgan", "wgangp", "hinge"]
"""The ``gan_mode`` choices of :class:`GANLoss` and of the methods (``--help`` lists them)."""

_OBJECTIVES: dict[str, _Objective] = {
    "vanilla": _vanilla,
    "lsgan": _lsgan,
    "wgangp": _wgangp,
    "hinge": _hinge,
}


class GANLoss(nn.Module):
    """Adversarial loss on discriminator logits, for either side of the game.

    Modes:
        ``"vanilla"``: binary cross-entropy with logits against 1 (real) or 0 (fake).
        ``"lsgan"``: mean squared error against 1 (real) or 0 (fake).
        ``"wgangp"``: Wasserstein critic, ``-mean(pred)`` for real and ``mean(pred)`` for fake.
        ``"hinge"``: discriminator ``mean(relu(1 - pred))`` for real and ``mean(relu(1 + pred))`` for
        fake; generator (``for_discriminator=False``) ``-mean(pred)``.

    The generator's loss is the real-target loss on its fakes (``target_is_real=True``). The loss is
    computed in float32 whatever the prediction's dtype, so it is stable under bf16/fp16 autocast.

    Args:
        gan_mode: ``"vanilla"``, ``"lsgan"``, ``"wgangp"`` or ``"hinge"``.

    Raises:
        ValueError: If ``gan_mode`` is unknown.
    """

    def __init__(self, gan_mode: GanMode) -> None:
        super().__init__()
        self._objective = resolve_choice("gan_mode", gan_mode, _OBJECTIVES)
        self.gan_mode = gan_mode

    def forward(
        self, prediction: Tensor | list[Tensor], target_is_real: bool, for_discriminator: bool = True
    ) -> Tensor:
        """Compute the loss of discriminator logits against a real or fake target.

        Args:
            prediction: Logits of any shape, e.g. a PatchGAN map ``(N, 1, h, w)``, or a list of them
                (one per scale of a multi-scale discriminator; the per-scale losses are averaged).
            target_is_real: Whether the target is "real" (generator updates always use ``True``).
            for_discriminator: Whether this is the discriminator's loss; only ``"hinge"`` uses it.
                Default ``True``.

        Returns:
            A float32 scalar.

        Raises:
            ValueError: If ``prediction`` is an empty list, or for the hinge generator loss with
                ``target_is_real=False``.
        """
        if isinstance(prediction, Tensor):
            return self._objective(prediction.float(), target_is_real, for_discriminator)
        if len(prediction) == 0:
            raise ValueError("GANLoss got an empty list of predictions.")
        losses = [self._objective(p.float(), target_is_real, for_discriminator) for p in prediction]
        return torch.stack(losses).mean()

    def extra_repr(self) -> str:
        """Show the mode in ``repr``."""
        return f"gan_mode={self.gan_mode!r}"


def gradient_penalty(
    discriminator: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    generator: torch.Generator | None = None,
    target_norm: float = 1.0,
) -> Tensor:
    """WGAN-GP gradient penalty (Gulrajani et al. 2017), to be multiplied by ``lambda_gp`` by the caller.

    Draws one ``alpha ~ U(0, 1)`` per sample, builds ``x = alpha * real + (1 - alpha) * fake`` (both
    detached, in float32, with autocast disabled so that the double backward runs in full precision),
    and returns ``mean((||dD(x)/dx||_2 - target_norm) ** 2)`` with the norm taken per sample over all
    non-batch dimensions. The gradient is computed with ``create_graph=True``, so the penalty can be
    backpropagated to the discriminator's parameters.

    Args:
        discriminator: Maps a batch ``(N, ...)`` shaped like ``real`` to scores of any shape whose first
            dimension is ``N`` (each score depending on its own sample only).
        real: Real inputs of the discriminator ``(N, C, H, W)`` (any shape ``(N, ...)``).
        fake: Generated inputs, same shape as ``real``.
        generator: Random generator for ``alpha``, on ``real``'s device; ``None`` uses the global RNG.
            Default ``None``.
        target_norm: The gradient norm the penalty pulls towards. Default ``1.0``.

    Returns:
        A float32 scalar ``>= 0``.

    Raises:
        ValueError: If ``real`` and ``fake`` shapes differ.
    """
    if real.shape != fake.shape:
        shapes = f"{tuple(real.shape)} and {tuple(fake.shape)}"
        raise ValueError(f"gradient_penalty needs real and fake of the same shape; got {shapes}.")
    alpha_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    with torch.enable_grad(), torch.autocast(device_type=real.device.type, enabled=False):
        alpha = torch.rand(alpha_shape, generator=generator, device=real.device, dtype=torch.float32)
        mixed = alpha * real.detach().float() + (1.0 - alpha) * fake.detach().float()
        mixed.requires_grad_(True)
        scores = discriminator(mixed).float()
        (grads,) = torch.autograd.grad(outputs=scores.sum(), inputs=mixed, create_graph=True)
        norms = torch.linalg.vector_norm(grads.flatten(start_dim=1), ord=2, dim=1)
        return ((norms - target_norm) ** 2).mean()


def multiscale_gan_loss(
    criterion: GANLoss,
    outputs: list[list[Tensor]],
    target_is_real: bool,
    for_discriminator: bool = True,
    over_scales: Literal["mean", "sum"] = "mean",
) -> Tensor:
    """Apply ``criterion`` (a :class:`GANLoss`) to the logits (last tensor) of every scale of ``outputs``.

    ``over_scales``: ``"mean"`` averages the per-scale losses (SPADE, hinge), ``"sum"`` adds them (pix2pixHD,
    lsgan). ``target_is_real`` and ``for_discriminator`` are :class:`GANLoss`'s. Returns a float32 scalar; raises
    ValueError for no scale, an empty scale or an unknown ``over_scales``.
    """
    summed = resolve_choice("over_scales", over_scales, {"mean": False, "sum": True})
    if not outputs or any(len(scale) == 0 for scale in outputs):
        raise ValueError("multiscale_gan_loss needs at least one scale, each with its logits last")
    loss = criterion([scale[-1] for scale in outputs], target_is_real, for_discriminator)
    return loss * len(outputs) if summed else loss
