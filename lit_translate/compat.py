"""Every private Lightning, torchmetrics or torch API lit_translate relies on, behind one small function each.

Public API could not do these; each shim says what it reaches into and why. They were verified on the versions
in :data:`VERIFIED` (``constraints.txt``); ``tests/test_compat.py`` exercises every shim against the installed
versions and fails naming the shim when an upgrade moves or renames what it uses. Nothing outside this module
touches those private names.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

import torch
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.core.mixins import hparams_mixin
from lightning.pytorch.core.optimizer import LightningOptimizer
from torch import nn

VERIFIED = {"lightning": "2.6.6", "torchmetrics": "1.9.0", "torch": "2.14.1"}
"""The versions every shim below was read and tested against."""


# ------------------------------------------------------------------------------------------- hyper-parameters
def cli_hyperparameters() -> dict[str, Any] | None:
    """Return the constructor config LightningCLI is instantiating the model with, or None outside the CLI.

    Uses ``lightning.pytorch.core.mixins.hparams_mixin._given_hyperparameters`` (a ContextVar). Under the CLI the
    injected nets and optimizers are stored as their ``class_path`` configs, which ``load_from_checkpoint``
    re-instantiates; in plain Python they are modules and must be left out of the hyper-parameters.
    """
    return hparams_mixin._given_hyperparameters.get()


# ------------------------------------------------------------------------------------------------ step counting
def _do_nothing() -> None:
    return None


def step_uncounted(optimizer: LightningOptimizer) -> None:
    """Step ``optimizer`` without Lightning counting the step in ``global_step``.

    Lightning's manual loop counts every ``LightningOptimizer.step`` through the optimizer's ``_on_before_step`` /
    ``_on_after_step`` hooks (issue #17958: 2 steps per G+D batch). lit_translate counts iterations, so every step
    after the first of a batch runs with those two hooks disabled. Precision plugins (GradScaler) and strategies
    still run, because they live in ``step`` itself.
    """
    before, after = optimizer._on_before_step, optimizer._on_after_step
    optimizer._on_before_step = optimizer._on_after_step = _do_nothing
    try:
        optimizer.step()
    finally:
        optimizer._on_before_step, optimizer._on_after_step = before, after


# ---------------------------------------------------------------------------------------------------- loops
def batches_done(trainer: Trainer) -> int:
    """Return how many training batches of the current epoch have been processed (as Lightning counts them).

    Reads ``trainer.fit_loop.epoch_loop.batch_progress.current.processed``; the DataModules checkpoint this
    position so that a mid-epoch resume skips exactly the batches already trained.
    """
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


def between_batches(trainer: Trainer) -> bool:
    """Tell whether training stands between two batches of an epoch (the last one done, the next not started).

    Reads ``trainer.fit_loop.epoch_loop.batch_progress``: every counter (ready, started, processed, completed)
    equal and the epoch neither at its start nor at its end. Lightning resumes such a state as "restarted on
    last" (loops, logging step and the DataModule position all agree), so a checkpoint written here is exact.
    """
    progress = trainer.fit_loop.epoch_loop.batch_progress
    total, current = progress.total, progress.current
    settled = total.ready == total.started == total.processed == total.completed
    return settled and 0 < current.completed < trainer.num_training_batches


def skip_next_validation(trainer: Trainer) -> None:
    """Skip the validation Lightning runs after this batch because ``trainer.should_stop`` was set.

    Lightning validates when a fit is asked to stop (for early stopping: the last metrics); a run stopped by a
    signal has already written its checkpoint and must exit at once (a full validation pass, or FID, can outlast
    SLURM's warning). Sets ``trainer.fit_loop.epoch_loop._skip_next_val``, which Lightning reads and clears in
    ``on_advance_end`` (it sets it itself for a resume that restarts on the last batch).
    """
    trainer.fit_loop.epoch_loop._skip_next_val = True


def forget_step_values(trainer: Trainer, prefix: str = "train/") -> None:
    """Stop Lightning from logging again, at later steps of the epoch, step values logged at an earlier step.

    Lightning keeps the last value of every ``self.log(..., on_step=True, on_epoch=False)`` key in its result
    collection (``trainer._results``, ``_ResultMetric._forward_cache``) until the epoch ends, and writes it to the
    loggers at every later step, as if it had been logged there. A method that steps an optimizer only every
    ``n_critic`` iterations (StarGAN's G) would then log stale G losses at the D-only steps, and differently in a
    resumed run (which starts without them). Marking those entries ``has_reset`` (what ``_ResultMetric.reset`` sets,
    and ``update_metrics`` clears at the next ``self.log``) drops them from this step's row; a method that logs a
    key at every step is unaffected.

    Args:
        trainer: the fitting trainer.
        prefix: only keys starting with it (the training losses). Default: ``"train/"``.
    """
    results = getattr(trainer, "_results", None)
    if results is None:
        return
    for result_metric in results.values():
        meta = result_metric.meta
        if meta.on_step and not meta.on_epoch and meta.name.startswith(prefix):
            result_metric.has_reset = True


# ------------------------------------------------------------------------------------------------ torchmetrics
def merge_list_states(metric: Any) -> None:
    """Concatenate each list state of a torchmetrics ``Metric`` into one tensor, so that DDP sync lines up.

    ``KernelInceptionDistance`` keeps its features as lists with ``dist_reduce_fx=None``: ``Metric._sync_dist``
    then gathers the list element by element (only ``"cat"`` lists are concatenated first), so ranks that updated
    a different number of times (a rank with one batch fewer, common with uneven shards) issue different numbers
    of collectives and crash or hang. Setting each non-empty list to ``[torch.cat(list)]`` (the states are the
    metric's attributes, listed by the public ``metric_state``) gives every rank exactly one gather, with the
    features in the same order; the values are unchanged (``compute`` concatenates them anyway).

    Args:
        metric: a torchmetrics ``Metric`` (metrics without list states are left alone).
    """
    for name, value in metric.metric_state.items():
        if isinstance(value, list) and len(value) > 1:
            setattr(metric, name, [torch.cat(value)])


# ------------------------------------------------------------------------------------------- ModelCheckpoint
def monitor_candidates(callback: ModelCheckpoint, trainer: Trainer) -> dict[str, Any]:
    """Return the metrics a checkpoint is ranked and named by (``ModelCheckpoint._monitor_candidates``)."""
    return callback._monitor_candidates(trainer)


def save_last(callback: ModelCheckpoint, trainer: Trainer) -> None:
    """Write ``last.ckpt`` now (``ModelCheckpoint._save_last_checkpoint``)."""
    callback._save_last_checkpoint(trainer, monitor_candidates(callback, trainer))


def save_top_k_and_last(callback: ModelCheckpoint, trainer: Trainer, candidates: dict[str, Any]) -> None:
    """Write a periodic checkpoint and ``last.ckpt`` now (``_save_topk_checkpoint``, ``_save_last_checkpoint``)."""
    callback._save_topk_checkpoint(trainer, candidates)
    callback._save_last_checkpoint(trainer, candidates)


def skip_saving(callback: ModelCheckpoint, trainer: Trainer) -> bool:
    """Tell whether a save must not happen now (sanity check, fast_dev_run, already saved this step, ...)."""
    return bool(callback._should_skip_saving_checkpoint(trainer))


def defer_save_until_validation(callback: ModelCheckpoint) -> None:
    """Postpone a due save to the end of the next validation, where the monitored metric exists."""
    callback._defer_save_until_validation = True


def last_saved_step(callback: ModelCheckpoint) -> int:
    """Return the ``global_step`` of the callback's last save (``_last_global_step_saved``)."""
    return int(callback._last_global_step_saved)


def mark_saved(callback: ModelCheckpoint, step: int) -> None:
    """Record that the callback saved at ``step`` (so it does not save the same step twice)."""
    callback._last_global_step_saved = step


def set_intervals(callback: ModelCheckpoint, every_n_epochs: int, train_time_interval: Any) -> None:
    """Set the epoch and time intervals after construction (``_every_n_epochs``, ``_train_time_interval``).

    ``ModelCheckpoint.__init__`` rejects any two intervals together, but its epoch logic is independent of the
    step and time logic, which :class:`~lit_translate.callbacks.RunCheckpoint` implements itself; so the three
    combine.
    """
    callback._every_n_epochs = every_n_epochs
    callback._train_time_interval = train_time_interval


def train_step_interval(callback: ModelCheckpoint) -> int:
    """Return the callback's ``every_n_train_steps`` (0 = off)."""
    return int(callback._every_n_train_steps)


def train_time_interval(callback: ModelCheckpoint) -> Any:
    """Return the callback's ``train_time_interval`` (a ``timedelta`` or None)."""
    return callback._train_time_interval


def time_last_checked(callback: ModelCheckpoint) -> float | None:
    """Return the monotonic time of the last time-interval check (None before training starts)."""
    return callback._last_time_checked


def set_time_last_checked(callback: ModelCheckpoint, now: float) -> None:
    """Record the monotonic time of a time-interval save."""
    callback._last_time_checked = now


# ----------------------------------------------------------------------------------------------------- torch
def ignore_in_ddp(module: nn.Module, names: Iterable[str]) -> None:
    """Make a later ``DistributedDataParallel(module)`` skip these parameters and buffers entirely.

    Uses ``DistributedDataParallel._set_params_and_buffers_to_ignore_for_model`` (it sets
    ``module._ddp_params_and_buffers_to_ignore``, which DDP reads at construction): the named tensors are neither
    broadcast from rank 0 at start-up nor, for buffers, before every forward (``broadcast_buffers``), nor reduced.
    For frozen tensors that are identical on every rank by construction, such as the VGG loss network's weights
    (tens of MB per step otherwise). Call it before Lightning wraps the module (``setup``); it replaces any
    previous list.

    Args:
        module: The module DDP will wrap (the LightningModule).
        names: Fully qualified names relative to ``module``, as ``named_parameters``/``named_buffers`` give them.
    """
    from torch.nn.parallel import DistributedDataParallel

    DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(module, list(names))


# ---------------------------------------------------------------------------------------------- resume / W&B
def fit_checkpoint_path(trainer: Trainer, ckpt_path: str | None) -> str | None:
    """Return the checkpoint file ``trainer.fit(ckpt_path=...)`` will restore, or None (start from scratch).

    Uses ``trainer._checkpoint_connector._parse_ckpt_path``, Lightning's own resolution of ``"last"`` (the newest
    ``last*.ckpt`` of the checkpoint callbacks), ``"hpc"`` (the newest ``hpc_ckpt_N.ckpt``; also chosen without
    ``ckpt_path`` under SLURM), ``"best"`` and plain paths, so that what is read before fit is the file fit
    restores. Its warnings and errors are left to the real call in ``fit``: here they are silenced and an error
    means None.
    """
    from lightning.pytorch.trainer.states import TrainerFn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            path = trainer._checkpoint_connector._parse_ckpt_path(
                TrainerFn.FITTING, ckpt_path, model_provided=True, model_connected=False
            )
        except (ValueError, OSError):
            return None
    return None if path is None else str(path)


def set_wandb_run_id(logger: Any, run_id: str) -> None:
    """Make a ``WandbLogger`` whose run has not started yet start (resume) the W&B run ``run_id``.

    Sets ``WandbLogger._wandb_init["id"]`` (the ``wandb.init`` arguments) and ``_id`` (what ``version`` reports
    before the run starts): the logger is built by the CLI before the checkpoint to restore is known.
    """
    if logger._experiment is not None:
        raise RuntimeError(f"the W&B run {logger.version} has already started: cannot switch it to {run_id}")
    logger._wandb_init["id"] = run_id
    logger._id = run_id


# ------------------------------------------------------------------------------------------------ strategies
def default_process_group_timeout() -> Any:
    """Return Lightning's default collective timeout (``lightning.fabric.plugins.collectives.torch_collective``).

    ``DDPStrategy`` uses it as its ``timeout`` default (30 minutes); ``GANDDPStrategy`` keeps the same default.
    """
    from lightning.fabric.plugins.collectives.torch_collective import default_pg_timeout

    return default_pg_timeout


def sync_module_states(module: nn.Module) -> None:
    """Broadcast every parameter and buffer of ``module`` from rank 0, as DDP's constructor does.

    Uses ``lightning.pytorch.overrides.distributed._sync_module_states``: ``GANDDPStrategy`` wraps nothing, so
    this start-of-fit broadcast is the one part of ``DistributedDataParallel.__init__`` it needs.
    """
    from lightning.pytorch.overrides.distributed import _sync_module_states

    _sync_module_states(module)


DDP_WRAPPER_HOOKS = ("_register_ddp_hooks", "_enable_model_averaging")
"""``DDPStrategy`` methods that assume a ``DistributedDataParallel`` wrapper (see :func:`without_ddp_wrapper`)."""


def without_ddp_wrapper(strategy_cls: type) -> type:
    """Class decorator for a ``DDPStrategy`` subclass that wraps nothing in ``DistributedDataParallel``.

    Replaces the private ``DDPStrategy._register_ddp_hooks`` (asserts the model is a DDP on CUDA and registers
    communication hooks on its reducer) by a no-op, and ``_enable_model_averaging`` (post-local-SGD on the
    reducer) by a clear error: neither has a reducer to work on.
    """

    def _register_ddp_hooks(self: Any) -> None:
        return None

    def _enable_model_averaging(self: Any) -> None:
        raise ValueError(f"{strategy_cls.__name__} does not support post-local-SGD model averaging; use strategy: ddp")

    strategy_cls._register_ddp_hooks = _register_ddp_hooks
    strategy_cls._enable_model_averaging = _enable_model_averaging
    return strategy_cls


# --------------------------------------------------------------------------------------------- torchmetrics
def lpips_network(net: str) -> nn.Module:
    """Build torchmetrics' LPIPS network with its v0.1 linear layers and a random, never downloaded backbone.

    Uses ``torchmetrics.functional.image.lpips._NoTrainLpips(net=..., pnet_rand=True)``: the public
    ``LearnedPerceptualImagePatchSimilarity`` always downloads the torchvision backbone, which offline machines
    cannot; lit_translate loads the backbone from the weights registry instead.
    """
    from torchmetrics.functional.image import lpips as tm_lpips

    return tm_lpips._NoTrainLpips(net=net, pnet_rand=True)


__all__ = [
    "DDP_WRAPPER_HOOKS",
    "VERIFIED",
    "batches_done",
    "between_batches",
    "cli_hyperparameters",
    "default_process_group_timeout",
    "defer_save_until_validation",
    "fit_checkpoint_path",
    "ignore_in_ddp",
    "last_saved_step",
    "lpips_network",
    "mark_saved",
    "monitor_candidates",
    "save_last",
    "save_top_k_and_last",
    "set_intervals",
    "set_wandb_run_id",
    "set_time_last_checked",
    "skip_next_validation",
    "skip_saving",
    "step_uncounted",
    "sync_module_states",
    "time_last_checked",
    "train_step_interval",
    "train_time_interval",
    "without_ddp_wrapper",
]
