"""BicycleGAN: multimodal image-to-image translation (Zhu et al., NeurIPS 2017; junyanz/BicycleGAN).

"Toward Multimodal Image-to-Image Translation"; the reference iteration is ``models/bicycle_gan_model.py``.

G(A, z) maps an input and a latent code to an output; an encoder E(B) -> (mu, logvar) maps outputs back to codes.
Each training batch is split in half: the cVAE-GAN half (B -> E -> z, reparameterised -> G(A, z) reconstructs B:
L1 + KL) and the cLR-GAN half (z ~ N(0, I) -> G(A, z) -> E recovers z: the latent regression, into G only). Two
discriminators (or one, ``use_same_D``) judge the two halves' outputs. At inference ``z`` comes from the latent-code
contract (``translate(x, z=seed | codes | style image)``, ``docs/architecture.md``, "Latent codes").
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.errors import InputError
from lit_translate.evaluation.diversity import build_diversity_lpips, diversity_needs, lpips_diversity
from lit_translate.losses import GANLoss, GanMode, kl_divergence
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, Target, TranslationModule
from lit_translate.pretrained.check import Need

LPIPS_KEY = "--model.init_args.lpips_backbone_weights"


@contextlib.contextmanager
def frozen(*nets: nn.Module | None) -> Iterator[None]:
    """Turn ``requires_grad`` off for the parameters of ``nets`` (the reference's ``set_requires_grad(..., False)``).

    A backward inside leaves their gradients untouched, also through a graph built before (autograd checks
    ``requires_grad`` of a leaf when it accumulates). Restored on exit.
    """
    params = [p for net in nets if net is not None for p in net.parameters()]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


class BicycleGAN(TranslationModule):
    """BicycleGAN: cVAE-GAN + cLR-GAN on paired data, with latent codes at inference.

    One iteration (the reference's ``optimize_parameters``): forward (E on the first half's targets, one draw of
    eps and of z_random from the global torch RNG, as the reference, G on both codes, E on G's random-code output),
    then G and E: backward of ``lambda_gan`` GAN (D on the encoded half) + ``lambda_gan2`` GAN (D2 on the random
    half) + ``lambda_l1`` L1 + ``lambda_kl`` KL, then, E frozen, backward of ``lambda_z`` |mu(E(G(A, z))) - z| into
    G only, one step of E and one of G; then D (and D2) on this iteration's fakes.

    Args:
        generator: ``G(x, z)`` (e.g. :class:`~lit_translate.nets.BicycleGenerator`); declares ``latent_dim``.
        encoder: ``E(B) -> (mu, logvar)`` (:class:`~lit_translate.nets.BicycleEncoder`).
        discriminator: D of the cVAE-GAN half; returns a logit map or a list over scales.
        discriminator2: D2 of the cLR-GAN half; None with ``use_same_D``. Default None.
        optimizer_g, optimizer_e, optimizer_d: optimizer factories (D2 uses ``optimizer_d``). Default: Adam 2e-4
            (0.5, 0.999).
        lr_scheduler: per-epoch scheduler for every optimizer (``LinearDecayLR``: niter, niter_decay). Default None.
        gan_mode: Default ``"lsgan"`` (reference); per-scale losses are summed, as the reference.
        lambda_l1, lambda_gan, lambda_gan2, lambda_z, lambda_kl: the reference's weights (10, 1, 1, 0.5, 0.01).
        use_same_D: one D judges both halves. Default False.
        conditional_D: D sees ``cat(A, B)`` instead of B. Default False.
        lpips_diversity_pairs: pairs of samples per validation input for ``val/lpips_diversity``; 0 turns it off.
            Default 19 (the paper).
        lpips_net: LPIPS backbone of the diversity. Default ``"alex"``.
        lpips_backbone_weights: its file; None = the torch.hub cache; ``"random"`` = the seeded stand-in (demos,
            tests). Default None.
        inference_mode, on_nonfinite, max_skipped_steps: the contract's. Default ``"eval"``.
    """

    def __init__(
        self,
        generator: nn.Module,
        encoder: nn.Module,
        discriminator: nn.Module,
        discriminator2: nn.Module | None = None,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_e: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: GanMode = "lsgan",
        lambda_l1: float = 10.0,
        lambda_gan: float = 1.0,
        lambda_gan2: float = 1.0,
        lambda_z: float = 0.5,
        lambda_kl: float = 0.01,
        use_same_D: bool = False,  # noqa: N803 - the reference's option name
        conditional_D: bool = False,  # noqa: N803
        lpips_diversity_pairs: int = 19,
        lpips_net: str = "alex",
        lpips_backbone_weights: str | None = None,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        if (discriminator2 is None) != use_same_D:
            raise InputError(
                "BicycleGAN: give model.init_args.discriminator2 (the cLR-GAN half's D) or set use_same_D: true, "
                f"not both; got discriminator2={'None' if discriminator2 is None else 'a net'}, use_same_D={use_same_D}"
            )
        self.generator, self.encoder = generator, encoder
        self.discriminator, self.discriminator2 = discriminator, discriminator2
        self.optimizer_g, self.optimizer_e, self.optimizer_d = optimizer_g, optimizer_e, optimizer_d
        self.lr_scheduler = lr_scheduler
        self.gan_loss = GANLoss(gan_mode)
        self.lambda_l1, self.lambda_gan, self.lambda_gan2 = lambda_l1, lambda_gan, lambda_gan2
        self.lambda_z, self.lambda_kl = lambda_z, lambda_kl
        self.use_same_D, self.conditional_D = use_same_D, conditional_D
        self.lpips_diversity_pairs, self.lpips_net = lpips_diversity_pairs, lpips_net
        self.lpips_backbone_weights = lpips_backbone_weights
        self._lpips: dict[str, nn.Module] = {}  # not a submodule: never saved, never trained

    # ------------------------------------------------------------------------------------------ latent codes
    @property
    def latent_dim(self) -> int:  # type: ignore[override]
        """Return the generator's code size (nz)."""
        return int(self.generator.latent_dim)

    @property
    def style_channels(self) -> int:
        """Return the channels of a style image (the encoder's input: the target's)."""
        first = next(m for m in self.encoder.modules() if isinstance(m, nn.Conv2d))
        return int(first.in_channels)

    @override
    def encode_latent(self, images: Tensor) -> Tensor:
        encoder = self.encoder
        training = encoder.training
        encoder.eval()
        try:
            with torch.no_grad():
                mu, _ = encoder(images.to(self.device, torch.float32))
        finally:
            encoder.train(training)
        return mu

    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target, z: Tensor | None = None) -> Tensor:  # type: ignore[override]
        return net(x, z)

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    # ---------------------------------------------------------------------------------------------- training
    @override
    def setup(self, stage: str) -> None:
        datamodule = getattr(self._trainer, "datamodule", None) if self._trainer is not None else None
        batch_size = getattr(datamodule, "batch_size", None)
        if stage == "fit" and batch_size is not None and (batch_size < 2 or batch_size % 2):
            raise InputError(
                f"BicycleGAN splits each training batch in half (cVAE-GAN and cLR-GAN): --data.batch_size must be "
                f"even and >= 2 (the reference: 2); got {batch_size}"
            )
        if self.builds_diversity(stage) and not self._lpips:
            self._lpips["net"] = build_diversity_lpips(self.lpips_net, self.lpips_backbone_weights)
        super().setup(stage)

    def builds_diversity(self, stage: str) -> bool:
        """Tell whether ``stage`` scores ``val/lpips_diversity`` (not in predict, nor in a fit without validation)."""
        trainer = self._trainer
        no_validation = stage == "fit" and trainer is not None and trainer.limit_val_batches == 0
        return self.lpips_diversity_pairs > 0 and stage in ("fit", "validate", "test") and not no_validation

    @override
    def pretrained_needs(self, stage: str) -> list[Need]:
        if not self.builds_diversity(stage):
            return []
        return diversity_needs(self.lpips_net, self.lpips_backbone_weights, LPIPS_KEY)

    def draw(self, *shape: int) -> Tensor:
        """Return N(0, I) of ``shape`` from the global torch RNG on the CPU (saved per rank), on the device."""
        return torch.randn(*shape).to(self.device)

    def discriminate(self, net: nn.Module, a: Tensor, b: Tensor) -> list[Tensor]:
        """Return ``net``'s logits (a list over scales) for output ``b`` (with input ``a`` if ``conditional_D``)."""
        out = net(torch.cat([a, b], dim=1) if self.conditional_D else b)
        return out if isinstance(out, (list, tuple)) else [out]

    def gan_term(self, logits: list[Tensor], real: bool) -> Tensor:
        """Return the GAN loss summed over scales (the reference's ``GANLoss``)."""
        return torch.stack([self.gan_loss(scale, target_is_real=real) for scale in logits]).sum()

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        real_a, real_b = batch["A"], batch["B"]
        if real_a.shape[0] % 2:  # a short last batch of an odd size: the halves would differ (reference: skipped)
            return
        half = real_a.shape[0] // 2
        a_enc, b_enc, a_rand, b_rand = real_a[:half], real_b[:half], real_a[half:], real_b[half:]
        mu, logvar = self.encoder(b_enc)
        z_enc = self.draw(*mu.shape) * (0.5 * logvar).exp() + mu
        z_random = self.draw(half, self.latent_dim)
        fake_enc = self.generator(a_enc, z_enc)
        fake_rand = self.generator(a_enc, z_random)  # the reference's A of the encoded half
        mu2 = self.encoder(fake_rand)[0] if self.lambda_z > 0 else None
        opt_g, opt_e, opt_d, *opt_d2 = self.optimizers()
        d2 = self.discriminator if self.use_same_D else self.discriminator2
        with frozen(self.discriminator, self.discriminator2):
            losses = {
                "gan": self.lambda_gan * self.gan_term(self.discriminate(self.discriminator, a_enc, fake_enc), True)
            }
            losses["gan2"] = self.lambda_gan2 * self.gan_term(self.discriminate(d2, a_enc, fake_rand), True)
            if self.lambda_kl > 0:
                losses["kl"] = self.lambda_kl * kl_divergence(mu, logvar)
            if self.lambda_l1 > 0:
                losses["l1"] = self.lambda_l1 * F.l1_loss(fake_enc, b_enc)

            def latent_regression() -> dict[str, Tensor]:
                with frozen(self.encoder):  # into G's gradients only
                    loss = self.lambda_z * F.l1_loss(mu2, z_random)
                    self.manual_backward(loss)
                return {"z_l1": loss}

            extra = latent_regression if mu2 is not None else None
            self.optimize([opt_e, opt_g], losses, prefix="g", extra_backward=extra, term_prefixes={"kl": "e"})
        self.update_discriminators(opt_d, opt_d2, (a_enc, b_enc, fake_enc), (a_enc, a_rand, b_rand, fake_rand))

    def update_discriminators(
        self, opt_d: Any, opt_d2: list[Any], encoded: tuple[Tensor, ...], random: tuple[Tensor, ...]
    ) -> None:
        """Step D on the encoded half (and, with ``use_same_D``, the random half), then D2 on the random half."""
        a_enc, b_enc, fake_enc = encoded
        a_fake, a_real, b_real, fake_rand = random
        net = self.discriminator

        def terms(net: nn.Module, a_fake: Tensor, fake: Tensor, a_real: Tensor, real: Tensor, tag: str) -> dict:
            return {
                f"fake{tag}": self.gan_term(self.discriminate(net, a_fake, fake.detach()), False),
                f"real{tag}": self.gan_term(self.discriminate(net, a_real, real), True),
            }

        with self.toggled_optimizer(opt_d):
            losses = terms(net, a_enc, fake_enc, a_enc, b_enc, "") if self.lambda_gan > 0 else {}
            if self.use_same_D and self.lambda_gan2 > 0:
                losses.update(terms(net, a_fake, fake_rand, a_real, b_real, "2"))
            if losses:
                self.optimize(opt_d, losses, prefix="d")
        if opt_d2 and self.lambda_gan2 > 0:
            assert self.discriminator2 is not None
            with self.toggled_optimizer(opt_d2[0]):
                losses = terms(self.discriminator2, a_fake, fake_rand, a_real, b_real, "")
                self.optimize(opt_d2[0], losses, prefix="d2")

    @override
    def configure_optimizers(self) -> Any:
        opts = [
            self.build_optimizer(self.optimizer_g, self.generator.parameters()),
            self.build_optimizer(self.optimizer_e, self.encoder.parameters()),
            self.build_optimizer(self.optimizer_d, self.discriminator.parameters()),
        ]
        names = ["G", "E", "D"]
        if self.discriminator2 is not None:
            opts.append(self.build_optimizer(self.optimizer_d, self.discriminator2.parameters()))
            names.append("D2")
        return opts, self.build_schedulers(self.lr_scheduler, opts, names=tuple(names))

    # -------------------------------------------------------------------------------------------- evaluation
    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"input": batch["A"], **self.latent_columns(batch["A"]), "target": batch["B"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        return {"": (self.translate(batch["A"]), batch["B"])}

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        """``l1`` (seed-0 samples), ``l1_encoded`` (the target's own code: reconstruction), ``lpips_diversity``."""
        fake_b, real_b = pairs[""]
        assert real_b is not None
        real_a = batch["A"]
        encoded = self.translate(real_a, z=real_b)
        losses = {
            "l1": F.l1_loss(fake_b.float(), real_b.float()),
            "l1_encoded": F.l1_loss(encoded.float(), real_b.float()),
        }
        if self.lpips_diversity_pairs > 0 and self._lpips:
            sample = lambda seed: self.translate(real_a, z=seed)  # noqa: E731
            losses["lpips_diversity"] = lpips_diversity(sample, self._lpips["net"], self.lpips_diversity_pairs)
        return losses


__all__ = ["BicycleGAN", "frozen"]
