"""Pix2Pix: image-to-image translation with conditional adversarial networks (Isola et al., CVPR 2017).

Objective (paper eq. 4): G* = arg min_G max_D L_cGAN(G, D) + lambda * L_L1(G), where D sees the input image
concatenated with a real or generated output. The generator has no explicit noise z; dropout (kept on at test
time in the paper) is the only source of stochasticity.
"""

from __future__ import annotations

from typing import Any, cast

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.errors import InputError
from lit_translate.losses import GANLoss, GanMode, gradient_penalty
from lit_translate.losses.energy import AnyGanMode, EnergyMode, EnergyObjective
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Target, TranslationModule
from lit_translate.nets.gan import AutoEncoderDiscriminator


class Pix2Pix(TranslationModule):
    """Pix2Pix: conditional GAN + lambda_l1 * L1 on paired data (batch["A"] -> batch["B"]).

    One iteration: generate ``fake_b = G(real_a)`` once, update D on ``fake_b.detach()``, then update G
    (the order of the reference implementation's ``optimize_parameters``).

    Args:
        generator: maps A ``(N, C_a, H, W)`` to B ``(N, C_b, H, W)``, both in [-1, 1] (e.g. a U-Net).
        discriminator: scores ``concat(A, B)`` (``C_a + C_b`` channels) as a logit map (e.g. a 70x70 PatchGAN).
        optimizer_g: optimizer factory for G. Default: None = Adam(lr 2e-4, betas (0.5, 0.999)).
        optimizer_d: optimizer factory for D. Default: None = the same Adam.
        lr_scheduler: per-epoch scheduler factory applied to both optimizers, e.g.
            ``lit_translate.schedulers.LinearDecayLR``. Default: None (constant learning rate).
        gan_mode: ``"vanilla"``, ``"lsgan"``, ``"wgangp"`` or ``"hinge"``; or an energy objective, ``"ebgan"`` or
            ``"began"`` (``lit_translate.losses.energy.EnergyObjective``), with an auto-encoder discriminator
            (``lit_translate.nets.gan.BEGANDiscriminator`` / ``EBGANDiscriminator`` with ``in_channels`` C_a + C_b):
            D's terms are then the paper's (no 0.5 factor), BEGAN's ``k`` is in the checkpoint and logged as
            ``train/d_k`` with ``train/d_convergence``. Default: ``"vanilla"``.
        lambda_l1: weight of the L1 term. Default: 100.0 (paper).
        lambda_gp: weight of the gradient penalty, used with ``gan_mode="wgangp"`` only. Default: 10.0.
        inference_mode: ``"train"`` (dropout and batch statistics on, as in the paper) or ``"eval"``.
            Default: ``"train"``.
        on_nonfinite: ``"stop"`` (raise, naming the step and loss terms, before any weight changes) or
            ``"skip"`` (drop optimizer steps whose loss or gradients are not finite). Default: ``"stop"``.
        max_skipped_steps: with ``"skip"``, stop after this many skipped steps in a row. Default: 20.
        ebgan_margin: EBGAN's margin ``m`` (``gan_mode="ebgan"`` only). Default: 20.0.
        began_gamma: BEGAN's diversity ratio ``gamma`` (``gan_mode="began"`` only). Default: 0.5.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: AnyGanMode = "vanilla",
        lambda_l1: float = 100.0,
        lambda_gp: float = 10.0,
        inference_mode: InferenceMode = "train",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
        ebgan_margin: float = 20.0,
        began_gamma: float = 0.5,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        self.generator = generator
        self.discriminator = discriminator
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        energy = gan_mode in ("ebgan", "began")
        if energy and not isinstance(discriminator, AutoEncoderDiscriminator):
            raise InputError(
                f"model.init_args.gan_mode={gan_mode!r} needs an auto-encoder discriminator; got "
                f"{type(discriminator).__name__}: set model.init_args.discriminator.class_path to "
                "lit_translate.nets.gan.BEGANDiscriminator or EBGANDiscriminator (in_channels C_a + C_b)"
            )
        self.gan_loss = None if energy else GANLoss(cast(GanMode, gan_mode))
        self.energy = EnergyObjective(cast(EnergyMode, gan_mode), ebgan_margin, gamma=began_gamma) if energy else None
        self.gan_mode = gan_mode
        self.lambda_l1 = lambda_l1
        self.lambda_gp = lambda_gp

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def forward(self, real_a: Tensor) -> Tensor:
        return self.generator(real_a)

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]
        opt_g, opt_d = self.optimizers()
        fake_b = self.generator(real_a)  # one generator forward per iteration, reused by both updates
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(real_a, real_b, fake_b.detach()), prefix="d")
        with self.toggled_optimizer(opt_g):
            self.optimize(opt_g, self.generator_losses(real_a, real_b, fake_b), prefix="g")

    def discriminator_losses(self, real_a: Tensor, real_b: Tensor, fake_b: Tensor) -> dict[str, Tensor]:
        """D terms: real pairs scored real, generated pairs scored fake; 0.5 * (real + fake) as in the paper."""
        real_ab = torch.cat([real_a, real_b], dim=1)
        fake_ab = torch.cat([real_a, fake_b], dim=1)
        if self.energy is not None:
            losses, logged = self.energy.discriminator_losses(self.discriminator, real_ab, fake_ab)
            self.log_dict({f"train/d_{name}": value for name, value in logged.items()}, on_step=True, on_epoch=False)
            return losses
        losses = {
            "real": 0.5 * self.gan_loss(self.discriminator(real_ab), target_is_real=True),
            "fake": 0.5 * self.gan_loss(self.discriminator(fake_ab), target_is_real=False),
        }
        if self.gan_mode == "wgangp":
            penalty = gradient_penalty(self.discriminator, real_ab, fake_ab, generator=self.rng)
            losses["gp"] = self.lambda_gp * penalty
        return losses

    def generator_losses(self, real_a: Tensor, real_b: Tensor, fake_b: Tensor) -> dict[str, Tensor]:
        """G terms: fool D on the generated pair, and stay close to the target in L1 (paper eq. 3)."""
        fake_ab = torch.cat([real_a, fake_b], dim=1)
        if self.energy is not None:
            losses = self.energy.generator_losses(self.discriminator, fake_ab)
        else:
            losses = {"gan": self.gan_loss(self.discriminator(fake_ab), target_is_real=True, for_discriminator=False)}
        if self.lambda_l1:
            losses["l1"] = self.lambda_l1 * F.l1_loss(fake_b, real_b)
        return losses

    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"input": batch["A"], "output": self.translate(batch["A"]), "target": batch["B"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> dict[str, tuple[Tensor, Tensor]]:
        return {"": (self.translate(batch["A"]), batch["B"])}

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: dict[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        fake_b, real_b = pairs[""]
        real_a = batch["A"].float()
        losses = {"l1": F.l1_loss(fake_b.float(), real_b.float())}
        if real_a.shape == real_b.shape:  # the do-nothing baseline: how far the input itself is from the target
            losses["l1_input"] = F.l1_loss(real_a, real_b.float())
        return losses

    @override
    def configure_optimizers(self) -> Any:
        opt_g = self.build_optimizer(self.optimizer_g, self.generator.parameters())
        opt_d = self.build_optimizer(self.optimizer_d, self.discriminator.parameters())
        return [opt_g, opt_d], self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], names=("G", "D"))
