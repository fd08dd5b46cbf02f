"""A check that distributed training kept every rank's parameters identical."""

from __future__ import annotations

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from typing_extensions import override


def parameter_fingerprint(module: torch.nn.Module, buffers: bool = False) -> torch.Tensor:
    """Per-tensor float64 sums and sums of squares: equal on two ranks iff they hold the same values (a.s.)."""
    tensors = list(module.buffers()) if buffers else list(module.parameters())
    stats = [torch.stack([t.double().sum(), t.double().square().sum()]) for t in tensors if t.is_floating_point()]
    return torch.cat(stats) if stats else torch.zeros(2, dtype=torch.float64)


class RankSyncCheck(Callback):
    """At the end of a multi-process fit, verify that all ranks hold bit-identical parameters.

    Prints ``DDP check: parameters identical on all N ranks`` or raises ``RuntimeError``. Buffers (BatchNorm
    running statistics) are per-rank under DDP without SyncBatchNorm; a difference there is only reported.

    Args:
        enabled: run the check. Default: True.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.result: bool | None = None

    @override
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.enabled or trainer.world_size < 2:
            return
        params = pl_module.all_gather(parameter_fingerprint(pl_module).to(pl_module.device))
        buffers = pl_module.all_gather(parameter_fingerprint(pl_module, buffers=True).to(pl_module.device))
        self.result = bool((params == params[0]).all())
        if not self.result:
            raise RuntimeError("DDP check failed: parameters differ between ranks at the end of training")
        rank_zero_info(f"DDP check: parameters identical on all {trainer.world_size} ranks")
        if not bool((buffers == buffers[0]).all()):
            # Expected without SyncBatchNorm (each rank normalises its own batches): a note, not a warning.
            rank_zero_info("DDP check: buffers (BatchNorm running statistics) differ between ranks, as expected")
