"""Learning-rate policies of the reference implementations, as picklable ``LRScheduler`` classes."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from typing import Literal

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from lit_translate.choices import check_choice


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


class CosineAnnealingRestartLR(LRScheduler):
    """BasicSR's cosine annealing with restarts (``basicsr/models/lr_scheduler.py``); step it once per iteration.

    With cumulative period ends ``c_0 < c_1 < ...`` (``c_i = periods[0] + ... + periods[i]``), iteration ``t``
    (``last_epoch``) falls in the first cycle ``i`` with ``t <= c_i``, and the rate is
    ``eta_min + restart_weights[i] * (base_lr - eta_min) * (1 + cos(pi * (t - c_{i-1}) / periods[i])) / 2`` with
    ``c_{-1} = 0``. So the rate reaches ``eta_min`` at ``t = c_i`` and restarts at ``t = c_i + 1``, exactly as
    BasicSR. Past the last cycle (where BasicSR fails) it stays at the final value ``eta_min``; check that
    ``total_iters >= `` the number of training iterations when configuring.

    BasicSR calls ``step()`` before each optimizer step (its iteration 1 uses ``t = 1``); stepping after each
    optimizer step, as Lightning does, uses ``t = 0`` for the first one: the same curve, one iteration earlier.

    Args:
        optimizer: The optimizer whose learning rates are set.
        periods: Length of each cosine cycle in iterations (BasicSR MSRResNet: ``[250000] * 4``).
        restart_weights: Peak multiplier of each cycle, one per period (``[1, 1, 1, 1]``). Default ``(1,)``.
        eta_min: The minimum learning rate (``1e-7``). Default ``0``.
        last_epoch: Index of the last iteration, -1 to start fresh. Default ``-1``.

    Raises:
        ValueError: ``periods`` is empty or not positive, or ``restart_weights`` has another length.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        periods: Sequence[int],
        restart_weights: Sequence[float] = (1.0,),
        eta_min: float = 0.0,
        last_epoch: int = -1,
    ) -> None:
        if not periods or any(int(p) != p or p <= 0 for p in periods):
            raise ValueError(f"periods must be a non-empty list of positive iteration counts; got {list(periods)}")
        if len(restart_weights) != len(periods):
            raise ValueError(
                f"restart_weights ({list(restart_weights)}) must have one weight per period ({list(periods)}), "
                f"e.g. restart_weights={[1] * len(periods)}"
            )
        self.periods = [int(p) for p in periods]
        self.restart_weights = [float(w) for w in restart_weights]
        self.eta_min = float(eta_min)
        self.cumulative_period = list(itertools.accumulate(self.periods))
        super().__init__(optimizer, last_epoch)

    @property
    def total_iters(self) -> int:
        """The sum of ``periods``: the last iteration that has its own rate."""
        return self.cumulative_period[-1]

    def factor(self, base_lr: float, iteration: int) -> float:
        """Return the learning rate at ``iteration`` for a group whose initial rate is ``base_lr``."""
        t = min(iteration, self.total_iters)
        cycle = bisect.bisect_left(self.cumulative_period, t)  # first cycle whose end c_i >= t
        start = self.cumulative_period[cycle - 1] if cycle > 0 else 0
        cosine = 0.5 * (1.0 + math.cos(math.pi * (t - start) / self.periods[cycle]))
        return self.eta_min + self.restart_weights[cycle] * (base_lr - self.eta_min) * cosine

    def get_lr(self) -> list[float]:  # noqa: D102 (LRScheduler API)
        return [self.factor(base_lr, self.last_epoch) for base_lr in self.base_lrs]


class StepwiseLinearDecayLR(LRScheduler):
    """StarGAN's schedule (yunjey/stargan ``solver.py``): constant, then stepwise decreases; step once per iteration.

    The reference, after iteration ``j`` (1-based) with ``j % lr_update_step == 0`` and
    ``j > num_iters - num_iters_decay``, does ``lr -= initial_lr / num_iters_decay``. After ``t`` iterations
    (``last_epoch``) the rate is ``initial_lr - n(t) * delta`` with ``n(t) = max(0, t // lr_update_step -
    (num_iters - num_iters_decay) // lr_update_step)`` updates so far.

    ``decrement="reference"`` uses the code's ``delta = initial_lr / num_iters_decay``: with the defaults (200k
    iterations, decay over the last 100k, updates every 1000) that makes 100 decreases of ``lr / 100000``, so the rate
    ends at 0.999 of its start: the code barely decays. ``decrement="to_zero"`` uses ``delta = initial_lr *
    lr_update_step / num_iters_decay``, the linear decay to 0 that the paper describes, reaching 0 after
    ``num_iters``. Updates after ``num_iters`` are not counted, so the rate never goes below its final value.

    The reference counts iterations (D steps, one per batch), not G steps: step the G and D schedulers once per
    batch even when G updates only every ``n_critic`` batches.

    Args:
        optimizer: The optimizer whose learning rates are set.
        num_iters: Total training iterations. Default ``200000``.
        num_iters_decay: Iterations at the end over which the rate decays. Default ``100000``.
        lr_update_step: The rate changes every this many iterations. Default ``1000``.
        decrement: ``"reference"`` or ``"to_zero"`` (see above). Default ``"reference"``.
        last_epoch: Index of the last iteration, -1 to start fresh. Default ``-1``.

    Raises:
        ValueError: A count is not positive, ``num_iters_decay > num_iters`` or ``decrement`` is unknown.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        num_iters: int = 200000,
        num_iters_decay: int = 100000,
        lr_update_step: int = 1000,
        decrement: Literal["reference", "to_zero"] = "reference",
        last_epoch: int = -1,
    ) -> None:
        if min(num_iters, num_iters_decay, lr_update_step) <= 0 or num_iters_decay > num_iters:
            raise ValueError(
                f"StepwiseLinearDecayLR needs 0 < num_iters_decay <= num_iters and lr_update_step > 0; got "
                f"num_iters={num_iters}, num_iters_decay={num_iters_decay}, lr_update_step={lr_update_step}"
            )
        self.decrement = check_choice("decrement", decrement, ("reference", "to_zero"))
        self.num_iters, self.num_iters_decay, self.lr_update_step = num_iters, num_iters_decay, lr_update_step
        super().__init__(optimizer, last_epoch)

    def num_decreases(self, iteration: int) -> int:
        """Return how many decreases the reference has applied after ``iteration`` iterations."""
        t = min(iteration, self.num_iters)
        return max(0, t // self.lr_update_step - (self.num_iters - self.num_iters_decay) // self.lr_update_step)

    def get_lr(self) -> list[float]:  # noqa: D102 (LRScheduler API)
        steps = self.lr_update_step if self.decrement == "to_zero" else 1
        n = self.num_decreases(self.last_epoch)
        return [base_lr - n * base_lr * steps / self.num_iters_decay for base_lr in self.base_lrs]
