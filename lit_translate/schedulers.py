"""Learning-rate policies of the reference implementations, as picklable ``LRScheduler`` classes."""

from __future__ import annotations

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class LinearDecayLR(LRScheduler):
    """The reference "linear" policy: constant for ``n_epochs``, then linear decay over ``n_epochs_decay``.

    The multiplier for epoch ``e`` (0-based) is ``1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1)``, exactly
    as in junyanz/pytorch-CycleGAN-and-pix2pix (``lr_policy linear``, ``epoch_count`` 1). Step it once per epoch.

    Args:
        optimizer: the optimizer whose learning rates are scaled.
        n_epochs: epochs at the initial learning rate. Default: 100.
        n_epochs_decay: epochs over which the rate decays linearly towards 0. Default: 100.
        last_epoch: index of the last epoch, -1 to start fresh. Default: -1.
    """

    def __init__(
        self, optimizer: Optimizer, n_epochs: int = 100, n_epochs_decay: int = 100, last_epoch: int = -1
    ) -> None:
        if n_epochs < 0 or n_epochs_decay < 0:
            raise ValueError(f"n_epochs ({n_epochs}) and n_epochs_decay ({n_epochs_decay}) must be >= 0")
        self.n_epochs = n_epochs
        self.n_epochs_decay = n_epochs_decay
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        """Return the learning-rate multiplier for 0-based ``epoch``."""
        return 1.0 - max(0, epoch + 1 - self.n_epochs) / float(self.n_epochs_decay + 1)

    def get_lr(self) -> list[float]:  # noqa: D102 (LRScheduler API)
        return [base_lr * self.factor(self.last_epoch) for base_lr in self.base_lrs]
