"""What Lightning's manual optimization leaves undone, done once for every method (a base of the contract).

:class:`TrainingPlumbing` (a base of :class:`~lit_translate.methods.TranslationModule`) holds:

- **Iteration counting.** Lightning counts every optimizer step in ``global_step`` (2 per G+D batch, issue
  #17958); :meth:`~TrainingPlumbing.step_optimizer` counts only the first step of each batch, so
  ``global_step``, ``max_steps``, checkpoint intervals and the logger's x-axis mean iterations.
- **Schedulers.** Lightning never steps them in manual optimization: ``"epoch"``-interval ones step at each epoch
  end, ``"step"``-interval ones are brought to the iteration count before each batch.
- **The divergence guard** (:class:`~lit_translate.methods.parts.guard.NonFiniteGuard`).
- **Random streams and rank-local state for an exact resume.** Lightning saves weights, optimizers, schedulers
  and loop progress, but no random number generator and no plain Python attribute: at every checkpoint each
  rank's :meth:`~TrainingPlumbing.rank_state` (Python, NumPy and torch RNG states, ``self.rng``, and what a
  method adds, e.g. CycleGAN's image pools) is gathered to rank 0 into ``checkpoint["rank_states"]``; a resumed
  fit gives each rank its own entry back just before the first resumed batch. See ``docs/reliability.md``.
"""

from __future__ import annotations

import inspect
import os
import random
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from lightning.pytorch.cli import LRSchedulerCallable
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities import rank_zero_warn
from torch import nn
from typing_extensions import override

from lit_translate import compat
from lit_translate.choices import check_choice
from lit_translate.methods.parts.guard import NonFiniteGuard, NonFinitePolicy
from lit_translate.methods.types import INFERENCE_MODES, InferenceMode
from lit_translate.nets.frozen import frozen_buffer_names

RNG_STATE_KEYS = frozenset({"torch", "cuda", "generator", "numpy", "python"})
"""The keys of :meth:`RunStateMixin.rank_state` that are random streams (reseeded, not reused, across world sizes)."""


def capture_rng(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Return the Python, NumPy, torch (CPU and ``device``'s CUDA) and ``generator`` states as tensors/plain types."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "generator": generator.get_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_version, "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    """Restore what :func:`capture_rng` returned."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, np_state["pos"], np_state["has_gauss"], np_state["cached_gaussian"]))
    py = state["python"]
    random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss"]))
    if "cuda" in state and device.type == "cuda":
        torch.cuda.set_rng_state(state["cuda"], device)


def rank_seed(seed: int, rank: int) -> int:
    """Return the seed of ``rank``'s random streams for a run seeded with ``seed``."""
    return int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


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


class TrainingPlumbing(LightningModule):
    """Iteration counting, scheduler stepping, the divergence guard and per-rank state for an exact resume.

    Randomness in a training step must come from ``self.rng`` (a CPU ``torch.Generator``) or the global RNGs,
    which are all saved per rank; never from an unsaved generator.

    Args:
        on_nonfinite: the divergence guard's policy, ``"stop"`` or ``"skip"``.
        max_skipped_steps: with ``"skip"``, stop after this many optimizer steps skipped in a row.
    """

    def __init__(self, on_nonfinite: NonFinitePolicy = "stop", max_skipped_steps: int = 20) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.guard = NonFiniteGuard(on_nonfinite, max_skipped_steps)
        self.rng = torch.Generator()
        self._rank_states: list[dict[str, Any]] | None = None
        self._counted_this_batch = False

    def save_config_hyperparameters(self) -> None:
        """Save the constructor arguments so that checkpoints rebuild the model.

        Under LightningCLI the injected nets and optimizers are stored as their ``class_path`` configs, which
        ``load_from_checkpoint`` re-instantiates. Built in plain Python, module and callable arguments are left
        out (they cannot be stored in a ``weights_only`` checkpoint); load such checkpoints with
        ``load_state_dict``.
        """
        frame = inspect.currentframe()
        assert frame is not None and frame.f_back is not None
        if compat.cli_hyperparameters() is not None:
            self.save_hyperparameters()
            return
        local = frame.f_back.f_locals
        ignore = [k for k, v in local.items() if isinstance(v, nn.Module) or callable(v) or k == "self"]
        self.save_hyperparameters(ignore=ignore, frame=frame.f_back)

    @override
    def setup(self, stage: str) -> None:
        # Frozen auxiliary networks (nets.frozen.FrozenModule, e.g. VGGFeatures) are identical on every rank: keep
        # DDP from broadcasting their buffers at start-up and before every forward (before Lightning wraps it).
        names = frozen_buffer_names(self)
        if names:
            compat.ignore_in_ddp(self, names)

    # ------------------------------------------------------------------------------- counting and schedulers
    def step_optimizer(self, optimizer: LightningOptimizer) -> None:
        """Step ``optimizer``, counting only the first optimizer step of each batch in ``global_step``."""
        if not self._counted_this_batch or not isinstance(optimizer, LightningOptimizer):
            optimizer.step()
            self._counted_this_batch = True
            return
        compat.step_uncounted(optimizer)

    def build_schedulers(
        self,
        factory: LRSchedulerCallable | None,
        optimizers: list[Any],
        interval: Literal["epoch", "step"] = "epoch",
        names: Sequence[str] | None = None,
    ) -> list[Any]:
        """Instantiate one scheduler per optimizer (none when ``factory`` is None), stepped per ``interval``.

        ``"epoch"`` schedulers (the reference "linear" policy) step at each epoch end, ``"step"`` ones (BasicSR's
        MultiStep and cosine restarts) after every iteration; both are checkpointed and resume exactly.

        Args:
            factory: the scheduler factory from the config, or None for a constant learning rate.
            optimizers: the optimizers, in ``configure_optimizers`` order.
            interval: ``"epoch"`` or ``"step"``. Default: ``"epoch"``.
            names: one network name per optimizer (e.g. ``("G", "D")``): the learning rates are logged as
                ``lr/<name>`` instead of Lightning's ``lr-Adam``, ``lr-Adam-1``. Default: None (Lightning's names).
        """
        check_choice("interval", interval, ("epoch", "step"))
        if names is not None and len(names) != len(optimizers):
            raise ValueError(f"build_schedulers: {len(names)} names {tuple(names)} for {len(optimizers)} optimizers")
        if factory is None:
            return []
        if interval == "epoch" and names is None:
            return [factory(opt) for opt in optimizers]
        configs = [{"scheduler": factory(opt), "interval": interval} for opt in optimizers]
        for config, name in zip(configs, names or (), strict=False):
            config["name"] = f"lr/{name}"  # LearningRateMonitor's key
        return configs

    @override
    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._counted_this_batch = False
        self.guard.batch_start(self)
        # Each logged row holds only what this iteration logged (no stale G terms at StarGAN's D-only steps).
        compat.forget_step_values(self.trainer)
        # "step"-interval schedulers are brought to the iteration count here, before the batch: a checkpoint
        # written at the end of iteration k (callbacks run before module hooks) then holds the scheduler of
        # iteration k, and a resumed run catches up exactly.
        # A method whose optimizers step only every few iterations (update_cycle > 1: StarGAN's and the
        # unconditional GANs' G every n_critic) steps G's scheduler before G's first step by design, as the
        # references decay on their iteration counter; PyTorch's "step() before optimizer.step()" check cannot
        # tell, so that one message is silenced for them.
        with warnings.catch_warnings():
            if self.update_cycle > 1:
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
            for config in self.trainer.lr_scheduler_configs:
                if config.interval == "step":
                    for _ in range(self.global_step - config.scheduler.last_epoch):
                        config.scheduler.step()

    @override
    def on_train_epoch_end(self) -> None:
        # "epoch"-interval schedulers (the reference's linear policy); checkpoint callbacks run after this hook.
        for config in self.trainer.lr_scheduler_configs:
            if config.interval == "epoch":
                config.scheduler.step()

    # ------------------------------------------------------------------------------------------ exact resume

    def rank_state(self) -> dict[str, Any]:
        """Return this rank's state that shapes the coming steps and is not in ``state_dict``.

        The random streams (see :func:`capture_rng`); subclasses add theirs (CycleGAN: the image pools).
        Tensors and plain types only, so that checkpoints load with ``weights_only=True``.
        """
        return capture_rng(self.rng, self.device)

    def load_rank_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`rank_state` output of the same rank (called when a resumed fit starts training)."""
        restore_rng(state, self.rng, self.device)

    @override
    def on_fit_start(self) -> None:
        # seed_everything gives every rank the same RNG stream: dropout masks, pool coin flips and noise would
        # be duplicated across ranks. Reseed per rank (parameters stay equal: DDP broadcasts rank 0's).
        seed = rank_seed(int(os.environ.get("PL_GLOBAL_SEED", 0)), self.global_rank)
        self.rng.manual_seed(seed)
        if self.trainer.world_size > 1:
            torch.manual_seed(seed)

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
        # The last hook before the first resumed batch: apply the saved streams (and rank-local state) here,
        # after on_fit_start's reseeding and the sanity check.
        states, self._rank_states = self._rank_states, None
        if not states:
            return
        if len(states) != self.trainer.world_size:
            rank_zero_warn(
                f"the checkpoint holds the state of {len(states)} rank(s) but this run has "
                f"{self.trainer.world_size}: random streams are reseeded and rank-local state is taken from "
                f"rank (rank % {len(states)}); the run continues, but not bit-exactly"
            )
            saved, fresh = states[self.global_rank % len(states)], self.rank_state()
            self.load_rank_state({k: fresh[k] if k in RNG_STATE_KEYS else v for k, v in saved.items()})
            return
        self.load_rank_state(states[self.global_rank])


__all__ = [
    "INFERENCE_MODES",
    "RNG_STATE_KEYS",
    "InferenceMode",
    "TrainingPlumbing",
    "capture_rng",
    "inference_context",
    "rank_seed",
    "restore_rng",
]
