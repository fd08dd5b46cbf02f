"""Latent-code terms of the VAE-style encoders (SPADE's ConvEncoder, BicycleGAN's E)."""

from __future__ import annotations

import torch
from torch import Tensor

from lit_translate.losses.perceptual import full_precision


def kl_divergence(mu: Tensor, logvar: Tensor) -> Tensor:
    """Return SPADE's ``KLDLoss``: ``-0.5 * sum(1 + logvar - mu^2 - exp(logvar))``, summed over batch and latent.

    The KL divergence of ``N(mu, exp(logvar))`` from ``N(0, I)``, summed as the reference (not averaged): a
    float32 scalar ``>= 0``; multiply by ``lambda_kld`` (0.05). ``mu`` and ``logvar`` are ``(N, z_dim)``.
    """
    with torch.autocast(device_type=mu.device.type, enabled=False):
        mu, logvar = full_precision(mu), full_precision(logvar)
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
