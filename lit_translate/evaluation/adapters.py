"""Image value conversions at the metrics' inputs: [-1, 1] images to what each metric network expects."""

from __future__ import annotations

import torch
from torch import Tensor

ValueRange = tuple[float, float]


def to_unit(x: Tensor, value_range: ValueRange = (-1.0, 1.0)) -> Tensor:
    """Map images in ``value_range`` to float32 [0, 1] (clamped)."""
    low, high = value_range
    return ((x.float() - low) / (high - low)).clamp(0.0, 1.0)


def to_uint8(x: Tensor, value_range: ValueRange = (-1.0, 1.0)) -> Tensor:
    """Map images in ``value_range`` to uint8 [0, 255]: ``round(clamp((x + 1) / 2, 0, 1) * 255)`` for [-1, 1]."""
    return (to_unit(x, value_range) * 255.0).round().to(torch.uint8)


def to_lpips_input(x: Tensor, value_range: ValueRange = (-1.0, 1.0)) -> Tensor:
    """Map images in ``value_range`` to the float32 [-1, 1] that LPIPS (``normalize=False``) expects, clamped."""
    if tuple(value_range) == (-1.0, 1.0):
        return x.float().clamp(-1.0, 1.0)
    return to_unit(x, value_range) * 2.0 - 1.0


def to_rgb(x: Tensor) -> Tensor:
    """Repeat a 1-channel batch ``(N, 1, H, W)`` to 3 channels; 3-channel batches pass unchanged."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(
            f"Inception and LPIPS take (N, 1 or 3, H, W) images, got shape {tuple(x.shape)}; for other channel "
            "counts pass a TranslationMetrics(feature_extractor=...) and lpips=False"
        )
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


__all__ = ["ValueRange", "to_lpips_input", "to_rgb", "to_uint8", "to_unit"]
