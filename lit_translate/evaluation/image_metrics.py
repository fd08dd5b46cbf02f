"""Small torchmetrics ``Metric``s of the evaluation: image counts and mean LPIPS over a prebuilt network."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image import KernelInceptionDistance
from typing_extensions import override

KID_SUBSETS = 100
KID_SEED = 0


class ImageCount(Metric):
    """Count generated and real images (summed over ranks)."""

    full_state_update = False
    fake: Tensor
    real: Tensor

    def __init__(self) -> None:
        super().__init__()
        self.add_state("fake", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("real", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @override
    def update(self, fake: int, real: int) -> None:
        self.fake += fake
        self.real += real

    @override
    def compute(self) -> Tensor:
        return torch.stack([self.fake, self.real])


class LPIPSMean(Metric):
    """Mean LPIPS over images with a prebuilt (shared) LPIPS network; inputs float [-1, 1], ``(N, 3, H, W)``.

    Stricter than torchmetrics: values outside [-1, 1] raise (torchmetrics only checks ``min >= -1``, so [0, 1]
    or [0, 255] inputs would pass and give wrong values).
    """

    full_state_update = False
    higher_is_better = False
    is_differentiable = False
    score_sum: Tensor
    total: Tensor

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("total", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @override
    def update(self, img1: Tensor, img2: Tensor) -> None:
        if img1.shape != img2.shape or img1.ndim != 4 or img1.shape[1] != 3:
            raise ValueError(f"LPIPS needs two (N, 3, H, W) batches, got {tuple(img1.shape)} and {tuple(img2.shape)}")
        for img in (img1, img2):
            if img.min() < -1.0 or img.max() > 1.0:
                raise ValueError(
                    f"LPIPS inputs must lie in [-1, 1], got [{img.min().item():.3f}, {img.max().item():.3f}]; "
                    "convert with to_lpips_input(x, value_range)"
                )
        scores = self.net(img1.float(), img2.float(), normalize=False)
        self.score_sum += scores.reshape(img1.shape[0], -1).sum(dim=1).double().sum()
        self.total += img1.shape[0]

    @override
    def compute(self) -> Tensor:
        return self.score_sum / self.total


def kid_mean(kid: KernelInceptionDistance, subset_size: int, n_fake: int, n_real: int) -> float:
    """Compute KID's mean: exact on all images when they fit in one subset, else over seeded random subsets.

    Subsets of all images give the exact unbiased MMD^2 estimate, so one is enough and it is deterministic; with
    more images, ``KID_SUBSETS`` random subsets of ``subset_size`` are drawn with a fixed seed (the same on every
    rank; the training RNG is left untouched). Collective under DDP: call on every rank.
    """
    kid.subset_size = min(subset_size, n_fake, n_real)
    kid.subsets = 1 if kid.subset_size == n_fake == n_real else KID_SUBSETS
    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(KID_SEED)
        mean, _ = kid.compute()
    return float(mean)


__all__ = ["KID_SEED", "KID_SUBSETS", "ImageCount", "LPIPSMean", "kid_mean"]
