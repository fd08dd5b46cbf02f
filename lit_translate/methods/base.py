"""The method contract: what a translation method implements, over the shared bases it inherits.

A method is a :class:`TranslationModule` subclass in one file (``docs/architecture.md``, "Adding a method"). It
gets its nets and optimizer factories injected (typed ``__init__``, the LightningCLI schema) and implements
``configure_optimizers``, ``training_step`` (one :meth:`~TranslationModule.optimize` call per network update),
``generator_for``, ``visuals``, ``evaluation_pairs`` and ``validation_losses``. The rest is shared and lives in
the bases in ``methods/parts/``, each one responsibility: ``plumbing.py`` (what Lightning's manual optimization
leaves undone, see ``shared/docs/lightning-pitfalls.md``: iteration counting, schedulers, the divergence guard,
per-rank random streams for an exact resume), ``averaging.py`` (generator EMA) and ``inference.py`` (any-size and tiled
inference, ``predict_step``). This file is the contract: targets, translation, ``optimize`` and the evaluation
steps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import torch
from lightning.pytorch.cli import OptimizerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.errors import InputError
from lit_translate.methods.parts.averaging import WeightAveraging
from lit_translate.methods.parts.guard import NONFINITE_POLICIES, NonFinitePolicy
from lit_translate.methods.parts.inference import AnySizeInference
from lit_translate.methods.parts.optimizers import paper_adam
from lit_translate.methods.parts.plumbing import RNG_STATE_KEYS, TrainingPlumbing, inference_context
from lit_translate.methods.types import INFERENCE_MODES, InferenceMode, Latent, Pairs, Target
from lit_translate.pretrained.check import Need, check_run

__all__ = [
    "INFERENCE_MODES",
    "NONFINITE_POLICIES",
    "RNG_STATE_KEYS",
    "InferenceMode",
    "Latent",
    "NonFinitePolicy",
    "Pairs",
    "Target",
    "TranslationModule",
    "inference_context",
    "paper_adam",
]


class TranslationModule(WeightAveraging, AnySizeInference, TrainingPlumbing):
    """Base class of the image-to-image translation methods (manual optimization).

    Subclasses implement ``configure_optimizers``, ``training_step`` with :meth:`optimize` calls,
    :meth:`generator_for`, :meth:`visuals`, :meth:`evaluation_pairs` and :meth:`validation_losses`.

    Attributes:
        paired: whether ``evaluation_pairs`` returns aligned targets (PSNR/SSIM/LPIPS make sense).
        directions: the fixed translation directions of the method; :attr:`targets` lists them.

    Args:
        inference_mode: ``"eval"``, or ``"train"`` for dropout and batch statistics at inference (pix2pix paper).
        on_nonfinite: what a non-finite loss or gradient does: ``"stop"`` raises ``FloatingPointError`` naming
            the step and the loss terms, before the weights are touched; ``"skip"`` drops that optimizer step.
        max_skipped_steps: with ``"skip"``, stop after this many optimizer steps skipped in a row.
    """

    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)
    latent_dim: int | None = None
    """The size of the method's latent code: None for a deterministic method (the default); a multimodal method
    sets an int (an attribute in ``__init__`` or a property, e.g. BicycleGAN's: its generator's ``latent_dim``)."""
    image_input: ClassVar[bool] = True
    """Whether the generator takes an input image; False for a generator of codes alone (``UnconditionalGAN``:
    ``translate(None, z=...)``; its batches' ``A`` only sets how many images to make)."""
    grid_codes: int = 3
    """How many codes (seeds 0..K-1) a multimodal method's sample grid shows (:meth:`latent_columns`)."""
    metric_tags: ClassVar[dict[str, str]] = {}
    """Extra ``evaluation_pairs`` tags that are neither a direction nor a domain, and what each one scores (the
    SR methods' ``"bicubic"``: the bicubic upsampling baseline); reports describe ``<metric>_<tag>`` with it."""

    def __init__(
        self,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(on_nonfinite, max_skipped_steps)
        check_choice("inference_mode", inference_mode, INFERENCE_MODES)
        self.inference_mode: InferenceMode = inference_mode

    # ----------------------------------------------------------------------------------------------- inference
    @property
    def targets(self) -> tuple[str, ...]:
        """Return the named translation targets (default: :attr:`directions`; StarGAN: its domains).

        Never raises: a method that learns its names at set-up returns ``()`` until then.
        """
        return self.directions

    @property
    def default_predict_targets(self) -> tuple[str, ...]:
        """Return what ``predict`` translates into by default: the first target (a multi-domain method: all)."""
        return self.targets[:1]

    def generator_for(self, target: Target) -> nn.Module:
        """Return the network that translates into ``target`` (a name of :attr:`targets` or a label tensor)."""
        raise NotImplementedError

    def generate(self, net: nn.Module, x: Tensor, target: Target) -> Tensor:
        """Run ``net`` (from :meth:`generator_for`) on ``x``; label-conditioned methods add the target label.

        A method with :attr:`latent_dim` overrides it as ``generate(net, x, target, z)``: the base passes the
        resolved codes ``z`` ``(N, latent_dim)`` (:meth:`resolve_latent`) as the keyword ``z``.
        """
        return net(x)

    # -------------------------------------------------------------------------------------------- latent codes
    def encode_latent(self, images: Tensor) -> Tensor:
        """Return the codes ``(N, latent_dim)`` of reference (style) images: the encoder's mean, no sampling.

        Raises:
            InputError: The method has no encoder (the default).
        """
        raise InputError(f"{type(self).__name__} has no encoder: it cannot take a style image as its latent code")

    def latent_columns(self, x: Tensor, target: Target = None) -> dict[str, Tensor]:
        """Return the sample-grid columns of a multimodal method: ``{"sample_k": translate(x, z=k)}``.

        ``k`` in ``0 .. grid_codes - 1`` (the seeds, so the codes are the same at every validation; the sample
        grid's ``num_codes`` sets ``grid_codes``, default 3).
        """
        return {f"sample_{k}": self.translate(x, target, z=k) for k in range(self.grid_codes)}

    def resolve_latent(self, z: Latent, batch_size: int, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Turn a latent-code argument of :meth:`translate` into a ``(batch_size, latent_dim)`` tensor.

        Args:
            z: None (the seed-0 draw), an int seed (``torch.Generator().manual_seed(z)``, N(0, I) drawn on the CPU
                in float32, so CPU and CUDA give the same codes), a code tensor ``(N, latent_dim)``, ``(1,
                latent_dim)`` or ``(latent_dim,)``, or a style image ``(N or 1, C, H, W)`` (:meth:`encode_latent`).
            batch_size: the number of images translated.
            device: where the codes go.
            dtype: their dtype.

        Raises:
            InputError: The method has no latent code, or ``z`` has the wrong form or size.
        """
        dim = self.latent_dim
        name = type(self).__name__
        if dim is None:
            raise InputError(f"{name} is deterministic (no latent_dim): it takes no latent code z")
        if z is None or (isinstance(z, int) and not isinstance(z, bool)):
            generator = torch.Generator().manual_seed(0 if z is None else int(z))
            return torch.randn(batch_size, dim, generator=generator).to(device=device, dtype=dtype)
        if not isinstance(z, Tensor) or z.ndim not in (1, 2, 4):
            got = f"a {z.ndim}-d tensor" if isinstance(z, Tensor) else type(z).__name__
            raise InputError(f"{name} takes z as None, an int seed, a (N, {dim}) code or a style image; got {got}")
        codes = self.encode_latent(z) if z.ndim == 4 else z.reshape(-1, dim) if z.shape[-1] == dim else None
        if codes is None or codes.shape[0] not in (1, batch_size):
            got = tuple(z.shape)
            raise InputError(f"{name} needs latent codes of shape ({batch_size}, {dim}) or ({dim},); got {got}")
        return codes.expand(batch_size, -1).to(device=device, dtype=dtype)

    def resolve_target(self, target: Target) -> Target:
        """Return ``target`` checked against :attr:`targets` (None: the first target; tensors pass through)."""
        if target is None:
            if not self.targets:
                raise ValueError(f"{type(self).__name__} has no named targets yet (they are known after set-up)")
            return self.targets[0]
        if isinstance(target, Tensor):
            return target
        if target not in self.targets:
            raise ValueError(f"{type(self).__name__} translates into {self.targets}, not {target!r}")
        return target

    def inference_generator(self, target: Target) -> nn.Module:
        """Return the network inference uses for ``target``: its EMA copy when averaged, else ``generator_for``.

        Validation, sample grids, predict and export all go through this (via :meth:`translate`).
        """
        net = self.generator_for(target)
        return self.averaged_copy(net) or net

    def translate(self, x: Tensor | None, target: Target = None, z: Latent = None) -> Tensor:
        """Translate ``x`` (``(N, C, H, W)`` in [-1, 1]) into ``target`` under the configured ``inference_mode``.

        ``z`` is the latent code of a method with :attr:`latent_dim` (see :meth:`resolve_latent`: None = the
        seed-0 draw, a seed, codes or a style image); a deterministic method refuses one (InputError). A method
        without an input image (an unconditional generator) takes ``x`` None: one image per code of ``z`` (one
        for a seed).
        """
        target = self.resolve_target(target)
        net = self.inference_generator(target)
        if self.latent_dim is None:
            if z is not None:
                self.resolve_latent(z, x.shape[0], x.device, x.dtype)  # raises: no latent code
            with inference_context(net, self.inference_mode):
                return self.generate(net, x, target)
        like = x if x is not None and x.is_floating_point() else next(net.parameters())  # not a label map's int64
        count = x.shape[0] if x is not None else z.shape[0] if isinstance(z, Tensor) and z.ndim == 2 else 1
        codes = self.resolve_latent(z, count, like.device, like.dtype)
        with inference_context(net, self.inference_mode):
            return self.generate(net, x, target, z=codes)  # type: ignore[call-arg]

    def output_scale(self, target: Target = None) -> int:
        """Return how much larger the output is than the input (the generator's ``scale``; 1 for translation)."""
        return int(getattr(self.generator_for(self.resolve_target(target)), "scale", 1))

    # ---------------------------------------------------------------------------------------------- start-up
    def pretrained_needs(self, stage: str) -> list[Need]:
        """Return the pretrained files the method loads for ``stage`` (a loss network's VGG); none by default."""
        return []

    @override
    def prepare_data(self) -> None:
        """Check every pretrained file of the run at once, before the data set-up (``weights_check.check_run``).

        The method's and the callbacks' files (loss network, FID/LPIPS networks) are resolved together, so a
        missing file stops the run before step 0 and several missing files are named in one error.
        """
        check_run(self.trainer, self, self.trainer.state.fn.value)

    # ------------------------------------------------------------------------------------------------ training
    @property
    def update_cycle(self) -> int:
        """Return after how many iterations every optimizer has stepped at least once (n_critic for WGAN-GP)."""
        return 1

    def optimize(
        self,
        optimizer: LightningOptimizer | Sequence[LightningOptimizer],
        losses: dict[str, Tensor],
        prefix: str,
        extra_backward: Callable[[], dict[str, Tensor]] | None = None,
        term_prefixes: dict[str, str] | None = None,
    ) -> Tensor:
        """Sum weighted loss terms, backpropagate, step ``optimizer`` and log each term.

        Call it inside ``with self.toggled_optimizer(optimizer):`` around the loss computation when the module
        has several optimizers. Terms are logged as ``train/<prefix>_<name>`` and their sum as
        ``train/<prefix>_total`` (the only one shown in the progress bar).

        Args:
            optimizer: the LightningOptimizer from ``self.optimizers()`` (never the raw optimizer), or several
                that one loss trains jointly (BicycleGAN's E and G): all zeroed, checked, then stepped in order.
            losses: already weighted loss terms; a weight of 0 should leave the term out.
            prefix: ``"g"`` or ``"d"`` (or another network tag), one per optimizer.
            extra_backward: called after the backward of ``losses`` (whose graph is then kept): runs a second
                backward of its own (e.g. into some of the networks only) and returns its terms, which are logged
                and counted in the total. Default None.
            term_prefixes: ``{term: prefix}`` for terms of a joint update that train only another of its networks
                (BicycleGAN's KL trains E only: ``train/e_kl``, ``train/e_total`` the sum of such terms); the
                others and the total of the joint update use ``prefix``. Default None.

        Returns:
            The detached total loss.
        """
        optimizers = list(optimizer) if isinstance(optimizer, Sequence) else [optimizer]
        total = torch.stack([v.float() for v in losses.values()]).sum()
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        if extra_backward is None:
            self.manual_backward(total)
        else:
            self.manual_backward(total, retain_graph=True)
            extra = extra_backward()
            losses = {**losses, **extra}
            total = total.detach() + sum(v.detach().float() for v in extra.values())
        tags = term_prefixes or {}
        logged = {f"train/{tags.get(name, prefix)}_{name}": value.detach().float() for name, value in losses.items()}
        logged[f"train/{prefix}_total"] = total.detach()
        for other in set(tags.values()) - {prefix}:  # the sum of the terms logged under another network's prefix
            logged[f"train/{other}_total"] = sum(v.detach().float() for k, v in losses.items() if tags.get(k) == other)
        if all([self.guard.all_finite(self, total, opt) for opt in optimizers]):  # noqa: C419 - every rank asks all
            self.guard.stepped()
            for opt in optimizers:
                self.step_optimizer(opt)
            self.update_averages(prefix)
        else:
            for opt in optimizers[1:]:
                opt.zero_grad(set_to_none=True)
            self.guard.skip(self, optimizers[0], logged, prefix)
        # Every term goes to the loggers; only the totals go to the progress bar (CycleGAN has 10 terms).
        total_key = f"train/{prefix}_total"
        self.log_dict({k: v for k, v in logged.items() if k != total_key}, on_step=True, on_epoch=False)
        self.log(total_key, logged[total_key], prog_bar=True, on_step=True, on_epoch=False)
        return total.detach()

    def build_optimizer(self, factory: OptimizerCallable | None, params: Iterable[nn.Parameter]) -> Any:
        """Instantiate ``factory`` (None = :func:`paper_adam`) on ``params``."""
        return (factory or paper_adam)(params)

    # -------------------------------------------------------------------------------------- evaluation hooks
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return the ordered columns of the sample grid for ``batch`` (images in [-1, 1])."""
        raise NotImplementedError

    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        """Return ``{tag: (generated, real target-domain images or None)}`` for the metric callbacks."""
        raise NotImplementedError

    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        """Return cheap validation terms (e.g. L1 to the target), logged as ``val/<name>`` (``test/<name>``).

        Args:
            batch: the validation batch.
            pairs: ``evaluation_pairs(batch)``, already computed: reuse its translations instead of translating
                again (with ``inference_mode="train"`` a second translation would be another dropout sample).
        """
        raise NotImplementedError

    def _evaluation_step(self, batch: dict[str, Any], stage: str) -> dict[str, Any]:
        # Translate once: the losses logged here and the metric callbacks (which get the returned outputs in
        # on_{validation,test}_batch_end) see the same generated images.
        pairs = self.evaluation_pairs(batch)
        losses = {f"{stage}/{k}": v for k, v in self.validation_losses(batch, pairs).items()}
        size = batch["A"].shape[0]
        self.log_dict(losses, on_epoch=True, prog_bar=stage == "val", sync_dist=True, batch_size=size)
        return {"pairs": pairs}

    @override
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._evaluation_step(batch, "val")

    @override
    def test_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        return self._evaluation_step(batch, "test")
