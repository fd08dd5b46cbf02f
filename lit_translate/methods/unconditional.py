"""Unconditional GANs: noise -> image, each objective in its paper's setting (DCGAN, LSGAN, EBGAN, BEGAN, SNGAN, SAGAN).

G maps a code ``z ~ N(0, I)`` (``latent_dim`` = the generator's ``latent_dim``) to an image; D tells real images from
generated ones. One iteration is one D step (``global_step`` counts them); G steps at iteration ``t`` (0-based) when
``(t + 1) % n_critic == 0`` (SNGAN's ``n_dis``, WGAN-GP's ``n_critic``), so the phase is derived from ``global_step``
and survives a resume, as StarGAN's. Objectives: ``vanilla`` (DCGAN, Radford et al. 2016), ``lsgan`` (Mao et al.
2017), ``wgangp`` (Gulrajani et al. 2017, with the gradient penalty), ``hinge`` (SNGAN, Miyato et al. 2018; SAGAN,
Zhang et al. 2019) through :class:`~lit_translate.losses.GANLoss`, and ``ebgan`` (Zhao et al. 2017) / ``began``
(Berthelot et al. 2017) through :class:`~lit_translate.losses.energy.EnergyObjective` with an auto-encoder D. TTUR
(Heusel et al. 2017) is two optimizer factories (SAGAN: G 1e-4, D 4e-4).

Batches are the real images of the distribution as ``batch["A"]`` (``data.ImageFolderDataModule``): the
generator never sees their pixels; they give the batch size, the image size and the device of the samples, and
they are what D and FID/KID compare the samples with. Codes: training draws them from ``self.rng`` (per-rank,
checkpointed); inference follows the latent contract (``docs/architecture.md``): ``translate(x, target, z)`` with
``z`` None (seed 0), an int seed, or codes ``(N, latent_dim)`` / ``(latent_dim,)``. The sample grid uses the codes of
seed ``sample_seed`` (the same every epoch), validation batch ``i`` those of seed ``sample_seed + 1 + i * world_size +
rank`` (deterministic, different for every batch).
"""

from __future__ import annotations

from typing import Any, cast

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.errors import InputError
from lit_translate.losses import GANLoss, GanMode, gradient_penalty
from lit_translate.losses.energy import (
    AnyGanMode,
    EnergyMode,
    EnergyObjective,
    began_reconstruction_loss,
    ebgan_energy,
)
from lit_translate.methods.base import (
    InferenceMode,
    NonFinitePolicy,
    Pairs,
    Target,
    TranslationModule,
)
from lit_translate.nets.gan import AutoEncoderDiscriminator

Latent = Tensor | int | None
"""What ``translate``'s ``z`` may be (the latent contract; a style image needs an encoder, which this method lacks)."""


class UnconditionalGAN(TranslationModule):
    """Noise -> image GAN on batches ``{"A": real images (N, C, S, S), "A_path"}``.

    Args:
        generator: ``z (N, latent_dim) -> (N, C, S, S)``, with a ``latent_dim`` attribute (``DCGANGenerator``,
            ``SNGANGenerator``, ``SAGANGenerator``, ``BEGANGenerator``). Outputs are clamped to [-1, 1] at inference
            (BEGAN's generator is not squashed); training and D see the raw output.
        discriminator: images -> logits (any shape), or an ``AutoEncoderDiscriminator`` for ``ebgan`` / ``began``.
        optimizer_g: G's optimizer factory. Default: None = Adam(2e-4, (0.5, 0.999)) (DCGAN).
        optimizer_d: D's optimizer factory (TTUR: another learning rate). Default: None = the same Adam.
        lr_scheduler: per-iteration scheduler factory for both optimizers (e.g. ``StepwiseLinearDecayLR``). Default:
            None.
        gan_mode: ``"vanilla"``, ``"lsgan"``, ``"wgangp"``, ``"hinge"``, ``"ebgan"`` or ``"began"``. Default:
            ``"vanilla"``.
        lambda_gp: gradient penalty weight (``wgangp`` only). Default: 10.0.
        n_critic: D steps per G step. Default: 1.
        sample_seed: seed of the sample grid's fixed codes (validation batches use the following seeds). Default: 0.
        ebgan_margin: EBGAN's margin ``m``. Default: 20.0.
        ebgan_lambda_pt: EBGAN's pulling-away weight. Default: 0.1.
        began_gamma: BEGAN's diversity ratio. Default: 0.5.
        began_lambda_k: BEGAN's gain of the ``k_t`` update. Default: 0.001.
        inference_mode: ``"eval"`` or ``"train"`` (batch statistics). Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"`` (see ``TranslationModule``). Default: ``"stop"``.
        max_skipped_steps: with ``"skip"``, stop after this many skipped steps in a row. Default: 20.

    Raises:
        InputError: the generator has no ``latent_dim``, ``n_critic`` < 1, or an energy ``gan_mode`` without an
            auto-encoder discriminator.
    """

    paired = False
    image_input = False
    directions = ("sample",)

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: AnyGanMode = "vanilla",
        lambda_gp: float = 10.0,
        n_critic: int = 1,
        sample_seed: int = 0,
        ebgan_margin: float = 20.0,
        ebgan_lambda_pt: float = 0.1,
        began_gamma: float = 0.5,
        began_lambda_k: float = 0.001,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        if not isinstance(getattr(generator, "latent_dim", None), int):
            raise InputError(
                f"model.init_args.generator ({type(generator).__name__}) has no integer latent_dim: UnconditionalGAN "
                "needs a noise -> image generator, e.g. lit_translate.nets.gan.DCGANGenerator"
            )
        if n_critic < 1:
            raise InputError(f"model.init_args.n_critic must be >= 1, got {n_critic}")
        energy = gan_mode in ("ebgan", "began")
        if energy and not isinstance(discriminator, AutoEncoderDiscriminator):
            raise InputError(
                f"model.init_args.gan_mode={gan_mode!r} needs an auto-encoder discriminator; got "
                f"{type(discriminator).__name__}: set model.init_args.discriminator.class_path to "
                "lit_translate.nets.gan.BEGANDiscriminator or EBGANDiscriminator"
            )
        self.generator, self.discriminator = generator, discriminator
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.gan_mode, self.lambda_gp, self.n_critic, self.sample_seed = gan_mode, lambda_gp, n_critic, sample_seed
        self.gan_loss = None if energy else GANLoss(cast(GanMode, gan_mode))
        self.energy = (
            EnergyObjective(cast(EnergyMode, gan_mode), ebgan_margin, ebgan_lambda_pt, began_gamma, began_lambda_k)
            if energy
            else None
        )  # a submodule: BEGAN's k_t is in state_dict and checkpoints
        self._evaluation_seed = sample_seed

    # ------------------------------------------------------------------------------------------------ latents
    @property
    def latent_dim(self) -> int:
        """Return the length of the generator's code ``z``."""
        return int(self.generator.latent_dim)

    @override
    def generate(self, net: nn.Module, x: Tensor | None, target: Target, z: Tensor | None = None) -> Tensor:
        """Generate from the codes ``z`` ``(N, latent_dim)`` that the base resolved (``x``'s pixels are not used)."""
        return net(z).clamp(-1.0, 1.0)

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def forward(self, z: Tensor) -> Tensor:
        return self.generator(z)

    # ----------------------------------------------------------------------------------------------- training
    @property
    @override
    def update_cycle(self) -> int:
        return self.n_critic

    def generator_steps_at(self, iteration: int) -> bool:
        """Return whether G steps at ``iteration`` (0-based D steps): ``(iteration + 1) % n_critic == 0``."""
        return (iteration + 1) % self.n_critic == 0

    def draw_latent(self, count: int, like: Tensor) -> Tensor:
        """Draw training codes ``(count, latent_dim)`` from the per-rank, checkpointed ``self.rng``."""
        return torch.randn(count, self.latent_dim, generator=self.rng).to(like.device, like.dtype)

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real = batch["A"]
        g_steps = self.generator_steps_at(self.global_step)  # before D's step counts this batch
        opt_g, opt_d = self.optimizers()
        with torch.set_grad_enabled(g_steps):  # one G forward, reused by both updates (DCGAN's order)
            fake = self.generator(self.draw_latent(real.shape[0], real))
        if fake.shape != real.shape:
            raise InputError(
                f"the generator makes {tuple(fake.shape[1:])} images but the data are {tuple(real.shape[1:])}: set "
                "the generator's image_size (and out_channels) to data.image_size (and data.input_channels)"
            )
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(real, fake.detach()), prefix="d")
        if g_steps:
            with self.toggled_optimizer(opt_g):
                self.optimize(opt_g, self.generator_losses(fake), prefix="g")

    def discriminator_losses(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """D's terms ``real``, ``fake`` (summed, as DCGAN's ``errD_real + errD_fake``) and ``gp`` (wgangp).

        EBGAN / BEGAN: the energy objective's terms; BEGAN updates ``k_t`` here and logs ``train/d_k`` and
        ``train/d_convergence`` (``M_global``).
        """
        if self.energy is not None:
            losses, logged = self.energy.discriminator_losses(self.discriminator, real, fake)
            self.log_dict({f"train/d_{name}": value for name, value in logged.items()}, on_step=True, on_epoch=False)
            return losses
        assert self.gan_loss is not None
        losses = {
            "real": self.gan_loss(self.discriminator(real), target_is_real=True),
            "fake": self.gan_loss(self.discriminator(fake), target_is_real=False),
        }
        if self.gan_mode == "wgangp":
            losses["gp"] = self.lambda_gp * gradient_penalty(self.discriminator, real, fake, generator=self.rng)
        return losses

    def generator_losses(self, fake: Tensor) -> dict[str, Tensor]:
        """G's terms: ``gan`` (fool D; the energy of the samples for EBGAN / BEGAN) and EBGAN's ``pt``."""
        if self.energy is not None:
            return self.energy.generator_losses(self.discriminator, fake)
        assert self.gan_loss is not None
        return {"gan": self.gan_loss(self.discriminator(fake), target_is_real=True, for_discriminator=False)}

    @override
    def configure_optimizers(self) -> Any:
        opt_g = self.build_optimizer(self.optimizer_g, self.generator.parameters())
        opt_d = self.build_optimizer(self.optimizer_d, self.discriminator.parameters())
        schedulers = self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], interval="step", names=("G", "D"))
        return [opt_g, opt_d], schedulers

    # --------------------------------------------------------------------------------------------- evaluation
    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return samples of the fixed codes (seed ``sample_seed``: the same every epoch) beside real images."""
        return {"sample": self.translate(batch["A"], z=self.sample_seed), "real": batch["A"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        """Return ``{"": (N samples, the batch's N real images)}``: codes seeded by the batch index (deterministic)."""
        return {"": (self.translate(batch["A"], z=self._evaluation_seed), batch["A"])}

    def _seed_evaluation(self, batch_idx: int) -> None:
        world, rank = (self.trainer.world_size, self.global_rank) if self._trainer is not None else (1, 0)
        self._evaluation_seed = self.sample_seed + 1 + batch_idx * world + rank

    @override
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        self._seed_evaluation(batch_idx)
        return super().validation_step(batch, batch_idx)

    @override
    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        self._seed_evaluation(batch_idx)
        return super().test_step(batch, batch_idx)

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        """Return D's view of the batch: ``d_real`` / ``d_fake`` (GAN losses, or energies), BEGAN's ``convergence``."""
        fake, real = pairs[""]
        assert real is not None
        real, fake = real.to(fake.dtype), fake
        if self.energy is None:
            assert self.gan_loss is not None
            return {
                "d_real": self.gan_loss(self.discriminator(real), target_is_real=True),
                "d_fake": self.gan_loss(self.discriminator(fake), target_is_real=False),
            }
        if self.energy.balance is None:
            return {
                "d_real": ebgan_energy(real, self.discriminator(real)).mean(),
                "d_fake": ebgan_energy(fake, self.discriminator(fake)).mean(),
            }
        loss_real = began_reconstruction_loss(real, self.discriminator(real))
        loss_fake = began_reconstruction_loss(fake, self.discriminator(fake))
        convergence = loss_real + (self.energy.balance.gamma * loss_real - loss_fake).abs()
        return {"d_real": loss_real, "d_fake": loss_fake, "convergence": convergence}

    @override
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """One sample per predict item, seeded by its position (G ignores the pixels: one seed for all would repeat)."""
        targets = self.predict_targets or self.default_predict_targets
        count = batch["A"].shape[0]
        images = {
            t: [self.translate(batch["A"][i : i + 1], t, z=batch_idx * count + i)[0] for i in range(count)]
            for t in targets
        }
        return {"images": images, "paths": batch["A_path"]}
