"""Sample diversity of a multimodal method: mean LPIPS between pairs of samples of the same input.

The protocol of BicycleGAN (Zhu et al. 2017, Sec. 5 and Table 1): for every input, ``pairs`` pairs of outputs with
independent random codes, LPIPS between the two outputs of each pair, averaged over pairs and inputs (the paper: 19
pairs per input over 100 validation inputs). Here the codes of pair ``j`` are the seeded draws ``first_seed + 2j``
and ``first_seed + 2j + 1`` (``TranslationModule.resolve_latent``), so every validation scores the same codes and
the value is reproducible. The LPIPS network is the metrics' (``networks.py``), offline-safe: a local backbone
file, the torch.hub cache, or ``"random"`` (the seeded stand-in backbone, for demos and tests only).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from lit_translate.errors import InputError
from lit_translate.evaluation.adapters import to_lpips_input, to_rgb
from lit_translate.evaluation.networks import build_lpips_net, lpips_from_state
from lit_translate.pretrained.check import RANDOM, Need
from lit_translate.pretrained.standins import random_alexnet_features_state
from lit_translate.pretrained.weights import LPIPS_BACKBONES

FIRST_SEED = 1000
"""The seed of the first code of the first pair (the sample grid uses seeds 0..K-1)."""


def diversity_needs(net: str, backbone_weights: str | None, key: str) -> list[Need]:
    """Return the pretrained file the diversity LPIPS loads (nothing for ``"random"``)."""
    return [] if backbone_weights == RANDOM else [Need(LPIPS_BACKBONES[net], backbone_weights, key)]


def build_diversity_lpips(net: str = "alex", backbone_weights: str | None = None) -> nn.Module:
    """Build the LPIPS network of :func:`lpips_diversity` (``"random"``: the stand-in AlexNet, with a warning).

    Raises:
        InputError: ``"random"`` with a backbone other than ``"alex"``.
    """
    if backbone_weights != RANDOM:
        return build_lpips_net(net, backbone_weights)
    if net != "alex":
        raise InputError(f"lpips_backbone_weights: random has a stand-in for lpips_net alex only, not {net!r}")
    warnings.warn(
        "LPIPS diversity with a random stand-in backbone (lpips_backbone_weights: random): comparable between runs "
        "of this package only, not with published LPIPS values",
        stacklevel=2,
    )
    return lpips_from_state("alex", random_alexnet_features_state(), RANDOM)


@torch.no_grad()
def lpips_diversity(
    sample: Callable[[int], Tensor], lpips: nn.Module, pairs: int, first_seed: int = FIRST_SEED
) -> Tensor:
    """Return the mean LPIPS between ``pairs`` pairs of samples of every input of a batch.

    Args:
        sample: ``seed -> (N, C, H, W)`` outputs in [-1, 1] of the batch's inputs with that seed's codes.
        lpips: an LPIPS network (``lpips(img1, img2)`` on [-1, 1] RGB; :func:`build_diversity_lpips`).
        pairs: pairs per input (>= 1).
        first_seed: the seed of the first code. Default :data:`FIRST_SEED`.

    Returns:
        A float32 scalar: the mean over pairs and inputs.
    """
    distances = []
    for j in range(pairs):
        first, second = sample(first_seed + 2 * j), sample(first_seed + 2 * j + 1)
        lpips = lpips.to(first.device)
        distance = lpips(to_lpips_input(to_rgb(first)), to_lpips_input(to_rgb(second)))
        distances.append(distance.reshape(-1).float())
    return torch.stack(distances).mean()


__all__ = ["FIRST_SEED", "build_diversity_lpips", "diversity_needs", "lpips_diversity"]
