"""SRGAN: an SR generator fine-tuned with a VGG feature loss and an adversarial loss (Ledig et al., CVPR 2017).

Perceptual loss of the paper (eq. 3): ``l_SR = l_content + 1e-3 * l_Gen``, the content loss ``l_VGG/5.4``: the MSE
between VGG-19 features of ``G(I_LR)`` and ``I_HR`` at the 4th convolution of block 5 (after its activation), with
the features rescaled by 1/12.75; ``l_Gen = -log D(G(I_LR))`` (eq. 6). BasicSR's ``MSRGAN`` (``SRGANModel``,
``train_MSRGAN_x4.yml``), the default here: pixel L1 x 1e-2 + VGG-19 ``conv5_4`` **before** ReLU (ESRGAN's choice)
L1 x 1.0 + vanilla GAN x 5e-3, G and D Adam 1e-4 (0.9, 0.99), started from the SRResNet run's weights. The
relativistic-average GAN of ESRGAN (Wang et al. 2018, eq. 1-2: D judges whether a real image is more realistic
than the average fake) is ``relativistic: true``. The paper's variant: ``pixel_loss_weight 0``,
``perceptual_layer relu5_4``, ``perceptual_criterion mse``, ``feature_scale 0.0784`` (1/12.75), ``lambda_gan
1e-3``.

One iteration, in BasicSR's order: G is updated first (with D's parameters frozen), then D on the detached
output, reusing the one generator forward. ``d_warmup_iters`` (BasicSR ``net_d_init_iters``) trains only D for the
first iterations; ``d_steps_per_g`` (``net_d_iters``) updates G only every k-th iteration. The VGG-19 loss
network (``VGGFeatures``) is frozen buffers: in no optimizer, not in checkpoints, not broadcast by DDP; it is
built when a fit starts, so testing, predicting and loading checkpoints need no VGG file.
Code (paper) names: ``generator`` (G, theta_G), ``discriminator`` (D, theta_D), ``vgg`` (phi), ``sr`` (G(I_LR)).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.losses import GANLoss, feature_loss
from lit_translate.methods.base import InferenceMode, NonFinitePolicy
from lit_translate.methods.parts.optimizers import basicsr_adam
from lit_translate.methods.parts.pretraining import PretrainedWeights
from lit_translate.methods.sr_base import PIXEL_LOSSES, SuperResolutionModule, pixel_loss
from lit_translate.nets.vgg import VGGFeatures
from lit_translate.pretrained.check import Need, vgg_needs
from lit_translate.pretrained.weights import loss_network

GAN_MODES = ("vanilla", "lsgan", "hinge")


class SRGAN(SuperResolutionModule):
    """SRGAN / BasicSR MSRGAN / ESRGAN-style training of an SR generator against a discriminator.

    Args:
        generator: LR ``(N, C, h, w)`` -> HR ``(N, C, s h, s w)`` in [-1, 1], with a ``scale`` attribute.
        discriminator: HR patch ``(N, C, H, W)`` in [-1, 1] -> logits (e.g. ``VGGStyleDiscriminator``).
        optimizer_g: G optimizer factory. Default: None = Adam(1e-4, (0.9, 0.99)) (BasicSR).
        optimizer_d: D optimizer factory. Default: None = the same Adam.
        lr_scheduler: Scheduler factory for both optimizers, e.g. ``torch.optim.lr_scheduler.MultiStepLR``.
            Default: None (constant).
        scheduler_interval: ``"step"`` (per iteration, BasicSR) or ``"epoch"``. Default: ``"step"``.
        pixel_loss: ``"l1"`` or ``"mse"``. Default: ``"l1"``.
        lambda_pixel: Pixel-loss weight (0 leaves it out, as the paper). Default: 1e-2.
        perceptual_layer: VGG-19 tap: ``"conv5_4"`` (before ReLU, BasicSR/ESRGAN) or ``"relu5_4"`` (the paper's
            VGG54); any ``vgg_layer_names("vgg19")`` name. Default: ``"conv5_4"``.
        perceptual_criterion: ``"l1"`` (BasicSR) or ``"mse"`` (the paper). Default: ``"l1"``.
        lambda_perceptual: Weight of the VGG term. Default: 1.0.
        feature_scale: Features are multiplied by this before the criterion (the paper: 1/12.75). Default: 1.0.
        vgg_weights: Local ``vgg19-dcbb9e9d.pth``; None = the torch.hub cache (then a download); ``"random"`` = a
            calibrated random-weight stand-in, **for CPU demos and tests only** (a loud warning). Default: None.
        gan_mode: ``"vanilla"`` (BCE on logits), ``"lsgan"`` or ``"hinge"``. Default: ``"vanilla"``.
        relativistic: ESRGAN's relativistic-average GAN. Default: False.
        lambda_gan: Weight of G's adversarial term. Default: 5e-3.
        d_warmup_iters: Iterations at the start that update only D (BasicSR ``net_d_init_iters``). Default: 0.
        d_steps_per_g: G is updated every this many iterations, D every iteration (``net_d_iters``). Default: 1.
        ema_decay: Generator EMA decay; None or 0 = off. Default: 0.999.
        ema_warmup: Ramp the EMA decay up as ``min(ema_decay, (1 + n) / (10 + n))`` after ``n`` updates, so that
            short runs (demos) validate weights that follow the training. Default: False (BasicSR).
        pretrained: The SRResNet run's checkpoint (or a BasicSR file) to start a fresh fit from; None = the
            generator's own initialisation. Default: None.
        pretrained_weights: ``"live"`` (BasicSR) or ``"ema"`` weights of it for G; the EMA copy starts from the
            file's EMA weights when it has them. Default: ``"live"``.
        bicubic_baseline: Also score the bicubic upsampling. Default: True.
        inference_mode: ``"eval"`` or ``"train"``. Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"``. Default: ``"stop"``.
        max_skipped_steps: With ``"skip"``, stop after this many skipped steps in a row. Default: 20.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        scheduler_interval: Literal["step", "epoch"] = "step",
        pixel_loss: Literal["l1", "mse"] = "l1",
        lambda_pixel: float = 1e-2,
        perceptual_layer: str = "conv5_4",
        perceptual_criterion: Literal["l1", "mse"] = "l1",
        lambda_perceptual: float = 1.0,
        feature_scale: float = 1.0,
        vgg_weights: str | None = None,
        gan_mode: Literal["vanilla", "lsgan", "hinge"] = "vanilla",
        relativistic: bool = False,
        lambda_gan: float = 5e-3,
        d_warmup_iters: int = 0,
        d_steps_per_g: int = 1,
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
        self.discriminator = discriminator
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.scheduler_interval = check_choice("scheduler_interval", scheduler_interval, ("step", "epoch"))
        self.pixel_loss = check_choice("pixel_loss", pixel_loss, PIXEL_LOSSES)
        self.perceptual_criterion = check_choice("perceptual_criterion", perceptual_criterion, PIXEL_LOSSES)
        self.lambdas = {"pixel": lambda_pixel, "perceptual": lambda_perceptual, "gan": lambda_gan}
        self.feature_scale = feature_scale
        self.perceptual_layer, self.vgg_weights = perceptual_layer, vgg_weights
        self.vgg: VGGFeatures | None = None  # built for fit only (build_loss_network): inference never needs VGG
        self.gan_loss = GANLoss(check_choice("gan_mode", gan_mode, GAN_MODES))
        self.relativistic = relativistic
        if d_warmup_iters < 0 or d_steps_per_g < 1:
            raise ValueError(f"d_warmup_iters ({d_warmup_iters}) must be >= 0 and d_steps_per_g ({d_steps_per_g}) >= 1")
        self.d_warmup_iters, self.d_steps_per_g = d_warmup_iters, d_steps_per_g

    def build_loss_network(self) -> VGGFeatures | None:
        """Create the frozen VGG-19 loss network once (None without a perceptual term), on the module's device.

        Built when a fit starts (``setup``), not in ``__init__``: evaluating, predicting or loading a checkpoint
        needs no VGG weights, and a missing file still stops a fit before its first step.
        """
        if self.vgg is None and self.lambdas["perceptual"]:
            self.vgg = loss_network("vgg19", (self.perceptual_layer,), self.vgg_weights).to(self.device)
        return self.vgg

    @override
    def pretrained_needs(self, stage: str) -> list[Need]:
        """Return the VGG-19 file of the perceptual term, for fit only (none with ``vgg_weights: random``)."""
        needs_vgg = stage == "fit" and self.vgg is None and bool(self.lambdas["perceptual"])
        return vgg_needs("vgg19", self.vgg_weights) if needs_vgg else []

    @override
    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.build_loss_network()  # before the base's setup lists its buffers for DDP to ignore
        super().setup(stage)

    @override
    def discriminator_input_size(self) -> int | None:
        return getattr(self.discriminator, "input_size", None)

    @property
    @override
    def update_cycle(self) -> int:
        return self.d_warmup_iters + self.d_steps_per_g

    def updates_generator(self, iteration: int) -> bool:
        """Whether 0-based ``iteration`` updates G (BasicSR: ``current_iter % net_d_iters == 0 and > init_iters``)."""
        return iteration >= self.d_warmup_iters and (iteration + 1) % self.d_steps_per_g == 0

    # ------------------------------------------------------------------------------------------------ training
    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        lr, hr = batch["A"], batch["B"]
        opt_g, opt_d = self.optimizers()
        sr = self.generator(lr)  # one generator forward per iteration, reused by both updates
        if self.updates_generator(self.global_step):
            with self.toggled_optimizer(opt_g):
                self.optimize(opt_g, self.generator_losses(sr, hr), prefix="g")
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(sr.detach(), hr), prefix="d")

    def generator_losses(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """G terms: pixel, perceptual (VGG feature distance) and adversarial, each already weighted."""
        losses = {}
        if self.lambdas["pixel"]:
            losses["pixel"] = self.lambdas["pixel"] * pixel_loss(self.pixel_loss, sr, hr)
        vgg = self.build_loss_network()
        if vgg is not None:
            fake = vgg(sr)[self.perceptual_layer] * self.feature_scale
            with torch.no_grad():
                real = vgg(hr)[self.perceptual_layer] * self.feature_scale
            losses["perceptual"] = self.lambdas["perceptual"] * feature_loss(fake, real, self.perceptual_criterion)
        if self.lambdas["gan"]:
            losses["gan"] = self.lambdas["gan"] * self.adversarial_g(sr, hr)
        return losses

    def adversarial_g(self, sr: Tensor, hr: Tensor) -> Tensor:
        """G's adversarial loss: ``-log D(G(x))`` (eq. 6), or ESRGAN's relativistic-average form."""
        fake = self.discriminator(sr)
        if not self.relativistic:
            return self.gan_loss(fake, target_is_real=True, for_discriminator=False)
        real = self.discriminator(hr).detach()
        # ESRGAN eq. 2: real images should look less real than the average fake, fakes more real than the average real.
        return 0.5 * (
            self.gan_loss(real - fake.mean(), target_is_real=False)
            + self.gan_loss(fake - real.mean(), target_is_real=True)
        )

    def discriminator_losses(self, sr: Tensor, hr: Tensor) -> dict[str, Tensor]:
        """D terms on real HR patches and detached outputs (BasicSR sums them, without a 1/2)."""
        real, fake = self.discriminator(hr), self.discriminator(sr)
        if not self.relativistic:
            return {"real": self.gan_loss(real, target_is_real=True), "fake": self.gan_loss(fake, target_is_real=False)}
        # ESRGAN eq. 1, as BasicSR's ESRGANModel: each side against the other's detached mean, halved.
        return {
            "real": 0.5 * self.gan_loss(real - fake.detach().mean(), target_is_real=True),
            "fake": 0.5 * self.gan_loss(fake - real.detach().mean(), target_is_real=False),
        }

    @override
    def configure_optimizers(self) -> Any:
        opt_g = self.build_optimizer(self.optimizer_g or basicsr_adam(1e-4), self.generator.parameters())
        opt_d = self.build_optimizer(self.optimizer_d or basicsr_adam(1e-4), self.discriminator.parameters())
        schedulers = self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], interval=self.scheduler_interval)
        return [opt_g, opt_d], schedulers


__all__ = ["GAN_MODES", "SRGAN"]
