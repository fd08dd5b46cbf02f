"""The smallest complete method, kept as the worked example of docs/architecture.md ("Adding a method").

It lives in the tests (``tests/configs/template/demo.yaml`` puts it under the same discovered harness as the real
methods: training, checkpoint round trip, exact resume, 2-process DDP) and plays the role of junyanz's
``template_model.py``, except that it is tested. One generator, one optimizer, one loss term: an L1 regression of
the paired target, ``G* = arg min_G E ||G(a) - b||_1``.
"""

from __future__ import annotations

from typing import Any

import torch.nn.functional as F
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from torch import Tensor, nn
from typing_extensions import override

from lit_translate.methods.base import InferenceMode, NonFinitePolicy, Pairs, Target, TranslationModule


class TemplateMethod(TranslationModule):
    """One generator trained with ``lambda_l1 * L1(G(A), B)`` on paired batches ``{"A", "B"}``.

    Args:
        generator: maps A ``(N, C_a, H, W)`` to B ``(N, C_b, H, W)``, both in [-1, 1].
        optimizer: optimizer factory for the generator. Default: None = Adam(2e-4, (0.5, 0.999)).
        lr_scheduler: per-epoch scheduler factory. Default: None (constant learning rate).
        lambda_l1: weight of the L1 term. Default: 1.0.
        inference_mode: ``"eval"`` or ``"train"`` (see ``TranslationModule``). Default: ``"eval"``.
        on_nonfinite: ``"stop"`` or ``"skip"`` (see ``TranslationModule``). Default: ``"stop"``.
        max_skipped_steps: with ``"skip"``, stop after this many skipped steps in a row. Default: 20.
    """

    def __init__(
        self,
        generator: nn.Module,
        optimizer: OptimizerCallable | None = None,
        lr_scheduler: LRSchedulerCallable | None = None,
        lambda_l1: float = 1.0,
        inference_mode: InferenceMode = "eval",
        on_nonfinite: NonFinitePolicy = "stop",
        max_skipped_steps: int = 20,
    ) -> None:
        super().__init__(inference_mode, on_nonfinite, max_skipped_steps)
        self.save_config_hyperparameters()  # under LightningCLI, the nets' class_path configs go into checkpoints
        self.generator = generator
        self.optimizer, self.lr_scheduler = optimizer, lr_scheduler
        self.lambda_l1 = lambda_l1

    @override
    def generator_for(self, target: Target) -> nn.Module:
        return self.generator

    @override
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        # One optimizer: no toggling needed. optimize() sums the terms, backpropagates, checks for non-finite
        # values, steps, and logs train/g_l1 and train/g_total.
        fake_b = self.generator(batch["A"])
        self.optimize(self.optimizers(), {"l1": self.lambda_l1 * F.l1_loss(fake_b, batch["B"])}, prefix="g")

    @override
    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        return {"input": batch["A"], "output": self.translate(batch["A"]), "target": batch["B"]}

    @override
    def evaluation_pairs(self, batch: dict[str, Any]) -> Pairs:
        return {"": (self.translate(batch["A"]), batch["B"])}

    @override
    def validation_losses(self, batch: dict[str, Any], pairs: Pairs) -> dict[str, Tensor]:
        fake_b, real_b = pairs[""]
        return {"l1": F.l1_loss(fake_b.float(), real_b.float())}

    @override
    def configure_optimizers(self) -> Any:
        optimizer = self.build_optimizer(self.optimizer, self.generator.parameters())
        return [optimizer], self.build_schedulers(self.lr_scheduler, [optimizer])
