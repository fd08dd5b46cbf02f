"""Run plumbing of every method: per-rank random streams and rank-local state, saved and restored exactly.

Lightning saves weights, optimizers, schedulers and loop progress, but no random number generator and no plain
Python attribute. :class:`RunStateMixin` (a base of :class:`~lit_translate.methods.TranslationModule`) adds
them: at every checkpoint each rank's :meth:`~RunStateMixin.rank_state` (Python, NumPy and torch RNG states,
``self.rng``, and what a method adds, e.g. CycleGAN's image pools) is gathered to rank 0 into
``checkpoint["rank_states"]``; a resumed fit gives each rank its own entry back just before the first resumed
batch. See ``docs/reliability.md`` for what is saved where.
"""

from __future__ import annotations

import os
import random
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

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


class RunStateMixin(LightningModule):
    """Per-rank random streams and rank-local state that survive a checkpoint bit for bit.

    Randomness in a training step must come from ``self.rng`` (a CPU ``torch.Generator``) or the global RNGs,
    which are all saved per rank; never from an unsaved generator.
    """

    def __init__(self) -> None:
        super().__init__()
        self.rng = torch.Generator()
        self._rank_states: list[dict[str, Any]] | None = None

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


__all__ = ["RNG_STATE_KEYS", "RunStateMixin", "capture_rng", "rank_seed", "restore_rng"]
