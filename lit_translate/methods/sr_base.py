"""What the super-resolution methods (SRResNet, SRGAN, PerceptualSR) share: data checks, pre-trained start, bicubic.

Batches are the SR DataModule's ``{"A": LR (N, C, h, w), "B": HR (N, C, s h, s w)}`` in [-1, 1]. Inference clamps
the generator's output to [-1, 1] (an image); the training losses use it unclamped, as BasicSR. Every evaluation
also scores the **bicubic baseline** (the LR image upsampled by MATLAB's ``imresize``, :meth:`~SuperResolutionModule.
bicubic`, tag ``"bicubic"``: logged as ``val/psnr_bicubic``, ...), so a report shows the model and the number it
has to beat side by side. :func:`sr_scores` is the SR papers' per-image PSNR / SSIM on Y (BasicSR's convention),
for methods that log it themselves (PerceptualSR).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.resize import imresize
from lit_translate.evaluation.sr import psnr, ssim
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, Target, TranslationModule
from lit_translate.methods.parts.optimizers import basicsr_adam
from lit_translate.methods.parts.pretraining import PretrainedWeights, load_pretrained

PIXEL_LOSSES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {"l1": F.l1_loss, "mse": F.mse_loss}
"""Pixel criteria by name (BasicSR ``L1Loss`` / ``MSELoss``, mean reduction; images in [-1, 1])."""


def pixel_loss(name: str, output: Tensor, target: Tensor) -> Tensor:
    """Return the ``name`` (``"l1"``/``"mse"``) pixel loss in float32."""
    return PIXEL_LOSSES[name](output.float(), target.float())


def sr_scores(sr: Tensor, hr: Tensor, scale: int) -> dict[str, Tensor]:
    """Return BasicSR's per-image PSNR / SSIM on Y, ``scale`` border pixels cropped, 8-bit rounded.

    Args:
        sr: Super-resolved images ``(N, 3, H, W)`` in [-1, 1].
        hr: Ground truth, same shape, in [-1, 1].
        scale: The SR factor (the border crop).

    Returns:
        ``{"psnr_y": (N,), "ssim_y": (N,)}`` in dB and [0, 1].
    """
    a, b = (sr.float() + 1) / 2, (hr.float() + 1) / 2
    return {
        "psnr_y": psnr(a, b, crop_border=scale, y_channel=True),
        "ssim_y": ssim(a, b, crop_border=scale, y_channel=True),
    }


class SuperResolutionModule(TranslationModule):
    """The shared part of the SR methods (one generator ``LR -> HR``, optionally averaged, optionally pre-trained).

    Subclasses call ``super().__init__`` with keyword arguments (eight of them, all required).

    Args:
        generator: LR ``(N, C, h, w)`` -> HR ``(N, C, s h, s w)``, both in [-1, 1]; has ``scale`` (e.g.
            ``MSRResNet``).
        ema_decay: Decay of the generator EMA used for validation, grids, predict and export; None or 0 = off.
        pretrained: A pre-training checkpoint (lit_translate or BasicSR file) whose generator weights start a
            fresh fit (not a resumed one); None = the generator's own initialisation.
        pretrained_weights: ``"live"`` or ``"ema"``: which of its weights the generator starts from.
        bicubic_baseline: Also score the bicubic upsampling of the LR images (tag ``"bicubic"``).
        inference_mode: See ``TranslationModule``.
        on_nonfinite: See ``TranslationModule``.
        max_skipped_steps: See ``TranslationModule``.
        ema_warmup: Ramp the EMA decay up from 0.1 (``min(ema_decay, (1 + n) / (10 + n))``, see
            :class:`~lit_translate.methods.parts.ema.ModelEMA`). Default: False.
    """

    metric_tags: ClassVar[dict[str, str]] = {"bicubic": "the bicubic upsampling baseline (MATLAB imresize)"}

    def __init__(
        self,
        *,
        generator: nn.Module,
        ema_decay: float | None,
        pretrained: str | None,
        pretrained_weights: PretrainedWeights,
        bicubic_baseline: bool,
        inference_mode: InferenceMode,
        on_nonfinite: NonFinitePolicy,
        max_skipped_steps: int,
        ema_warmup: bool = False,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.generator = generator
        # self.generator_ema (ModelEMA) when ema_decay is set
        self.average_weights("generator", ema_decay, warmup=ema_warmup)
        self.pretrained = pretrained
        self.pretrained_weights = check_choice("pretrained_weights", pretrained_weights, ("live", "ema"))
        self.bicubic_baseline = bicubic_baseline

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target) -> Tensor:
        return net(x).clamp(-1.0, 1.0)  # an image: the metrics and the writer quantise it anyway

    @override
    def forward(self, lr: Tensor) -> Tensor:
        return self.generator(lr)

    # ----------------------------------------------------------------------------------------- start-up checks
    @override
    def setup(self, stage: str) -> None:
        super().setup(stage)
        data = getattr(self._trainer, "datamodule", None)  # None without a trainer (a unit test's setup call)
        scale = getattr(data, "scale", None)
        if scale is not None and scale != self.output_scale():
            raise ValueError(
                f"--data.init_args.scale is {scale} but the generator upsamples x{self.output_scale()} "
                f"(--model.init_args.generator.init_args.scale); set both to the same factor"
            )
        size, net_size = getattr(data, "gt_size", None), self.discriminator_input_size()
        if stage == "fit" and size is not None and net_size is not None and size != net_size:
            raise ValueError(
                f"--data.init_args.gt_size is {size} but the discriminator takes {net_size} px patches "
                f"(--model.init_args.discriminator.init_args.input_size, 128 or 256); set both to the same size"
            )

    def discriminator_input_size(self) -> int | None:
        """Return the patch size the discriminator requires (None: any); SRGAN overrides."""
        return None

    @override
    def on_fit_start(self) -> None:
        super().on_fit_start()
        # Only a fresh fit starts from the pre-training weights; a resumed one has already restored its own.
        if self.pretrained and self.trainer.ckpt_path is None:
            ema = getattr(self, "generator_ema", None)
            loaded = load_pretrained(self.generator, ema, self.pretrained, "generator", self.pretrained_weights)
            rank_zero_info(f"Initialised {loaded}; optimizer states not taken")

    # ---------------------------------------------------------------------------------------------- evaluation
    def bicubic(self, lr: Tensor) -> Tensor:
        """Upsample LR images by the generator's scale with MATLAB's bicubic ``imresize``, clamped to [-1, 1]."""
        return imresize(lr.float(), float(self.output_scale())).clamp(-1.0, 1.0)

    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"lr_bicubic": self.bicubic(batch["A"]), "sr": self.translate(batch["A"]), "hr": batch["B"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        pairs: Pairs = {"": (self.translate(batch["A"]), batch["B"])}
        if self.bicubic_baseline:
            pairs["bicubic"] = (self.bicubic(batch["A"]), batch["B"])
        return pairs

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        losses = {}
        for tag, (output, target) in pairs.items():
            assert target is not None
            losses["l1" if not tag else f"l1_{tag}"] = F.l1_loss(output.float(), target.float())
        return losses


__all__ = ["PIXEL_LOSSES", "SuperResolutionModule", "basicsr_adam", "pixel_loss", "sr_scores"]
