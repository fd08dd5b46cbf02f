"""Feature-loss super-resolution: Johnson, Alahi & Fei-Fei (ECCV 2016), section 4.2.

The paper's x4 / x8 network (:class:`~lit_translate.nets.PerceptualSRNet`: residual blocks at the low resolution,
log2(scale) fractionally strided upsampling stages, a scaled tanh) is trained on LR -> HR pairs with the **feature
reconstruction loss** at VGG-16 relu2_2 (paper eq. 2, the "l_feat" model)::

    feature_weight * mean((phi_relu2_2(f_W(lr)) - phi_relu2_2(hr))^2)      [+ tv_weight * TV(f_W(lr))]

or, as the paper's baseline, with the **per-pixel** loss ``pixel_weight * mean((f_W(lr) - hr)^2)`` (``loss:
pixel``, the "l_pixel" model). Only ``f_W`` learns; the VGG loss network is frozen, built at ``setup`` as
non-persistent buffers and never saved (docs/architecture.md, "frozen auxiliary networks"); the per-pixel
baseline builds no VGG at all.

Validation scores two conventions. The metrics callback computes PSNR / SSIM on RGB in [0, 1] over the whole
(mod-cropped) image and LPIPS (``val/psnr``, ``val/ssim``, ``val/lpips``). The method itself logs the SR papers'
convention, BasicSR's ``calculate_psnr/ssim``: 8-bit rounded, Y channel of BT.601 (MATLAB ``rgb2ycbcr``), ``scale``
pixels cropped at each border, mean over images (``val/psnr_y``, ``val/ssim_y``), and the same scores of MATLAB
bicubic upsampling of the LR input (``val/psnr_y_bicubic``, ``val/ssim_y_bicubic``) as the reference line.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.losses import feature_loss, total_variation
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs
from lit_translate.methods.parts.optimizers import johnson_adam
from lit_translate.methods.sr_base import SuperResolutionModule, sr_scores
from lit_translate.nets.vgg import VGGFeatures, vgg_layer_names
from lit_translate.pretrained.check import Need, vgg_needs
from lit_translate.pretrained.weights import loss_network

LOSSES = ("feature", "pixel")
_NEEDS_LOSS_NETWORK = ("fit", "validate", "test")


class PerceptualSR(SuperResolutionModule):
    """Johnson et al.'s super-resolution with a perceptual (feature) loss, or the per-pixel MSE baseline.

    Batches are the SR DataModule's ``{"A": LR (N, 3, h, w), "B": HR (N, 3, s h, s w)}`` in [-1, 1]. The SR base
    (``methods/sr_base.py``) gives the scale check, the clamped inference, the bicubic baseline
    (:meth:`~SuperResolutionModule.bicubic`) and the Y-channel scores (:func:`~lit_translate.methods.sr_base.
    sr_scores`); the paper has no generator EMA and no pre-training, and the bicubic baseline is scored on Y by the
    method (``val/psnr_y_bicubic``), not by the metrics callback.

    Args:
        generator: LR -> HR network with a ``scale`` attribute (``PerceptualSRNet``, scale 4 or 8).
        optimizer: Optimizer factory. Default: None = Adam(lr 1e-3), the paper.
        lr_scheduler: Per-epoch scheduler factory. Default: None (constant, the paper).
        loss: ``"feature"`` (the paper's l_feat model) or ``"pixel"`` (its per-pixel MSE baseline).
            Default: ``"feature"``.
        feature_layer: VGG layer of the feature loss. Default: ``"relu2_2"`` (the paper).
        feature_weight: Weight of the feature loss. Default: 1.0.
        pixel_weight: Weight of the per-pixel MSE (``loss: pixel``; images in [-1, 1], so 4 x the MSE of [0, 1]
            images). Default: 1.0.
        tv_weight: Weight of the total-variation term (``losses.total_variation``, squared differences of [-1, 1]
            images; the paper cross-validated 1e-6 to 1e-4 on its own TV definition). Default: 0 (off).
        vgg_arch: ``"vgg16"`` (the paper) or ``"vgg19"``. Default: ``"vgg16"``.
        vgg_weights: Local torchvision VGG file; None = the torch.hub cache (offline without it: an error naming
            the file and the fetch command); ``"random"`` = a random-weight stand-in for CPU demos and tests only.
            Unused with ``loss: pixel``. Default: None.
        inference_mode: ``"eval"`` (batch norm running statistics) or ``"train"``. Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"`` (see ``TranslationModule``). Default: ``"stop"``.
        max_skipped_steps: With ``"skip"``, stop after this many skipped steps in a row. Default: 20.

    Raises:
        ValueError: ``loss`` or ``feature_layer`` is unknown, a weight is negative, or the chosen loss's weight
            and ``tv_weight`` are both 0.
    """

    def __init__(
        self,
        generator: nn.Module,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        loss: Literal["feature", "pixel"] = "feature",
        feature_layer: str = "relu2_2",
        feature_weight: float = 1.0,
        pixel_weight: float = 1.0,
        tv_weight: float = 0.0,
        vgg_arch: Literal["vgg16", "vgg19"] = "vgg16",
        vgg_weights: str | None = None,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(
            generator=generator,
            ema_decay=None,
            pretrained=None,
            pretrained_weights="live",
            bicubic_baseline=False,
            inference_mode=inference_mode,
            on_nonfinite=on_nonfinite,
            max_skipped_steps=max_skipped_steps,
        )
        self.save_config_hyperparameters()
        self.loss = check_choice("loss", loss, LOSSES)
        layers = vgg_layer_names(check_choice("vgg_arch", vgg_arch, ("vgg16", "vgg19")))
        self.feature_layer = check_choice("feature_layer", feature_layer, layers)
        self.weights = {"feature": feature_weight, "pixel": pixel_weight, "tv": tv_weight}
        for key, value in self.weights.items():
            if value < 0:
                raise ValueError(f"{key}_weight must be >= 0, got {value}")
        if not self.weights[loss] and not tv_weight:
            raise ValueError(f"{loss}_weight and tv_weight are both 0 (loss: {loss}): nothing to train")
        self.scale = self.output_scale()
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.vgg_arch, self.vgg_weights = vgg_arch, vgg_weights
        self.vgg: VGGFeatures | None = None

    # ------------------------------------------------------------------------------------------- loss network
    @override
    def setup(self, stage: str) -> None:
        """Build the frozen VGG once for fit/validate/test with the feature loss; then the SR base's checks."""
        if self.loss == "feature" and stage in _NEEDS_LOSS_NETWORK and self.vgg is None:
            self.vgg = loss_network(self.vgg_arch, (self.feature_layer,), self.vgg_weights).to(self.device)
        super().setup(stage)

    @override
    def pretrained_needs(self, stage: str) -> list[Need]:
        """Return the VGG file of the feature loss, for fit/validate/test (none with ``loss: pixel`` or ``random``)."""
        needs_vgg = self.loss == "feature" and stage in _NEEDS_LOSS_NETWORK and self.vgg is None
        return vgg_needs(self.vgg_arch, self.vgg_weights) if needs_vgg else []

    def loss_terms(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """Return the weighted training terms (``feature`` or ``pixel``, and ``tv``; zero weights left out).

        Args:
            sr: ``f_W(lr)``, ``(N, 3, H, W)``, as the network gives it.
            hr: The HR targets, same shape, in [-1, 1].
        """
        terms: dict[str, Tensor] = {}
        if self.loss == "feature" and self.weights["feature"]:
            terms["feature"] = self.weights["feature"] * self.feature_distance(sr, hr)
        if self.loss == "pixel" and self.weights["pixel"]:
            terms["pixel"] = self.weights["pixel"] * F.mse_loss(sr.float(), hr.float())
        if self.weights["tv"]:
            terms["tv"] = self.weights["tv"] * total_variation(sr)
        return terms

    def feature_distance(self, sr: Tensor, hr: Tensor) -> Tensor:
        """Return ``mean((phi(sr) - phi(hr))^2)`` at ``feature_layer`` (the target's features without gradient)."""
        if self.vgg is None:
            raise RuntimeError("the loss network is built in setup(); call trainer.fit/validate/test")
        with torch.no_grad():
            target = self.vgg(hr)[self.feature_layer]
        return feature_loss(self.vgg(sr)[self.feature_layer], target)

    # ------------------------------------------------------------------------------------------------ contract
    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        sr = self.generator(batch["A"])
        self.optimize(self.optimizers(), self.loss_terms(sr, batch["B"]), prefix="g")

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        losses = super().validation_losses(batch, pairs)  # l1
        sr, hr = pairs[""][0].float(), batch["B"].float()
        for suffix, output in (("", sr), ("_bicubic", self.bicubic(batch["A"]))):
            losses.update({f"{k}{suffix}": v.mean() for k, v in sr_scores(output, hr, self.scale).items()})
        if self.vgg is not None:
            losses["feature"] = self.feature_distance(sr, hr)
        return losses

    @override
    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.optimizer or johnson_adam, self.generator.parameters())
        return [optimizer], self.build_schedulers(self.lr_scheduler, [optimizer])


__all__ = ["LOSSES", "PerceptualSR", "sr_scores"]
