"""The PSNR/SSIM convention of :class:`~lit_translate.evaluation.TranslationMetrics`: implementation, channels, crop.

Translation (the default): torchmetrics' PSNR and SSIM on RGB in [0, 1], not quantised, no border crop. Super-
resolution papers and BasicSR: 8-bit quantised images, ``scale`` pixels cropped at each border, RGB (BasicSR's
ModelZoo) and/or the Y channel of MATLAB's ``rgb2ycbcr`` (paper tables), BasicSR's SSIM
(:mod:`lit_translate.evaluation.sr`). :class:`PSNRProtocol` builds and updates the metrics of one convention;
names are ``psnr``/``ssim`` (RGB) and ``psnr_y``/``ssim_y`` (Y).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.evaluation import sr

Implementation = Literal["torchmetrics", "basicsr"]
Channels = Literal["rgb", "y", "both"]
IMPLEMENTATIONS = ("torchmetrics", "basicsr")
CHANNELS = {"rgb": (False,), "y": (True,), "both": (False, True)}
NAMES = ("psnr", "ssim", "psnr_y", "ssim_y")


class PerImageMean(Metric):
    """Mean over images of a per-image score ``fn(a, b) -> (N,)`` (float64 sums, summed over ranks)."""

    full_state_update = False
    total: Tensor
    count: Tensor

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
        super().__init__()
        self.fn = fn
        self.add_state("total", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    @override
    def update(self, a: Tensor, b: Tensor) -> None:
        values = self.fn(a, b)
        self.total += values.sum().to(self.total)
        self.count += values.numel()

    @override
    def compute(self) -> Tensor:
        return self.total / self.count


class PSNRProtocol:
    """Build and update the PSNR/SSIM metrics of one convention (module docstring).

    Args:
        implementation: ``"torchmetrics"`` (float images, clamped, not quantised; torchmetrics' Gaussian SSIM) or
            ``"basicsr"`` (BasicSR's ``calculate_psnr``/``calculate_ssim``: 8-bit quantised, float64, SSIM on valid
            windows). Default ``"torchmetrics"``.
        channels: ``"rgb"``, ``"y"`` or ``"both"``. Default ``"rgb"``.
        crop_border: Pixels removed at each border, or ``"auto"`` = the model's output scale (0 for scale 1).
            Default 0.
    """

    def __init__(
        self, implementation: Implementation = "torchmetrics", channels: Channels = "rgb", crop_border: int | str = 0
    ) -> None:
        self.implementation = check_choice("psnr_ssim", implementation, IMPLEMENTATIONS)
        self.y_channels = CHANNELS[check_choice("psnr_channels", channels, CHANNELS)]
        if crop_border != "auto" and (not isinstance(crop_border, int) or crop_border < 0):
            raise ValueError(f"crop_border must be an int >= 0 or 'auto', got {crop_border!r}")
        self.channels, self.crop_border = channels, crop_border
        self.scale = 1

    def border(self) -> int:
        """Return the pixels cropped at each border (``"auto"``: the model's output scale, 0 at scale 1)."""
        if self.crop_border == "auto":
            return self.scale if self.scale > 1 else 0
        return int(self.crop_border)

    def build(self, psnr: bool, ssim: bool) -> dict[str, nn.Module]:
        """Return the metrics to compute, by logged name."""
        metrics: dict[str, nn.Module] = {}
        for y in self.y_channels:
            suffix = "_y" if y else ""
            if psnr:
                metrics[f"psnr{suffix}"] = self._metric("psnr", y)
            if ssim:
                metrics[f"ssim{suffix}"] = self._metric("ssim", y)
        return metrics

    def _metric(self, name: str, y: bool) -> nn.Module:
        if self.implementation == "torchmetrics":
            if name == "psnr":
                return PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))
            return StructuralSimilarityIndexMeasure(data_range=1.0)
        score = sr.psnr if name == "psnr" else sr.ssim
        return PerImageMean(lambda a, b: score(a, b, crop_border=self.border(), y_channel=y))

    def update(self, metrics: nn.ModuleDict, fake: Tensor, real: Tensor) -> None:
        """Add a batch of images in [0, 1] (clamped), ``(N, C, H, W)``, to the metrics built by :meth:`build`."""
        fake, real = sr.mod_crop(fake, self.scale), sr.mod_crop(real, self.scale)
        for name in NAMES:
            if name not in metrics:
                continue
            if self.implementation == "basicsr":
                metrics[name].update(fake, real)  # PerImageMean crops, converts and quantises itself
                continue
            a, b = sr.crop_border(fake, self.border()), sr.crop_border(real, self.border())
            if name.endswith("_y"):
                a, b = sr.rgb_to_y(a), sr.rgb_to_y(b)
            metrics[name].update(a, b)

    def describe(self) -> str:
        """Say the convention in one line, for logs and reports."""
        border = self.border()
        what = {"rgb": "RGB", "y": "Y (BT.601 luma, MATLAB rgb2ycbcr)", "both": "RGB and Y (BT.601, MATLAB rgb2ycbcr)"}
        how = (
            "BasicSR implementation (8-bit quantised, float64, SSIM on valid 11x11 windows)"
            if self.implementation == "basicsr"
            else "torchmetrics implementation (float [0, 1], clamped, not quantised)"
        )
        crop = f"{border} px cropped at each border" if border else "no border crop"
        mod = f", images cropped to a multiple of the scale {self.scale}" if self.scale > 1 else ""
        return f"PSNR/SSIM on {what[self.channels]}, {crop}{mod}; {how}"


__all__ = ["CHANNELS", "IMPLEMENTATIONS", "NAMES", "PSNRProtocol", "PerImageMean"]
