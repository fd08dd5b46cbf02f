"""Plumbing shared by every translation method: optimizer stepping, logging, schedulers, inference.

Algorithms live in the method files; this base only holds what every manual-optimization GAN needs and gets
wrong easily under Lightning (see ``docs/architecture.md`` and ``shared/docs/lightning-pitfalls.md``).
"""

from __future__ import annotations

import inspect
import os
import random
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.choices import check_choice

InferenceMode = Literal["eval", "train"]
INFERENCE_MODES = ("eval", "train")
RNG_STATE_KEYS = frozenset({"torch", "cuda", "generator", "numpy", "python"})
NonFinitePolicy = Literal["stop", "skip"]
NONFINITE_POLICIES = ("stop", "skip")


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
    check_choice("inference_mode", mode, INFERENCE_MODES)
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
        on_nonfinite: what a non-finite loss or gradient does: ``"stop"`` raises ``FloatingPointError`` naming
            the step and the loss terms, before the weights are touched; ``"skip"`` drops that optimizer step.
        max_skipped_steps: with ``"skip"``, stop after this many optimizer steps skipped in a row.
    """

    paired: ClassVar[bool] = True
    directions: ClassVar[tuple[str, ...]] = ("AtoB",)

    def __init__(
        self,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__()
        check_choice("inference_mode", inference_mode, INFERENCE_MODES)
        check_choice("on_nonfinite", on_nonfinite, NONFINITE_POLICIES)
        if max_skipped_steps < 1:
            raise ValueError(f"max_skipped_steps must be >= 1, got {max_skipped_steps}")
        self.automatic_optimization = False
        self.inference_mode: InferenceMode = inference_mode
        self.on_nonfinite: NonFinitePolicy = on_nonfinite
        self.max_skipped_steps = max_skipped_steps
        self.predict_direction = "AtoB"
        self._counted_this_batch = False
        self._buffers_at_batch_start: list[Tensor] = []
        self._skipped_in_a_row = 0
        self._rank_states: list[dict[str, Any]] | None = None
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
        logged = {f"train/{prefix}_{name}": value.detach().float() for name, value in losses.items()}
        logged[f"train/{prefix}_total"] = total.detach()
        if self._all_finite(total, optimizer):
            self._skipped_in_a_row = 0
            self._step(optimizer)
        else:
            self._skip_nonfinite(optimizer, logged, prefix)
        self.log_dict(logged, prog_bar=True, on_step=True, on_epoch=False)
        return total.detach()

    def _all_finite(self, total: Tensor, optimizer: LightningOptimizer) -> bool:
        """Tell whether the loss and the gradients are finite, with one answer agreed by every rank."""
        finite = torch.isfinite(total.detach())
        # Under a GradScaler (fp16) overflowing gradients are routine: the scaler skips those steps itself.
        if getattr(self.trainer.precision_plugin, "scaler", None) is None:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if grads:
                finite = finite & torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()
        if self.trainer.world_size > 1:  # DDP: one rank's inf must not leave the others stepping alone
            return bool(self.trainer.strategy.reduce_boolean_decision(bool(finite), all=True))
        return bool(finite)

    def _skip_nonfinite(self, optimizer: LightningOptimizer, logged: dict[str, Tensor], prefix: str) -> None:
        """Apply ``on_nonfinite`` to an optimizer step whose loss or gradients are not finite."""
        optimizer.zero_grad(set_to_none=True)
        # A non-finite forward pass may have written NaN into running statistics: roll them back. Through
        # .data, because this batch's graph still references them (train-mode BatchNorm's backward ignores them).
        for buf, saved in zip(self.buffers(), self._buffers_at_batch_start):
            buf.data.copy_(saved)
        self._skipped_in_a_row += 1
        terms = ", ".join(f"{name}={float(value):.4g}" for name, value in logged.items())
        where = f"step {self.global_step} (epoch {self.current_epoch})"
        if self.on_nonfinite == "skip" and self._skipped_in_a_row <= self.max_skipped_steps:
            logged[f"train/{prefix}_skipped"] = torch.tensor(1.0)
            message = f"non-finite {prefix} loss or gradient at {where}: {terms}; optimizer step skipped"
            warnings.warn(message, stacklevel=2)
            return
        limit = f" after {self._skipped_in_a_row - 1} skipped steps in a row" if self.on_nonfinite == "skip" else ""
        raise FloatingPointError(
            f"non-finite {prefix} loss or gradient at {where}{limit}: {terms}. The weights were not updated and "
            f"no checkpoint holds non-finite weights. Resume from the last checkpoint (--ckpt_path last) with a "
            f"lower learning rate, or set --model.init_args.on_nonfinite skip"
        )

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
        if self.on_nonfinite == "skip":  # BatchNorm statistics of a skipped batch are rolled back (a few KB)
            self._buffers_at_batch_start = [buf.detach().clone() for buf in self.buffers()]

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

    # ------------------------------------------------------------------------------------------ exact resume
    def rank_state(self) -> dict[str, Any]:
        """Return this rank's state that shapes the coming steps and is not in ``state_dict``.

        The Python, NumPy and torch (CPU and this rank's CUDA device) RNG states and ``self.rng``; subclasses
        add theirs (CycleGAN: the image pools). Tensors and plain types only (``weights_only`` loading).
        """
        np_state = np.random.get_state()
        py_version, py_state, py_gauss = random.getstate()
        state: dict[str, Any] = {
            "torch": torch.get_rng_state(),
            "generator": self.rng.get_state(),
            "numpy": {
                "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
                "pos": int(np_state[2]),
                "has_gauss": int(np_state[3]),
                "cached_gaussian": float(np_state[4]),
            },
            "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
        }
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def load_rank_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`rank_state` output of the same rank (called when a resumed fit starts training)."""
        torch.set_rng_state(state["torch"])
        self.rng.set_state(state["generator"])
        np_state = state["numpy"]
        keys = np_state["keys"].numpy().astype(np.uint32)
        np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
        py = state["python"]
        random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
        if "cuda" in state and self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    @override
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Every rank's state, gathered to rank 0 (the writer); called on all ranks by trainer.save_checkpoint.
        state = self.rank_state()
        if dist.is_available() and dist.is_initialized() and self.trainer.world_size > 1:
            gathered: list[Any] | None = [None] * dist.get_world_size() if self.global_rank == 0 else None
            dist.gather_object(state, gathered, dst=0)
            checkpoint["rank_states"] = gathered if gathered is not None else []
        else:
            checkpoint["rank_states"] = [state]

    @override
    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self._rank_states = checkpoint.get("rank_states")

    @override
    def on_train_start(self) -> None:
        # The last hook before the first resumed batch: apply the saved RNG streams (and pools) here, after
        # on_fit_start's reseeding and the sanity check.
        states, self._rank_states = self._rank_states, None
        if not states:
            return
        if len(states) != self.trainer.world_size:
            rank_zero_warn(
                f"the checkpoint holds the state of {len(states)} rank(s) but this run has "
                f"{self.trainer.world_size}: RNG streams are reseeded and rank-local state (image pools) is "
                f"taken from rank (rank % {len(states)}); the run continues, but not bit-exactly"
            )
            saved, fresh = states[self.global_rank % len(states)], self.rank_state()
            self.load_rank_state({k: fresh[k] if k in RNG_STATE_KEYS else v for k, v in saved.items()})
            return
        self.load_rank_state(states[self.global_rank])

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

    def validation_losses(self, batch: dict[str, Any], pairs: dict[str, tuple[Tensor, Tensor]]) -> dict[str, Tensor]:
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

    @override
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        outputs = [self.translate_any_size(img[None], self.predict_direction)[0] for img in batch["A"]]
        return {"images": outputs, "paths": batch["A_path"]}
