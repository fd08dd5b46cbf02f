"""pix2pixHD: high-resolution image synthesis from label maps with conditional GANs (Wang et al., CVPR 2018).

The iteration of NVIDIA/pix2pixHD (``train.py``, ``models/pix2pixHD_model.py``): one forward ``fake = G(input)``
(``input`` = the semantic map, plus with ``feature_encoder`` the ``feat_num`` instance-wise features of the real
image, ``E(real, instances)``), then the G step: LSGAN (the reference's default ``no_lsgan`` False; summed over
the ``num_D`` scales) + ``lambda_feat`` (10) GAN feature matching (weights ``4 / (n_layers + 1) / num_D``) +
``lambda_vgg`` (10; the reference's ``lambda_feat``) VGG-19 loss; then the D step on the same, detached fake:
``0.5 * (D_fake + D_real)``. D sees ``concat(semantic, image)``. Adam 2e-4 (0.5, 0.999) for G (+ E) and D; the
reference's linear decay is ``lit_translate.schedulers.LinearDecayLR``. The generator is ``GlobalGenerator``
(``--netG global``) or ``LocalEnhancer`` (``local``, for 2048x1024).

Instance-wise features at inference: the features are encoded from the **real image** of the batch (validation,
test, sample grids: the reference's ``--use_encoded_image``); a label map alone (``predict``) gets zero features
(the reference's k-means feature clusters are not implemented). VGG input as :mod:`lit_translate.methods.spade`.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.losses import GANLoss, GanMode, feature_matching_loss, multiscale_gan_loss
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Target, paper_adam
from lit_translate.methods.parts.label_maps import LabelMapModule, VggInput, trained_parameters


class Pix2PixHD(LabelMapModule):
    """pix2pixHD: label map (+ instance edges [+ instance-wise features]) -> photo.

    Args:
        generator: ``GlobalGenerator`` or ``LocalEnhancer`` on ``semantic_nc`` (+ ``feat_num``) channels.
        discriminator: ``MultiscaleDiscriminator`` (``norm_D instance, conv_bias true, init_type normal``) on
            ``semantic_nc + 3`` channels.
        feature_encoder: ``FeatureEncoder`` (``feat_num`` = its ``out_channels``, 3); None: none. Default None.
        optimizer_g: G (+ E) optimizer factory; None: Adam 2e-4 (0.5, 0.999). Default None.
        optimizer_d: D optimizer factory; None: the same. Default None.
        lr_scheduler: Per-epoch factory for both, e.g. ``LinearDecayLR``. Default None (constant).
        gan_mode: ``"lsgan"`` (the reference) or ``"vanilla"`` (its ``--no_lsgan``). Default ``"lsgan"``.
        lambda_feat: GAN feature matching weight (0: the reference's ``--no_ganFeat_loss``). Default 10.
        lambda_vgg: VGG loss weight (0: ``--no_vgg_loss``). Default 10.
        labels, dontcare, instance_edges, vgg_weights, vgg_input: See ``LabelMapModule``.
        inference_mode, on_nonfinite, max_skipped_steps: See ``TranslationModule``.
    """

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        feature_encoder: nn.Module | None = None,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: GanMode = "lsgan",
        lambda_feat: float = 10.0,
        lambda_vgg: float = 10.0,
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
        self.generator, self.discriminator, self.feature_encoder = generator, discriminator, feature_encoder
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_feat = lambda_feat

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @property
    def feat_num(self) -> int:
        """Channels of the instance-wise features (0 without a feature encoder)."""
        return 0 if self.feature_encoder is None else int(self.feature_encoder.model[-2].out_channels)

    def with_features(self, semantic: Tensor, image: Tensor | None, instances: Tensor | None) -> Tensor:
        """Append the instance-wise features of ``image`` (zeros without an image) to the semantic map."""
        if self.feature_encoder is None:
            return semantic
        if image is None:
            features = semantic.new_zeros(semantic.shape[0], self.feat_num, *semantic.shape[2:])
        else:
            features = self.feature_encoder(image.to(semantic.dtype), instances)
        return torch.cat((semantic, features), dim=1)

    @override
    def generator_input(self, batch: dict[str, Any]) -> Tensor:
        semantic = self.semantic(batch["A"], batch.get("A_instance"))
        instances = batch.get("A_instance", batch["A"])
        return self.with_features(semantic, batch.get("B"), instances)

    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target) -> Tensor:
        """Run G on a label map (int: semantic input, zero features) or a ready float input."""
        return net(x if x.is_floating_point() else self.with_features(self.semantic(x), None, None))

    # --------------------------------------------------------------------------------------------- training
    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real = batch["B"]
        semantic = self.semantic(batch["A"], batch.get("A_instance"))
        opt_g, opt_d = self.optimizers()
        fake = self.generator(self.with_features(semantic, real, batch.get("A_instance", batch["A"])))
        with self.toggled_optimizer(opt_g):
            self.optimize(opt_g, self.generator_losses(semantic, fake, real), prefix="g")
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(semantic, fake.detach(), real), prefix="d")

    def generator_losses(self, semantic: Tensor, fake: Tensor, real: Tensor) -> dict[str, Tensor]:
        """G terms: GAN (summed over scales), feature matching (pix2pixHD weights), VGG."""
        pred_fake, pred_real = self.discriminate(self.discriminator, semantic, fake, real)
        losses = {"gan": multiscale_gan_loss(self.gan_loss, pred_fake, True, False, over_scales="sum")}
        if self.lambda_feat:
            losses["feat"] = self.lambda_feat * feature_matching_loss(pred_fake, pred_real, "pix2pixhd")
        if self.lambda_vgg:
            losses["vgg"] = self.lambda_vgg * self.vgg_term(fake, real)
        return losses

    def discriminator_losses(self, semantic: Tensor, fake: Tensor, real: Tensor) -> dict[str, Tensor]:
        """D terms: ``0.5 * (fake + real)``, each summed over the scales."""
        pred_fake, pred_real = self.discriminate(self.discriminator, semantic, fake, real)
        return {
            "fake": 0.5 * multiscale_gan_loss(self.gan_loss, pred_fake, False, over_scales="sum"),
            "real": 0.5 * multiscale_gan_loss(self.gan_loss, pred_real, True, over_scales="sum"),
        }

    @override
    def configure_optimizers(self) -> Any:
        params = trained_parameters(self.generator, self.feature_encoder)
        opt_g = self.build_optimizer(self.optimizer_g or paper_adam, params)
        opt_d = self.build_optimizer(self.optimizer_d or paper_adam, self.discriminator.parameters())
        return [opt_g, opt_d], self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], names=("G", "D"))


__all__ = ["Pix2PixHD"]
