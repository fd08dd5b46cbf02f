"""The divergence guard: a non-finite loss or gradient never reaches the weights.

After each backward pass :class:`NonFiniteGuard` checks the loss and the gradient norm of the optimizer's
parameters (one device sync per optimizer step; under DDP the ranks agree through one all-reduce of a flag, so no
rank steps alone). Under a GradScaler (fp16) only the loss is checked: overflowing gradients are routine there and
the scaler skips those steps itself. The policy is ``"stop"`` (raise before the weights change) or ``"skip"``
(drop the step, roll back the running statistics the bad forward pass touched, and stop after too many skips in a
row). See ``docs/reliability.md``.
"""

from __future__ import annotations

import warnings
from typing import Literal

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import Tensor

from lit_translate.choices import check_choice

NonFinitePolicy = Literal["stop", "skip"]
NONFINITE_POLICIES = ("stop", "skip")


class NonFiniteGuard:
    """Apply ``on_nonfinite`` to optimizer steps whose loss or gradients are not finite.

    Args:
        policy: ``"stop"`` raises ``FloatingPointError`` naming the step and the loss terms, before the weights
            are touched; ``"skip"`` drops that optimizer step.
        max_skipped_steps: with ``"skip"``, stop after this many optimizer steps skipped in a row.
    """

    def __init__(self, policy: NonFinitePolicy = "stop", max_skipped_steps: int = 20) -> None:
        check_choice("on_nonfinite", policy, NONFINITE_POLICIES)
        if max_skipped_steps < 1:
            raise ValueError(f"max_skipped_steps must be >= 1, got {max_skipped_steps}")
        self.policy: NonFinitePolicy = policy
        self.max_skipped_steps = max_skipped_steps
        self.skipped_in_a_row = 0
        self._buffers_at_batch_start: list[Tensor] = []

    def batch_start(self, module: LightningModule) -> None:
        """Snapshot the running statistics (a few KB) so that a skipped step can roll them back."""
        if self.policy == "skip":
            self._buffers_at_batch_start = [buf.detach().clone() for buf in module.buffers()]

    def all_finite(self, module: LightningModule, total: Tensor, optimizer: LightningOptimizer) -> bool:
        """Tell whether the loss and the gradients are finite, with one answer agreed by every rank."""
        trainer = module.trainer
        finite = torch.isfinite(total.detach())
        if getattr(trainer.precision_plugin, "scaler", None) is None:
            grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if grads:
                finite = finite & torch.isfinite(torch.stack(torch._foreach_norm(grads))).all()
        if trainer.world_size > 1:  # DDP: one rank's inf must not leave the others stepping alone
            return bool(trainer.strategy.reduce_boolean_decision(bool(finite), all=True))
        return bool(finite)

    def skip(
        self, module: LightningModule, optimizer: LightningOptimizer, logged: dict[str, Tensor], prefix: str
    ) -> None:
        """Drop the step (and warn), or raise ``FloatingPointError`` when the policy says stop."""
        optimizer.zero_grad(set_to_none=True)
        # A non-finite forward pass may have written NaN into running statistics: roll them back. Through
        # .data, because this batch's graph still references them (train-mode BatchNorm's backward ignores them).
        for buf, saved in zip(module.buffers(), self._buffers_at_batch_start):
            buf.data.copy_(saved)
        self.skipped_in_a_row += 1
        terms = ", ".join(f"{name}={float(value):.4g}" for name, value in logged.items())
        where = f"step {module.global_step} (epoch {module.current_epoch})"
        if self.policy == "skip" and self.skipped_in_a_row <= self.max_skipped_steps:
            logged[f"train/{prefix}_skipped"] = torch.tensor(1.0)
            message = f"non-finite {prefix} loss or gradient at {where}: {terms}; optimizer step skipped"
            warnings.warn(message, stacklevel=3)
            return
        limit = f" after {self.skipped_in_a_row - 1} skipped steps in a row" if self.policy == "skip" else ""
        raise FloatingPointError(
            f"non-finite {prefix} loss or gradient at {where}{limit}: {terms}. The weights were not updated and "
            f"no checkpoint holds non-finite weights. Resume from the last checkpoint (--ckpt_path last) with a "
            f"lower learning rate, or set --model.init_args.on_nonfinite skip"
        )

    def stepped(self) -> None:
        """Record a finite optimizer step (the count of skips in a row starts again)."""
        self.skipped_in_a_row = 0


__all__ = ["NONFINITE_POLICIES", "NonFiniteGuard", "NonFinitePolicy"]
