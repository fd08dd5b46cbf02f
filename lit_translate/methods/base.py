"""Plumbing shared by every translation method: optimizer stepping, logging, schedulers, inference.

Algorithms live in the method files; this base only holds what every manual-optimization GAN needs and gets
wrong easily under Lightning (see ``docs/architecture.md`` and ``shared/docs/lightning-pitfalls.md``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor, nn
from typing_extensions import override

InferenceMode = Literal["eval", "train"]
INFERENCE_MODES = ("eval", "train")


def paper_adam(params: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """Adam with lr 2e-4 and betas (0.5, 0.999), the pix2pix / CycleGAN paper setting."""
    return torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999))


@contextmanager
def inference_context(net: nn.Module, mode: InferenceMode) -> Iterator[None]:
    """Run ``net`` for inference in ``mode`` without changing its state.

    ``"eval"`` is the usual ``net.eval()``. ``"train"`` keeps dropout and batch statistics on, as the pix2pix
    paper did at test time; BatchNorm running statistics are restored afterwards, so inference never alters
    the model.

    Args:
        net: the network to run.
        mode: ``"eval"`` or ``"train"``.
    """
    if mode not in INFERENCE_MODES:
        raise ValueError(f"inference_mode must be one of {INFERENCE_MODES}, got {mode!r}")
    was_training = net.training
    saved = [buf.clone() for buf in net.buffers()] if mode == "train" else []
    net.train(mode == "train")
    try:
        with torch.no_grad():
            yield
    finally:
        net.train(was_training)
        with torch.no_grad():
            for buf, value in zip(net.buffers(), saved):
                buf.copy_(value)


def _do_nothing() -> None:
    return None


class TranslationModule(LightningModule):
    """Base class of the image-to-image translation methods (manual optimization).

    Subclasses implement ``training_step`` with :meth:`optimize` calls, :meth:`generator_for`, :meth:`visuals`,
    :meth:`evaluation_pairs` and :meth:`validation_losses`.

    Args:
        inference_mode: ``"eval"``, or ``"train"`` for dropout and batch statistics at inference (pix2pix paper).
    """

    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)

    def __init__(self, inference_mode: InferenceMode = "eval") -> None:
        super().__init__()
        if inference_mode not in INFERENCE_MODES:
            raise ValueError(f"inference_mode must be one of {INFERENCE_MODES}, got {inference_mode!r}")
        self.automatic_optimization = False
        self.inference_mode: InferenceMode = inference_mode
        self.predict_direction = "AtoB"
        self._counted_this_batch = False
        self.rng = torch.Generator()

    def save_config_hyperparameters(self) -> None:
        """Save the constructor arguments so that checkpoints rebuild the model.

        Under LightningCLI the injected nets and optimizers are stored as their ``class_path`` configs, which
        ``load_from_checkpoint`` re-instantiates. Built in plain Python, module and callable arguments are left
        out (they cannot be stored in a ``weights_only`` checkpoint); load such checkpoints with
        ``load_state_dict``.
        """
        frame = inspect.currentframe()
        assert frame is not None and frame.f_back is not None
        if _given_hyperparameters.get() is not None:
            self.save_hyperparameters()
            return
        local = frame.f_back.f_locals
        ignore = [k for k, v in local.items() if isinstance(v, nn.Module) or callable(v) or k == "self"]
        self.save_hyperparameters(ignore=ignore, frame=frame.f_back)

    # ----------------------------------------------------------------------------------------------- inference
    def generator_for(self, direction: str) -> nn.Module:
        """Return the generator that translates in ``direction`` (``"AtoB"`` or ``"BtoA"``)."""
        raise NotImplementedError

    def translate(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """Translate ``x`` (``(N, C, H, W)`` in [-1, 1]) under the configured ``inference_mode``."""
        if direction not in self.directions:
            raise ValueError(f"{type(self).__name__} translates {self.directions}, not {direction!r}")
        net = self.generator_for(direction)
        with inference_context(net, self.inference_mode):
            return net(x)

    def translate_any_size(self, x: Tensor, direction: str = "AtoB") -> Tensor:
        """Translate an image of any size: pad to the generator's ``size_divisor``, translate, crop back.

        Padding is reflective (replicate for images smaller than the padding), so borders are not black.
        """
        divisor = int(getattr(self.generator_for(direction), "size_divisor", 1))
        h, w = x.shape[-2:]
        ph, pw = (-h) % divisor, (-w) % divisor
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.translate(x, direction)[..., :h, :w]

    # ------------------------------------------------------------------------------------------------ training
    def optimize(self, optimizer: LightningOptimizer, losses: dict[str, Tensor], prefix: str) -> Tensor:
        """Sum weighted loss terms, backpropagate, step ``optimizer`` and log each term.

        Call it inside ``with self.toggled_optimizer(optimizer):`` around the loss computation. Terms are logged
        as ``train/<prefix>_<name>`` and their sum as ``train/<prefix>_total``.

        Args:
            optimizer: the LightningOptimizer from ``self.optimizers()`` (never the raw optimizer).
            losses: already weighted loss terms; a weight of 0 should leave the term out.
            prefix: ``"g"`` or ``"d"`` (or another network tag).

        Returns:
            The detached total loss.
        """
        total = torch.stack([v.float() for v in losses.values()]).sum()
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(total)
        self._step(optimizer)
        logged = {f"train/{prefix}_{name}": value.detach().float() for name, value in losses.items()}
        logged[f"train/{prefix}_total"] = total.detach()
        self.log_dict(logged, prog_bar=True, on_step=True, on_epoch=False)
        return total.detach()

    def _step(self, optimizer: LightningOptimizer) -> None:
        # Lightning counts every optimizer step in global_step (2 per batch for G + D, issue #17958). We count
        # only the first step of each batch, so global_step, max_steps and checkpoint intervals mean iterations.
        if not self._counted_this_batch or not isinstance(optimizer, LightningOptimizer):
            optimizer.step()
            self._counted_this_batch = True
            return
        before, after = optimizer._on_before_step, optimizer._on_after_step
        optimizer._on_before_step = optimizer._on_after_step = _do_nothing
        try:
            optimizer.step()
        finally:
            optimizer._on_before_step, optimizer._on_after_step = before, after

    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._counted_this_batch = False

    @override
    def on_train_epoch_end(self) -> None:
        # Lightning never steps schedulers in manual optimization; the LR policies here are per epoch.
        schedulers = self.lr_schedulers()
        if schedulers is None:
            return
        for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
            scheduler.step()

    @override
    def on_fit_start(self) -> None:
        # seed_everything gives every rank the same RNG stream: dropout masks, pool coin flips and noise would
        # be duplicated across ranks. Reseed per rank (parameters stay equal: DDP broadcasts rank 0's).
        seed = int(os.environ.get("PL_GLOBAL_SEED", 0))
        rank_seed = int(np.random.SeedSequence([seed, self.global_rank]).generate_state(1)[0])
        self.rng.manual_seed(rank_seed)
        if self.trainer.world_size > 1:
            torch.manual_seed(rank_seed)

    def build_optimizer(self, factory: OptimizerCallable | None, params: Iterable[nn.Parameter]) -> Any:
        """Instantiate ``factory`` (None = :func:`paper_adam`) on ``params``."""
        return (factory or paper_adam)(params)

    def build_schedulers(self, factory: LRSchedulerCallable | None, optimizers: list[Any]) -> list[Any]:
        """Instantiate one scheduler per optimizer (none when ``factory`` is None)."""
        return [factory(opt) for opt in optimizers] if factory is not None else []

    # -------------------------------------------------------------------------------------- evaluation hooks
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return the ordered columns of the sample grid for ``batch`` (images in [-1, 1])."""
        raise NotImplementedError

    def evaluation_pairs(self, batch: dict[str, Any]) -> dict[str, tuple[Tensor, Tensor]]:
        """Return ``{direction_tag: (fake, real_target)}`` for the metric callbacks."""
        raise NotImplementedError

    def validation_losses(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """Return cheap validation terms (e.g. L1 to the target), logged as ``val/<name>``."""
        raise NotImplementedError

    @override
    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        size = batch["A"].shape[0]
        losses = {f"val/{k}": v for k, v in self.validation_losses(batch).items()}
        self.log_dict(losses, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=size)

    @override
    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        size = batch["A"].shape[0]
        losses = {f"test/{k}": v for k, v in self.validation_losses(batch).items()}
        self.log_dict(losses, on_epoch=True, sync_dist=True, batch_size=size)

    @override
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = [self.translate_any_size(img[None], self.predict_direction)[0] for img in batch["A"]]
        return {"images": outputs, "paths": batch["A_path"]}
