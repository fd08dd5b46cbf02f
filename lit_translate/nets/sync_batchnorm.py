"""Synchronised batch norm that also runs on CPU processes (gloo), for ``--trainer.sync_batchnorm true``.

``torch.nn.SyncBatchNorm`` raises on CPU tensors once a process group of several ranks exists, so a CPU run
of SPADE's ``spectralspadesyncbatch3x3`` under ``gan_ddp`` (2 processes, the tests) could not synchronise.
:class:`CPUSyncBatchNorm` is the same module with a CPU path: the batch mean, then the biased variance, are
all-reduced over the ranks (two differentiable ``all_reduce`` calls, so the backward is synchronised too), which
makes 2 ranks at batch ``b`` compute what 1 process computes at ``2b``. On GPUs it is ``SyncBatchNorm`` itself.
:func:`use_cpu_sync` retypes the ``SyncBatchNorm`` layers that Lightning's ``sync_batchnorm`` made.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor, nn


class CPUSyncBatchNorm(nn.SyncBatchNorm):
    """``nn.SyncBatchNorm`` that synchronises CPU tensors too (see the module docstring)."""

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 - nn.SyncBatchNorm's name
        """Normalise ``input`` with the statistics of the whole distributed batch (CPU), else as the parent."""
        group = self.process_group or (dist.group.WORLD if dist.is_available() and dist.is_initialized() else None)
        if input.device.type != "cpu" or not self.training or group is None or dist.get_world_size(group) < 2:
            return super().forward(input)
        from torch.distributed.nn.functional import all_reduce  # differentiable collectives

        dims = [0, *range(2, input.dim())]
        count = input.new_tensor([input.numel() / input.shape[1]])
        totals = all_reduce(torch.cat((input.sum(dims), count)), group=group)
        n = totals[-1]
        mean = totals[:-1] / n
        shape = (1, -1) + (1,) * (input.dim() - 2)
        centred = input - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims), group=group) / n
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            self._update_running_stats(mean.detach(), var.detach(), float(n))
        out = centred / torch.sqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, n: float) -> None:
        assert self.num_batches_tracked is not None and self.running_mean is not None
        assert self.running_var is not None
        self.num_batches_tracked.add_(1)
        momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.lerp_(mean, momentum)
        self.running_var.lerp_(var * n / max(n - 1.0, 1.0), momentum)


def use_cpu_sync(module: nn.Module) -> int:
    """Retype every ``nn.SyncBatchNorm`` in ``module`` to :class:`CPUSyncBatchNorm` (same state); return how many."""
    count = 0
    for layer in module.modules():
        if type(layer) is nn.SyncBatchNorm:
            layer.__class__ = CPUSyncBatchNorm
            count += 1
    return count


__all__ = ["CPUSyncBatchNorm", "use_cpu_sync"]
