"""StarGAN: one generator for many domains, faithful to yunjey/stargan ``solver.py``.

Choi et al., "StarGAN: Unified Generative Adversarial Networks for Multi-Domain Image-to-Image Translation",
CVPR 2018.

G(x, c) translates an image x into the domain given by the label c (tiled over the image); D has two heads,
D_src (real/fake) and D_cls (domain classification). Objectives (paper eqs. 1-7):

- D: ``L_D = -L_adv + lambda_cls * L_cls^r`` with WGAN-GP (eq. 8): ``-E[D_src(x)] + E[D_src(G(x, c))] +
  lambda_gp * E[(||grad D_src(x_hat)||_2 - 1)^2]`` and ``L_cls^r = E[-log D_cls(c' | x)]`` on real images with
  their own labels c';
- G, every ``n_critic`` D steps: ``L_G = L_adv + lambda_cls * L_cls^f + lambda_rec * L_rec`` with ``L_cls^f`` the
  classification of G(x, c) as c and ``L_rec = E[||x - G(G(x, c), c')||_1]`` (eq. 4).

Labels come from :class:`~lit_translate.data.domains.labels.LabelSpace`: one-hot domains (cross-entropy), multi-label
attributes (BCE-with-logits summed over attributes, averaged over the batch) or both with the mask vector.
Names: ``generator`` = G, ``discriminator`` = D (``conv1`` = D_src, ``conv2`` = D_cls), ``c_org`` = c', the
source label, ``c_trg`` = c, the target label.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities.parsing import AttributeDict
from torch import Tensor, nn
from torchmetrics import MeanMetric
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.domains.labels import LabelSpace, other_domain_targets, permuted_targets
from lit_translate.errors import InputError
from lit_translate.losses import GANLoss, gradient_penalty
from lit_translate.methods import stargan_checks as checks
from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, Target, TranslationModule
from lit_translate.methods.parts.optimizers import stargan_adam

GanMode = Literal["wgangp", "lsgan", "hinge", "vanilla"]
TargetSampling = Literal["permute", "other"]


class StarGAN(TranslationModule):
    """StarGAN on labelled batches ``{"A", "A_label"}`` (and ``"A_mask"`` when two datasets train jointly).

    One iteration is one D step (``global_step`` counts them); G steps when ``(t // K + 1) % n_critic == 0`` for
    iteration ``t`` (0-based, K = 1, or 2 for CelebA + RaFD, whose reference iteration is one batch of each): the
    reference's ``(i + 1) % n_critic == 0``. The phase is derived from ``global_step``, so it survives a resume.

    Targets are the label space's names (:attr:`targets`): the domains, and "with attribute a" for attributes;
    ``translate(x, target)`` takes a name or a label tensor ``(N, c_dim)`` / ``(c_dim,)``. A named attribute
    target keeps the source's other attributes; without source labels (predict) they are estimated by the
    classifier (D's domain head unless ``classifier`` is given).

    Args:
        generator: G(x, c), e.g. ``StarGANGenerator``; ``c_dim`` = the label length.
        discriminator: x -> (src map, class logits), e.g. ``StarGANDiscriminator``; its ``image_size`` must be the
            data's and its ``c_dim`` the number of classes.
        optimizer_g: G's optimizer factory. Default: None = Adam(1e-4, (0.5, 0.999)).
        optimizer_d: D's optimizer factory. Default: None = the same Adam.
        lr_scheduler: per-iteration scheduler factory for both, e.g. ``StepwiseLinearDecayLR``. Default: None.
        gan_mode: ``"wgangp"`` (paper, with the gradient penalty), ``"lsgan"``, ``"hinge"`` or ``"vanilla"``
            (no penalty). Default: ``"wgangp"``.
        lambda_gp: gradient penalty weight (wgangp only). Default: 10.0.
        lambda_cls: domain classification weight. Default: 1.0.
        lambda_rec: reconstruction (cycle) L1 weight. Default: 10.0.
        n_critic: D steps per G step. Default: 5.
        target_sampling: ``"permute"``: a random permutation of the batch's labels (the reference; an image may
            keep its own label, and at batch size 1 it always does); ``"other"``: a uniformly drawn other domain
            (one-hot domains only). Default: ``"permute"``.
        attributes: attribute names of the labels. Default: None = from the DataModule at setup (saved in
            checkpoints).
        domains: domain names of the labels. Default: None = from the DataModule at setup.
        classifier: images ``(N, 3, H, W)`` in [-1, 1] -> class logits ``(N, class_dim)`` for the evaluation's
            accuracy (frozen). Default: None = the trained D's domain head.
        inference_mode: ``"train"`` (the reference: it never calls ``G.eval()``, so instance norm uses each
            image's own statistics) or ``"eval"`` (the running averages). Default: ``"train"``.
        on_nonfinite: ``"stop"`` or ``"skip"`` (see ``TranslationModule``). Default: ``"stop"``.
        max_skipped_steps: with ``"skip"``, stop after this many skipped steps in a row. Default: 20.
    """

    paired = False

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        optimizer_g: OptimizerCallable | None = None,
        optimizer_d: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        gan_mode: GanMode = "wgangp",
        lambda_gp: float = 10.0,
        lambda_cls: float = 1.0,
        lambda_rec: float = 10.0,
        n_critic: int = 5,
        target_sampling: TargetSampling = "permute",
        attributes: list[str] | None = None,
        domains: list[str] | None = None,
        classifier: nn.Module | None = None,
        inference_mode: InferenceMode = "train",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()
        if n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {n_critic}")
        self.target_sampling = check_choice("target_sampling", target_sampling, ("permute", "other"))
        self.generator, self.discriminator = generator, discriminator
        self.classifier = classifier.requires_grad_(False).eval() if classifier is not None else None
        self.optimizer_g, self.optimizer_d, self.lr_scheduler = optimizer_g, optimizer_d, lr_scheduler
        self.gan_loss, self.gan_mode = GANLoss(gan_mode), gan_mode
        self.lambda_gp, self.lambda_cls, self.lambda_rec, self.n_critic = lambda_gp, lambda_cls, lambda_rec, n_critic
        self.label_space: LabelSpace | None = None
        self.domain_metrics = nn.ModuleDict()  # evaluation means, built with the label space (not in state_dict)
        if attributes or domains:
            self.set_label_space(LabelSpace(tuple(attributes or ()), tuple(domains or ())))

    # ------------------------------------------------------------------------------------------------- labels
    def set_label_space(self, space: LabelSpace) -> None:
        """Use ``space`` (checked against the nets) and record its names in the hyper-parameters (checkpoints)."""
        checks.check_nets(self.generator, self.discriminator, space, self.target_sampling)
        if space != self.label_space:  # keys by position: domain names may hold characters modules cannot
            keys = [f"{kind}_{i}" for kind in ("acc", "rec") for i in range(len(space.names))] + ["acc", "rec"]
            self.domain_metrics = nn.ModuleDict({key: MeanMetric().set_dtype(torch.float64) for key in keys})
        self.label_space = space
        self.hparams["attributes"] = list(space.attributes) or None
        self.hparams["domains"] = list(space.domains) or None

    @property
    @override
    def hparams_initial(self) -> AttributeDict:
        """The initial hyper-parameters, ``domains`` as the DataModule has it (see :func:`with_data_domains`)."""
        return checks.with_data_domains(super().hparams_initial, getattr(self._trainer, "datamodule", None))

    @property
    def space(self) -> LabelSpace:
        """Return the label space, or raise saying where it comes from."""
        if self.label_space is None:
            raise InputError(
                "StarGAN does not know its domains yet: set model.init_args.domains (or attributes), fit or test "
                "it with a multi-domain DataModule, or load a checkpoint"
            )
        return self.label_space

    @property
    @override
    def targets(self) -> tuple[str, ...]:
        """Return the domain names; empty until the label space is known (set-up, config or checkpoint)."""
        return self.label_space.names if self.label_space is not None else ()

    @property
    def default_predict_targets(self) -> tuple[str, ...]:
        """Return what ``predict`` writes by default: every target (``out/<domain>/<name>.png``)."""
        return self.targets

    @override
    def resolve_target(self, target: Target) -> Target:
        if isinstance(target, str) and target not in self.targets:
            raise InputError(
                f"unknown target domain {target!r}: this StarGAN translates into {', '.join(self.targets)}; pick one "
                f"of them (or pass a label tensor of length {self.space.label_dim})"
            )
        return super().resolve_target(target)

    @override
    def setup(self, stage: str) -> None:
        # The labels' meaning comes from the data (fit, validate, test); predict keeps the model's or the
        # checkpoint's (on_load_checkpoint runs after setup).
        datamodule = getattr(self.trainer, "datamodule", None)
        data_space = checks.label_space_of(datamodule) if stage != "predict" else None
        if data_space is not None:
            checks.check_same_labels(self.label_space, data_space, "the data")
            self.set_label_space(data_space)
            checks.check_data(datamodule, self.discriminator)

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get("hyper_parameters", {})
        if saved.get("attributes") or saved.get("domains"):
            space = LabelSpace(tuple(saved.get("attributes") or ()), tuple(saved.get("domains") or ()))
            checks.check_same_labels(self.label_space, space, "the checkpoint")
            self.set_label_space(space)

    def batch_group(self, labels: Tensor) -> int:
        """Return the dataset a training batch comes from (0 unless joint; the mask vector says which)."""
        return self.space.batch_group(labels)

    def sample_targets(self, labels: Tensor, group: int) -> Tensor:
        """Return target labels ``c_trg`` for a batch of source labels (random draws from ``self.rng``)."""
        if self.target_sampling == "permute":
            return permuted_targets(labels, self.rng)  # label_trg = label_org[randperm(B)]
        part = self.space.part(group)
        targets = labels.clone()
        targets[:, part] = other_domain_targets(labels[:, part], self.rng)
        return targets

    # ----------------------------------------------------------------------------------------------- training
    @property
    @override
    def update_cycle(self) -> int:
        return self.n_critic * self._iterations_per_reference_iteration()

    def _iterations_per_reference_iteration(self) -> int:
        return len(self.label_space.dims) if self.label_space is not None and self.label_space.joint else 1

    def generator_steps_at(self, iteration: int) -> bool:
        """Return whether G steps at ``iteration`` (0-based D steps; the reference's ``(i + 1) % n_critic == 0``)."""
        return (iteration // self._iterations_per_reference_iteration() + 1) % self.n_critic == 0

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        iteration = self.global_step  # before D's step counts this batch
        x, c_org = batch["A"], batch["A_label"]
        group = self.batch_group(c_org)
        c_trg = self.sample_targets(c_org, group)
        opt_g, opt_d = self.optimizers()
        with self.toggled_optimizer(opt_d):
            self.optimize(opt_d, self.discriminator_losses(x, c_org, c_trg, group), prefix="d")
        if self.generator_steps_at(iteration):
            with self.toggled_optimizer(opt_g):
                self.optimize(opt_g, self.generator_losses(x, c_org, c_trg, group), prefix="g")

    def discriminator_losses(self, x: Tensor, c_org: Tensor, c_trg: Tensor, group: int) -> dict[str, Tensor]:
        """Weighted D terms: ``real``, ``fake`` (eq. 1 / WGAN), ``cls`` (eq. 2, real images), ``gp`` (wgangp).

        Args:
            x: real images ``(N, 3, S, S)`` in [-1, 1].
            c_org: their labels ``(N, label_dim)``.
            c_trg: the target labels ``(N, label_dim)``.
            group: the dataset of the batch (0 unless joint).
        """
        src_real, cls_real = self.discriminator(x)
        with torch.no_grad():
            fake = self.generator(x, c_trg)
        src_fake, _ = self.discriminator(fake)
        losses = {
            "real": self.gan_loss(src_real, target_is_real=True),
            "fake": self.gan_loss(src_fake, target_is_real=False),
        }
        if self.lambda_cls:
            losses["cls"] = self.lambda_cls * self.space.classification_loss(cls_real, c_org, group)
        if self.gan_mode == "wgangp" and self.lambda_gp:
            # x_hat = alpha x + (1 - alpha) G(x, c), alpha ~ U(0, 1) per image from the global RNG (saved per rank,
            # and on the images' device), autograd.grad(create_graph=True) in float32.
            penalty = gradient_penalty(lambda images: self.discriminator(images)[0], x, fake)
            losses["gp"] = self.lambda_gp * penalty
        return losses

    def generator_losses(self, x: Tensor, c_org: Tensor, c_trg: Tensor, group: int) -> dict[str, Tensor]:
        """Weighted G terms: ``fake`` (adversarial), ``cls`` (eq. 3, fakes as c_trg), ``rec`` (eq. 4)."""
        fake = self.generator(x, c_trg)
        src_fake, cls_fake = self.discriminator(fake)
        losses = {"fake": self.gan_loss(src_fake, target_is_real=True, for_discriminator=False)}
        if self.lambda_cls:
            losses["cls"] = self.lambda_cls * self.space.classification_loss(cls_fake, c_trg, group)
        if self.lambda_rec:
            losses["rec"] = self.lambda_rec * torch.mean(torch.abs(x - self.generator(fake, c_org)))
        return losses

    @override
    def configure_optimizers(self) -> Any:
        opt_g = self.build_optimizer(self.optimizer_g or stargan_adam, self.generator.parameters())
        opt_d = self.build_optimizer(self.optimizer_d or stargan_adam, self.discriminator.parameters())
        schedulers = self.build_schedulers(self.lr_scheduler, [opt_g, opt_d], interval="step", names=("G", "D"))
        return [opt_g, opt_d], schedulers

    # ---------------------------------------------------------------------------------------------- inference
    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def generate(self, net: nn.Module, x: Tensor, target: Target) -> Tensor:
        label = target if isinstance(target, Tensor) else self.target_labels(x, str(target))
        label = label.to(device=x.device, dtype=x.dtype)
        return net(x, label.expand(x.shape[0], -1) if label.ndim == 1 else label)

    def target_labels(self, x: Tensor, name: str, labels: Tensor | None = None) -> Tensor:
        """Return the labels ``(N, label_dim)`` that translate ``x`` into target ``name``.

        Args:
            x: the input images ``(N, 3, H, W)``.
            name: a target name.
            labels: the inputs' labels when known (evaluation); None: attributes estimated by the classifier.
        """
        space = self.space
        attributes = self.source_attributes(x, labels) if name in space.attributes else None
        return space.target_label(name, attributes, x.shape[0], x)

    def source_attributes(self, x: Tensor, labels: Tensor | None) -> Tensor:
        """Return the inputs' attributes: from ``labels`` where they are known, else the classifier's estimate."""
        space = self.space
        part = space.part(0)
        known = labels is not None and not (space.joint and bool((space.groups(labels) != 0).any()))
        if known:
            return labels[:, part]
        estimated = (self.classify(x)[:, part] > 0).to(x.dtype)
        if labels is None:
            return estimated
        return torch.where((space.groups(labels) == 0)[:, None], labels[:, part], estimated)

    @torch.no_grad()
    def classify(self, x: Tensor) -> Tensor:
        """Return class logits ``(N, class_dim)`` of images by ``classifier`` or D's domain head (at D's size)."""
        size = getattr(self.discriminator, "image_size", None)
        if size is not None and tuple(x.shape[-2:]) != (size, size):
            x = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        logits = self.classifier(x) if self.classifier is not None else self.discriminator(x)[1]
        if logits.ndim != 2 or logits.shape[1] != self.space.class_dim:
            raise ValueError(
                f"the classifier must return (N, {self.space.class_dim}) logits; got {tuple(logits.shape)}"
            )
        return logits.float()

    # --------------------------------------------------------------------------------------- evaluation hooks
    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        x, labels = batch["A"], batch.get("A_label")
        return {"input": x, **{name: self.translate(x, self.target_labels(x, name, labels)) for name in self.targets}}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        # Per target domain: every input translated into it, and the batch's real images of that domain (maybe
        # none); the metrics callback accumulates both over the whole split.
        x, labels = batch["A"], batch["A_label"]
        return {
            name: (self.translate(x, self.target_labels(x, name, labels)), x[self.space.members(labels, name)])
            for name in self.targets
        }

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        return {}  # the per-domain accuracy and reconstruction are torchmetrics means (see evaluate_domains)

    @override
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = super().validation_step(batch, batch_idx)
        self.evaluate_domains(batch, outputs["pairs"], "val")
        return outputs

    @override
    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = super().test_step(batch, batch_idx)
        self.evaluate_domains(batch, outputs["pairs"], "test")
        return outputs

    def evaluate_domains(self, batch: dict[str, Any], pairs: Pairs, stage: str) -> None:
        """Log ``<stage>/acc_<domain>``, ``<stage>/rec_<domain>`` and their means over the domains ``acc``, ``rec``.

        ``acc``: the fraction of translations the classifier puts in the target domain; ``rec``: the per-image
        reconstruction L1 ``mean |G(G(x, c_trg), c_org) - x|``. Both are torchmetrics means in float64 over every
        image of the split, summed over ranks when computed: exact under DDP, whatever the shard sizes
        (Lightning's ``sync_dist`` mean divides by a truncated integer count on gloo).
        """
        x, labels = batch["A"], batch["A_label"]
        accuracies, reconstructions = [], []
        for index, name in enumerate(self.targets):
            fake = pairs[name][0]
            accuracies.append(self.space.predicted(self.classify(fake), name).double())
            rec = self.translate(fake, labels)
            reconstructions.append((rec.double() - x.double()).abs().flatten(1).mean(1))
            self._log_mean(f"{stage}/acc_{name}", f"acc_{index}", accuracies[-1])
            self._log_mean(f"{stage}/rec_{name}", f"rec_{index}", reconstructions[-1])
        self._log_mean(f"{stage}/acc", "acc", torch.stack(accuracies).mean(0), prog_bar=stage == "val")
        self._log_mean(f"{stage}/rec", "rec", torch.stack(reconstructions).mean(0), prog_bar=stage == "val")

    def _log_mean(self, name: str, key: str, values: Tensor, prog_bar: bool = False) -> None:
        metric = self.domain_metrics[key]
        metric.update(values)
        self.log(
            name, metric, on_step=False, on_epoch=True, prog_bar=prog_bar, metric_attribute=f"domain_metrics.{key}"
        )

    @override
    def on_fit_start(self) -> None:
        super().on_fit_start()
        checks.warn_permute_at_batch_size_one(getattr(self.trainer, "datamodule", None), self.target_sampling)


__all__ = ["StarGAN", "stargan_adam"]
