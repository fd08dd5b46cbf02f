"""SPADE (GauGAN): semantic image synthesis with spatially-adaptive normalization (Park et al., CVPR 2019).

The iteration of NVlabs/SPADE (``trainers/pix2pix_trainer.py``, ``models/pix2pix_model.py``): the G step
generates ``fake = G(semantic[, z])`` (with the VAE, ``z`` sampled from the encoder's ``(mu, logvar)`` of the real
image) and minimises hinge GAN (multi-scale D, averaged over scales) + ``lambda_feat`` (10) GAN feature matching
(``1 / num_D`` per layer) + ``lambda_vgg`` (10) VGG-19 loss [+ ``lambda_kld`` (0.05) KL]; then the D step
generates again **without gradients, from the updated G** (as the reference) and minimises the hinge loss on
real and (detached) fake pairs, ``D_real + D_fake``. D sees ``concat(semantic, image)``, fake and real stacked in
one batch. Optimizers (TTUR, the reference's default): G (+ encoder) Adam 1e-4, D Adam 4e-4, betas (0, 0.9);
``no_ttur``: both 2e-4, (0.5, 0.999). The reference's linear decay (``niter`` / ``niter_decay``) is
``lit_translate.schedulers.LinearDecayLR`` (``n_epochs`` / ``n_epochs_decay``; it reaches 0 one epoch later).

VGG input: the reference feeds [-1, 1] images to its VGG-19 unnormalised; ``vgg_input: reference`` (default)
does the same, ``imagenet`` normalises them as the VGG was trained.

Latent codes (with an ``encoder``): ``latent_dim`` is its ``z_dim`` (256); ``translate(x, z=...)`` takes a seed,
codes or a style image (``docs/architecture.md``, the latent-code contract); ``encode_latent`` is the encoder's
``mu``. Code names: ``generator`` (G), ``discriminator`` (D), ``encoder`` (E).
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.errors import InputError
from lit_translate.losses import GANLoss, feature_matching_loss, kl_divergence, multiscale_gan_loss
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Target, inference_context
from lit_translate.methods.parts.label_maps import LabelMapModule, VggInput, trained_parameters
from lit_translate.methods.parts.optimizers import adam
from lit_translate.nets.spade import reparameterize


class SPADE(LabelMapModule):
    """SPADE / GauGAN: label map (+ instance edges) -> photo, with an optional VAE style encoder.

    Args:
        generator: ``SPADEGenerator`` (``semantic_nc`` = label_nc [+1 dontcare] [+1 instance edges]; ``use_vae``
            exactly when ``encoder`` is given).
        discriminator: ``MultiscaleDiscriminator`` on ``semantic_nc + 3`` channels.
        encoder: ``ConvEncoder`` for the VAE (``--use_vae``); None: no encoder. Default None.
        optimizer_g: G (+ E) optimizer factory; None: Adam 1e-4 (0, 0.9) (TTUR), or 2e-4 (0.5, 0.999) with
            ``no_ttur``. Default None.
        optimizer_d: D optimizer factory; None: Adam 4e-4 (0, 0.9), or 2e-4 (0.5, 0.999). Default None.
        lr_scheduler: Per-epoch factory for both, e.g. ``LinearDecayLR``. Default None (constant).
        no_ttur: The reference's ``--no_TTUR`` defaults. Default False.
        lambda_feat: GAN feature matching weight (0 leaves it out). Default 10.
        lambda_vgg: VGG loss weight (0 leaves it out, and the VGG unbuilt). Default 10.
        lambda_kld: KL weight with the VAE. Default 0.05.
        labels, dontcare, instance_edges, vgg_weights, vgg_input: See ``LabelMapModule``.
        inference_mode, on_nonfinite, max_skipped_steps: See ``TranslationModule``.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        encoder: nn.Module | None = None,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        no_ttur: bool = False,
        lambda_feat: float = 10.0,
        lambda_vgg: float = 10.0,
        lambda_kld: float = 0.05,
        labels: int | None = None,
        dontcare: bool | None = None,
        instance_edges: bool | None = None,
        vgg_weights: str | None = None,
        vgg_input: VggInput = "reference",
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(
            labels=labels,
            dontcare=dontcare,
            instance_edges=instance_edges,
            vgg_weights=vgg_weights,
            vgg_input=vgg_input,
            lambda_vgg=lambda_vgg,
            inference_mode=inference_mode,
            on_nonfinite=on_nonfinite,
            max_skipped_steps=max_skipped_steps,
        )
        self.save_config_hyperparameters()
        if bool(getattr(generator, "use_vae", encoder is not None)) != (encoder is not None):
            raise InputError(
                "SPADE: the generator's use_vae and the encoder must go together: set generator use_vae true with "
                "--model.init_args.encoder, or neither"
            )
        self.generator, self.discriminator, self.encoder = generator, discriminator, encoder
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.no_ttur = no_ttur
        self.lambda_feat, self.lambda_kld = lambda_feat, lambda_kld
        self.gan_loss = GANLoss("hinge")

    # -------------------------------------------------------------------------------------------- inference
    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @property
    def latent_dim(self) -> int | None:
        """The size of the style code: the encoder's ``z_dim`` (256) with the VAE, else None."""
        return None if self.encoder is None else int(self.encoder.fc_mu.out_features)

    def encode_latent(self, images: Tensor) -> Tensor:
        """Encode style images ``(N, 3, H, W)`` in [-1, 1] to codes ``(N, latent_dim)``: the encoder's ``mu``."""
        if self.encoder is None:
            raise InputError("SPADE without an encoder (use_vae) takes no style image")
        with inference_context(self.encoder, self.inference_mode):
            return self.encoder(images)[0]

    @override
    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target, z: Any = None) -> Tensor:
        """Run G on a label map (int, built into the semantic input) or a ready float semantic input."""
        semantic = x if x.is_floating_point() else self.semantic(x)
        if self.encoder is None:
            if z is not None:
                raise InputError("SPADE without an encoder (use_vae) takes no latent code z")
            return net(semantic)
        return net(semantic, self.resolve_latent(z, semantic.shape[0], semantic.device, semantic.dtype))

    # --------------------------------------------------------------------------------------------- training
    def generate_fake(self, semantic: Tensor, real: Tensor) -> tuple[Tensor, Tensor | None]:
        """``G(semantic[, z])`` with ``z`` sampled from E(real) (the reference's ``generate_fake``) and the KL."""
        if self.encoder is None:
            return self.generator(semantic), None
        mu, logvar = self.encoder(real)
        z = reparameterize(mu, logvar)  # the global RNG: saved per rank, so a resume draws the same
        kld = self.lambda_kld * kl_divergence(mu, logvar) if self.lambda_kld else None
        return self.generator(semantic, z), kld

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        semantic, real = self.generator_input(batch), batch["B"]
        opt_g, opt_d = self.optimizers()
        with self.toggled_optimizer(opt_g):
            self.optimize(opt_g, self.generator_losses(semantic, real), prefix="g")
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(semantic, real), prefix="d")

    def generator_losses(self, semantic: Tensor, real: Tensor) -> dict[str, Tensor]:
        """G terms: hinge GAN, feature matching, VGG, KL (each weighted; a zero weight leaves it out)."""
        fake, kld = self.generate_fake(semantic, real)
        pred_fake, pred_real = self.discriminate(self.discriminator, semantic, fake, real)
        losses = {"gan": multiscale_gan_loss(self.gan_loss, pred_fake, True, for_discriminator=False)}
        if self.lambda_feat:
            losses["feat"] = self.lambda_feat * feature_matching_loss(pred_fake, pred_real, "spade")
        if self.lambda_vgg:
            losses["vgg"] = self.lambda_vgg * self.vgg_term(fake, real)
        if kld is not None:
            losses["kld"] = kld
        return losses

    def discriminator_losses(self, semantic: Tensor, real: Tensor) -> dict[str, Tensor]:
        """D terms: hinge on real pairs and on pairs with a fresh, detached fake of the updated G."""
        with torch.no_grad():
            fake, _ = self.generate_fake(semantic, real)
        pred_fake, pred_real = self.discriminate(self.discriminator, semantic, fake.detach(), real)
        return {
            "fake": multiscale_gan_loss(self.gan_loss, pred_fake, False),
            "real": multiscale_gan_loss(self.gan_loss, pred_real, True),
        }

    @override
    def configure_optimizers(self) -> Any:
        ttur = (adam(1e-4, (0.0, 0.9)), adam(4e-4, (0.0, 0.9)))  # TTUR: lr / 2 and lr * 2
        g_default, d_default = (adam(2e-4, (0.5, 0.999)),) * 2 if self.no_ttur else ttur
        opt_g = self.build_optimizer(self.optimizer_g or g_default, trained_parameters(self.generator, self.encoder))
        opt_d = self.build_optimizer(self.optimizer_d or d_default, self.discriminator.parameters())
        return [opt_g, opt_d], self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], names=("G", "D"))


__all__ = ["SPADE"]
