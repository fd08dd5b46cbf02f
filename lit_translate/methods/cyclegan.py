"""CycleGAN: unpaired image-to-image translation with cycle-consistent adversarial networks (Zhu et al., ICCV 2017).

Full objective (paper eq. 3): L(G, F, D_X, D_Y) = L_GAN(G, D_Y, X, Y) + L_GAN(F, D_X, Y, X) + lambda * L_cyc(G, F),
with the adversarial terms of eq. 1 (least squares, Sec. 4), the cycle-consistency L1 of eq. 2, and the identity
term of Sec. 5.2 (Taigman et al. 2017) that keeps colours when an image already is in the target domain.
Faithful to junyanz/pytorch-CycleGAN-and-pix2pix ``models/cycle_gan_model.py``.

Names. Here networks are named by what they map or judge: ``gen_ab`` = G (A -> B), ``gen_ba`` = F (B -> A),
``disc_a`` = D_X judges domain A (real_a vs fake_a), ``disc_b`` = D_Y judges domain B (real_b vs fake_b).
The reference's ``netG_A`` / ``netG_B`` are ``gen_ab`` / ``gen_ba``, but its ``netD_A`` judges *B* (it is
``disc_b`` here) and its ``netD_B`` judges A (``disc_a``). Likewise its ``idt_A = netG_A(real_B)`` is our
``idt_b`` (it reconstructs B) and its ``loss_G_A`` is our ``gan_ab``.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.losses import GANLoss, GanMode
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Target, TranslationModule
from lit_translate.methods.parts.image_pool import ImagePool


class CycleGAN(TranslationModule):
    """CycleGAN: two generators and two discriminators trained on unpaired batches ``{"A", "B"}``.

    One iteration (the reference's ``optimize_parameters``): run both cycles ``A -> B -> A`` and ``B -> A -> B``,
    update both generators with both discriminators frozen, then update both discriminators on real images and
    on generated ones drawn from a history of 50 (one :class:`ImagePool` per discriminator).

    Args:
        gen_ab: G, maps domain A ``(N, C_a, H, W)`` to domain B ``(N, C_b, H, W)``, in [-1, 1].
        gen_ba: F, maps domain B to domain A.
        disc_a: D_X, scores images of domain A (``C_a`` channels) as a logit map.
        disc_b: D_Y, scores images of domain B (``C_b`` channels).
        optimizer_g: optimizer factory for both generators together. Default: None = Adam(2e-4, (0.5, 0.999)).
        optimizer_d: optimizer factory for both discriminators together. Default: None = the same Adam.
        lr_scheduler: per-epoch scheduler factory for both optimizers, e.g.
            ``lit_translate.schedulers.LinearDecayLR``. Default: None (constant learning rate).
        gan_mode: ``"lsgan"`` (paper), ``"vanilla"``, ``"hinge"`` or ``"wgangp"`` (the critic loss only, with no
            gradient penalty, as in the reference). Default: ``"lsgan"``.
        lambda_a: weight of the A -> B -> A cycle L1. Default: 10.0.
        lambda_b: weight of the B -> A -> B cycle L1. Default: 10.0.
        lambda_identity: identity weight relative to the cycle weights: the identity L1 of domain A is weighted
            ``lambda_identity * lambda_a`` (0.5 * 10 = 5, as in the reference). 0 disables it. Needs
            ``C_a == C_b``. Default: 0.5.
        pool_size: generated images stored per discriminator; 0 disables the pools. Default: 50.
        inference_mode: ``"eval"`` or ``"train"`` (see ``TranslationModule``). Default: ``"eval"``.
        on_nonfinite: ``"stop"`` (raise, naming the step and loss terms, before any weight changes) or
            ``"skip"`` (drop optimizer steps whose loss or gradients are not finite). Default: ``"stop"``.
        max_skipped_steps: with ``"skip"``, stop after this many skipped steps in a row. Default: 20.
    """

    paired = False
    directions = ("AtoB", "BtoA")

    def __init__(
        self,
        gen_ab: nn.Module,
        gen_ba: nn.Module,
        disc_a: nn.Module,
        disc_b: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: GanMode = "lsgan",
        lambda_a: float = 10.0,
        lambda_b: float = 10.0,
        lambda_identity: float = 0.5,
        pool_size: int = 50,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        self.gen_ab, self.gen_ba = gen_ab, gen_ba
        self.disc_a, self.disc_b = disc_a, disc_b
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_a, self.lambda_b, self.lambda_identity = lambda_a, lambda_b, lambda_identity
        # History of generated A images (for disc_a) and B images (for disc_b). Plain attributes, not buffers
        # (their size varies): on_save_checkpoint stores them as tensors.
        self.pool_a, self.pool_b = ImagePool(pool_size), ImagePool(pool_size)

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return {"AtoB": self.gen_ab, "BtoA": self.gen_ba}[target]

    @override
    def forward(self, real_a: Tensor) -> Tensor:
        return self.gen_ab(real_a)

    # ------------------------------------------------------------------------------------------------ training
    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]
        opt_g, opt_d = self.optimizers()
        # G step first: the other optimizer's parameters (both Ds) are frozen while G's loss flows through them.
        with self.toggled_optimizer(opt_g):
            images = self.cycle(real_a, real_b)
            self.optimize(opt_g, self.generator_losses(real_a, real_b, images), prefix="g")
        # D step on fakes from the history pools (Shrivastava et al. 2017); per-rank coin flips via self.rng.
        with self.toggled_optimizer(opt_d):
            fake_a = self.pool_a.query(images["fake_a"], generator=self.rng)
            fake_b = self.pool_b.query(images["fake_b"], generator=self.rng)
            self.optimize(opt_d, self.discriminator_losses(real_a, real_b, fake_a, fake_b), prefix="d")

    def cycle(self, real_a: Tensor, real_b: Tensor) -> dict[str, Tensor]:
        """Run both translation cycles of eq. 2: ``A -> B -> A`` (G then F) and ``B -> A -> B`` (F then G).

        Returns:
            ``{"fake_b": G(a), "rec_a": F(G(a)), "fake_a": F(b), "rec_b": G(F(b))}``.
        """
        fake_b = self.gen_ab(real_a)
        rec_a = self.gen_ba(fake_b)
        fake_a = self.gen_ba(real_b)
        rec_b = self.gen_ab(fake_a)
        return {"fake_b": fake_b, "rec_a": rec_a, "fake_a": fake_a, "rec_b": rec_b}

    def generator_losses(self, real_a: Tensor, real_b: Tensor, images: dict[str, Tensor]) -> dict[str, Tensor]:
        """Weighted G terms: adversarial (eq. 1), cycle consistency (eq. 2) and identity (Sec. 5.2).

        Args:
            real_a: images of domain A.
            real_b: images of domain B.
            images: the output of :meth:`cycle` on ``(real_a, real_b)``.

        Returns:
            ``gan_ab``, ``gan_ba``, ``cycle_a``, ``cycle_b`` and, unless ``lambda_identity`` is 0, ``idt_a``,
            ``idt_b``.
        """
        if self.lambda_identity and real_a.shape[1] != real_b.shape[1]:
            raise ValueError(
                f"the identity loss feeds B images to gen_ab and A images to gen_ba, so domains A and B need the "
                f"same channels (got {real_a.shape[1]} and {real_b.shape[1]}); set lambda_identity: 0"
            )
        losses = {
            # eq. 1: G tries to make D_Y score G(a) as real, F tries to make D_X score F(b) as real.
            "gan_ab": self.gan_loss(self.disc_b(images["fake_b"]), target_is_real=True, for_discriminator=False),
            "gan_ba": self.gan_loss(self.disc_a(images["fake_a"]), target_is_real=True, for_discriminator=False),
            # eq. 2: ||F(G(a)) - a||_1 and ||G(F(b)) - b||_1.
            "cycle_a": self.lambda_a * F.l1_loss(images["rec_a"], real_a),
            "cycle_b": self.lambda_b * F.l1_loss(images["rec_b"], real_b),
        }
        if self.lambda_identity:
            # Sec. 5.2: a generator fed an image of its own target domain should return it unchanged.
            # Weighted lambda_identity * lambda (0.5 * 10 = 5) as in the reference, not lambda_identity alone.
            losses["idt_a"] = self.lambda_identity * self.lambda_a * F.l1_loss(self.gen_ba(real_a), real_a)
            losses["idt_b"] = self.lambda_identity * self.lambda_b * F.l1_loss(self.gen_ab(real_b), real_b)
        return losses

    def discriminator_losses(self, real_a: Tensor, real_b: Tensor, fake_a: Tensor, fake_b: Tensor) -> dict[str, Tensor]:
        """D terms of eq. 1, each halved so that every D's loss is ``0.5 * (real + fake)`` as in the reference.

        Args:
            real_a: images of domain A, scored by D_X (``disc_a``) as real.
            real_b: images of domain B, scored by D_Y (``disc_b``) as real.
            fake_a: generated A images (from the pool, detached), scored by D_X as fake.
            fake_b: generated B images (from the pool, detached), scored by D_Y as fake.

        Returns:
            ``a_real``, ``a_fake`` (D_X) and ``b_real``, ``b_fake`` (D_Y).
        """
        return {
            "a_real": 0.5 * self.gan_loss(self.disc_a(real_a), target_is_real=True),
            "a_fake": 0.5 * self.gan_loss(self.disc_a(fake_a.detach()), target_is_real=False),
            "b_real": 0.5 * self.gan_loss(self.disc_b(real_b), target_is_real=True),
            "b_fake": 0.5 * self.gan_loss(self.disc_b(fake_b.detach()), target_is_real=False),
        }

    @override
    def configure_optimizers(self) -> Any:
        # One optimizer for G and F together and one for D_X and D_Y together, as in the reference.
        generators = itertools.chain(self.gen_ab.parameters(), self.gen_ba.parameters())
        discriminators = itertools.chain(self.disc_a.parameters(), self.disc_b.parameters())
        opt_g = self.build_optimizer(self.optimizer_g, generators)
        opt_d = self.build_optimizer(self.optimizer_d, discriminators)
        return [opt_g, opt_d], self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], names=("G", "D"))

    # ---------------------------------------------------------------------------------------------- checkpoint
    @override
    def rank_state(self) -> dict[str, Any]:
        # Each rank fills its own pools from its own shard: saved per rank, as stacked tensors.
        return {**super().rank_state(), "pool_a": self.pool_a.state_dict(), "pool_b": self.pool_b.state_dict()}

    @override
    def load_rank_state(self, state: dict[str, Any]) -> None:
        super().load_rank_state(state)
        self.pool_a.load_state_dict(state["pool_a"], device=self.device)
        self.pool_b.load_state_dict(state["pool_b"], device=self.device)

    # -------------------------------------------------------------------------------------- evaluation hooks
    def _translate_both(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Both cycles under the inference mode: ``fake_b``, ``rec_a``, ``fake_a``, ``rec_b``."""
        fake_b, fake_a = self.translate(batch["A"], "AtoB"), self.translate(batch["B"], "BtoA")
        return {
            "fake_b": fake_b,
            "rec_a": self.translate(fake_b, "BtoA"),
            "fake_a": fake_a,
            "rec_b": self.translate(fake_a, "AtoB"),
        }

    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        out = self._translate_both(batch)
        return {
            "real_A": batch["A"],
            "fake_B": out["fake_b"],
            "rec_A": out["rec_a"],
            "real_B": batch["B"],
            "fake_A": out["fake_a"],
            "rec_B": out["rec_b"],
        }

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> dict[str, tuple[Tensor, Tensor]]:
        # Unpaired: the "target" is an image of the target domain (for FID-style metrics), not an aligned one.
        return {
            "ab": (self.translate(batch["A"], "AtoB"), batch["B"]),
            "ba": (self.translate(batch["B"], "BtoA"), batch["A"]),
        }

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: dict[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
        fake_b, fake_a = pairs["ab"][0], pairs["ba"][0]
        rec_a, rec_b = self.translate(fake_b, "BtoA"), self.translate(fake_a, "AtoB")
        return {
            "cycle_a": F.l1_loss(rec_a.float(), batch["A"].float()),
            "cycle_b": F.l1_loss(rec_b.float(), batch["B"].float()),
        }
