"""One direction's metric set: the torchmetrics modules of a direction tag, and their values.

:class:`~lit_translate.evaluation.metrics.TranslationMetrics` keeps one ``nn.ModuleDict`` per direction tag of
``evaluation_pairs`` (``""``, ``"ab"``, ``"ba"``, a domain name, ...); this module builds it and computes it.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.utilities import rank_zero_info, rank_zero_warn
from torch import nn
from torchmetrics.image import FrechetInceptionDistance, KernelInceptionDistance

from lit_translate import compat
from lit_translate.data.sampling import sampler_problem
from lit_translate.evaluation.image_metrics import KID_SUBSETS, ImageCount, LPIPSMean, kid_mean
from lit_translate.evaluation.networks import SharedFeatures
from lit_translate.evaluation.sr_metrics import NAMES as PSNR_SSIM_NAMES
from lit_translate.evaluation.sr_metrics import PSNRProtocol


def direction_metrics(
    features: SharedFeatures | None,
    lpips_model: nn.Module | None,
    protocol: PSNRProtocol,
    enabled: dict[str, bool],
    kid_subset_size: int,
    paired: bool,
) -> nn.ModuleDict:
    """Return a direction's metrics: an image count, FID/KID on ``features``, and (paired) LPIPS, PSNR, SSIM.

    Args:
        features: the shared feature network of FID and KID (None when both are off).
        lpips_model: the LPIPS network (paired methods with LPIPS on).
        protocol: the PSNR/SSIM convention (implementation, channels, border crop).
        enabled: ``{"fid": bool, "kid": bool, "lpips": bool, "psnr": bool, "ssim": bool}``.
        kid_subset_size: KID subset size.
        paired: whether the direction has aligned targets (LPIPS, PSNR, SSIM).
    """
    metrics: dict[str, nn.Module] = {"count": ImageCount()}
    if enabled["fid"]:
        metrics["fid"] = FrechetInceptionDistance(feature=features, reset_real_features=True)
    if enabled["kid"]:
        with warnings.catch_warnings():  # "will save all extracted features": known, N x D floats
            warnings.simplefilter("ignore", UserWarning)
            metrics["kid"] = KernelInceptionDistance(feature=features, subsets=KID_SUBSETS, subset_size=kid_subset_size)
    if paired and enabled["lpips"]:
        assert lpips_model is not None, "build() was not called"
        metrics["lpips"] = LPIPSMean(lpips_model)
    if paired:
        metrics.update(protocol.build(enabled["psnr"], enabled["ssim"]))
    return nn.ModuleDict(metrics)


def count_targetless(
    metrics: dict[str, nn.ModuleDict], targetless: set[str], tag: str, count: int, device: torch.device
) -> None:
    """Count the images of a direction without real target images (style transfer); no metric applies.

    Adds the direction's ``{"count": ImageCount()}`` to ``metrics`` and ``tag`` to ``targetless`` on first use.
    """
    if tag not in metrics:
        metrics[tag] = nn.ModuleDict({"count": ImageCount()})
        targetless.add(tag)
        rank_zero_info(
            f"TranslationMetrics: evaluation_pairs gives no real target images for direction {tag!r} (a method "
            "without targets, e.g. style transfer): FID, KID, LPIPS, PSNR and SSIM are skipped for it"
        )
    counter = metrics[tag]["count"]
    if counter.device != device:
        counter.to(device)
    counter.update(count, 0)


def warn_about_samplers(loaders: Any) -> None:
    """Warn (rank 0) about each evaluation loader whose sampler pads or drops images (miscounted under DDP)."""
    for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
        problem = sampler_problem(loader)
        if problem:
            rank_zero_warn(f"TranslationMetrics: {problem}")


def check_same_tags(trainer: Trainer, tags: list[str], stage: str) -> None:
    """Under DDP, check that every rank has the same direction tags (``compute`` is collective, in tag order)."""
    if trainer.world_size > 1:
        same = tags == trainer.strategy.broadcast(tags, src=0)
        if not trainer.strategy.reduce_boolean_decision(same, all=True):
            raise RuntimeError(
                "TranslationMetrics: ranks saw different evaluation_pairs direction tags (a rank got no "
                f"{stage} batch? the split needs at least one image per rank); this rank had {tags}"
            )


def compute_direction(metrics: nn.ModuleDict, tag: str, kid_subset_size: int) -> tuple[int, dict[str, float]]:
    """Compute one direction's metrics (collective under DDP: call on every rank).

    Returns:
        ``(number of generated images, {"fid<suffix>": ..., ...})`` with suffix ``""`` for tag ``""``, else
        ``"_<tag>"``.

    Raises:
        ValueError: FID/KID with fewer than 2 generated or 2 real images.
    """
    for metric in metrics.values():
        compat.merge_list_states(metric)  # KID's feature lists: one gather per rank (DDP)
    n_fake, n_real = (int(v) for v in metrics["count"].compute().tolist())
    suffix = f"_{tag}" if tag else ""
    if ("fid" in metrics or "kid" in metrics) and min(n_fake, n_real) < 2:
        raise ValueError(
            f"FID/KID need at least 2 generated and 2 real images, direction {tag!r} has {n_fake} "
            f"generated and {n_real} real"
        )
    results: dict[str, float] = {}
    if "fid" in metrics:
        results[f"fid{suffix}"] = float(metrics["fid"].compute())
    if "kid" in metrics:
        results[f"kid{suffix}"] = kid_mean(metrics["kid"], kid_subset_size, n_fake, n_real)
    for name in ("lpips", *PSNR_SSIM_NAMES):
        if name in metrics:
            results[f"{name}{suffix}"] = float(metrics[name].compute())
    return n_fake, results


__all__ = ["check_same_tags", "compute_direction", "count_targetless", "direction_metrics", "warn_about_samplers"]
