"""SRResNet: a super-resolution generator trained on a pixel loss (Ledig et al., CVPR 2017, Sec. 2.2 and 3.2).

The PSNR-oriented half of the SRGAN paper: ``G* = arg min_G E ||G(I_LR) - I_HR||`` with the per-pixel MSE of the
paper (its "SRResNet-MSE") or the L1 loss BasicSR trains its ``MSRResNet`` with (``train_MSRResNet_x4.yml``:
L1 x 1.0, Adam 2e-4 (0.9, 0.99), cosine restarts over 1M iterations, EMA 0.999). Any SR generator fits:
``lit_translate.nets.MSRResNet`` (BasicSR), ``SRResNet`` (the paper's net, batch norm, PReLU) or ``RRDBNet``
(ESRGAN's PSNR-oriented pre-training). Its checkpoint is the pre-training of :class:`~lit_translate.methods.SRGAN`.

The class is ``SRResNetMethod`` because ``lit_translate.nets.SRResNet`` is the paper's network: a config reads
``model: lit_translate.methods.SRResNetMethod`` with ``generator: lit_translate.nets.MSRResNet``, and the two
names cannot be confused in ``class_path`` lines or imports.
"""

from __future__ import annotations

from typing import Any, Literal

from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.methods.base import InferenceMode, NonFinitePolicy
from lit_translate.methods.parts.optimizers import basicsr_adam
from lit_translate.methods.parts.pretraining import PretrainedWeights
from lit_translate.methods.sr_base import PIXEL_LOSSES, SuperResolutionModule, pixel_loss


class SRResNetMethod(SuperResolutionModule):
    """One SR generator trained with ``lambda_pixel * pixel_loss(G(LR), HR)`` (one optimizer, prefix ``g``).

    Args:
        generator: LR ``(N, C, h, w)`` -> HR ``(N, C, s h, s w)`` in [-1, 1], with a ``scale`` attribute.
        optimizer: Optimizer factory. Default: None = Adam(lr 2e-4, betas (0.9, 0.99)) (BasicSR).
        lr_scheduler: Scheduler factory, e.g. ``lit_translate.schedulers.CosineAnnealingRestartLR``. Default: None
            (constant learning rate).
        scheduler_interval: ``"step"`` (per iteration, BasicSR) or ``"epoch"``. Default: ``"step"``.
        pixel_loss: ``"l1"`` (BasicSR) or ``"mse"`` (the paper's SRResNet-MSE). Default: ``"l1"``.
        lambda_pixel: Weight of the pixel loss. Default: 1.0.
        ema_decay: Generator EMA decay (validation, grids, predict and export use the average); None or 0 = off.
            Default: 0.999 (BasicSR).
        ema_warmup: Ramp the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates, so that
            short runs (demos) validate weights that follow the training. Default: False (BasicSR).
        pretrained: A checkpoint to start a fresh fit from (see ``methods/parts/pretraining.py``). Default: None.
        pretrained_weights: ``"live"`` or ``"ema"`` weights of it. Default: ``"live"``.
        bicubic_baseline: Also score the bicubic upsampling (``val/psnr_bicubic``, ...). Default: True.
        inference_mode: ``"eval"`` or ``"train"``. Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"``. Default: ``"stop"``.
        max_skipped_steps: With ``"skip"``, stop after this many skipped steps in a row. Default: 20.
    """

    def __init__(
        self,
        generator: nn.Module,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        pixel_loss: Literal["l1", "mse"] = "l1",
        lambda_pixel: float = 1.0,
        ema_decay: float | None = 0.999,
        ema_warmup: bool = False,
        pretrained: str | None = None,
        pretrained_weights: PretrainedWeights = "live",
        bicubic_baseline: bool = True,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(
            generator=generator,
            ema_decay=ema_decay,
            pretrained=pretrained,
            pretrained_weights=pretrained_weights,
            bicubic_baseline=bicubic_baseline,
            inference_mode=inference_mode,
            on_nonfinite=on_nonfinite,
            max_skipped_steps=max_skipped_steps,
            ema_warmup=ema_warmup,
        )
        self.save_config_hyperparameters()
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.scheduler_interval = check_choice("scheduler_interval", scheduler_interval, ("step", "epoch"))
        self.pixel_loss = check_choice("pixel_loss", pixel_loss, PIXEL_LOSSES)
        self.lambda_pixel = lambda_pixel

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        sr = self.generator(batch["A"])  # (N, C, s h, s w), unclamped as in BasicSR
        losses = {"pixel": self.lambda_pixel * pixel_loss(self.pixel_loss, sr, batch["B"])}
        self.optimize(self.optimizers(), losses, prefix="g")  # then the EMA update (average_weights)

    @override
    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.optimizer or basicsr_adam(2e-4), self.generator.parameters())
        return [optimizer], self.build_schedulers(self.lr_scheduler, [optimizer], interval=self.scheduler_interval)


__all__ = ["SRResNetMethod"]
