"""GAN-aware data parallelism: every optimizer step averages exactly its own parameters' gradients.

Lightning's ``DDPStrategy`` wraps the whole LightningModule (G and D together) in one
``DistributedDataParallel``. A GAN iteration runs one backward per network, each reaching only some of the
parameters, so it needs ``find_unused_parameters=True``: a traversal of the autograd graph per backward, and a
reducer that waits on every parameter of the module. :class:`GANDDPStrategy` (``strategy: gan_ddp``) uses no
DDP wrapper (the StyleGAN3 design, NVlabs/stylegan3 ``training/training_loop.py``):

- at the start of ``fit`` every parameter and buffer is broadcast from rank 0 (as DDP's constructor does);
- ``optimizer.step()`` first all-reduces the gradients of *that optimizer's* parameters (flattened into buckets
  of ``bucket_cap_mb``, pre-divided by the world size as DDP does), then steps. What is synchronised follows from
  ``configure_optimizers`` alone: a frozen D in the G step, several forwards of one net, a gradient penalty's
  double backward (``autograd.grad(create_graph=True)``) or a BatchNorm D called on real and fake before one
  backward need nothing special, and parameters in no optimizer (EMA copies, frozen VGG) are never sent;
- after every ``training_step`` the persistent buffers (BatchNorm running statistics) of the trained networks
  are averaged over ranks (``buffer_sync="average"``) or copied from rank 0 (``"broadcast"``, DDP's rule, which
  DDP applies at the *start* of the step), so every rank validates and checkpoints with the same buffers.
  Non-persistent buffers (constants such as a frozen VGG stored that way) and the buffers of networks whose
  parameters are in no optimizer (EMA copies, frozen auxiliary nets) are left alone.

Checkpoints keep the module's own keys (no ``module.`` prefix): nothing is wrapped.

Mixed precision: the all-reduce runs inside the optimizer closure, before the precision plugin's
``GradScaler.unscale_``, so an inf on any rank is an inf on every rank and the scaler skips the step
everywhere. ``TranslationModule``'s non-finite guard checks each rank's local gradients before
``optimizer.step()`` and agrees with ``reduce_boolean_decision(all=True)``: every rank skips together (no rank
enters the all-reduce alone), and finite local gradients give finite averages (they are pre-divided, so the sum
cannot overflow).

Not supported (a clear error): DDP communication hooks and post-local-SGD model averaging; raw optimizers
stepped outside ``LightningOptimizer`` bypass the synchronisation (``self.optimizers()`` never returns those).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed as dist
from lightning.fabric.plugins import CheckpointIO, ClusterEnvironment
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.accelerators import Accelerator
from lightning.pytorch.plugins.precision import Precision
from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry
from lightning.pytorch.trainer.states import TrainerFn
from torch import Tensor, nn
from torch.optim import Optimizer
from typing_extensions import override

from lit_translate import compat
from lit_translate.choices import check_choice
from lit_translate.nets.sync_batchnorm import use_cpu_sync

BufferSync = Literal["average", "broadcast"]
BUFFER_SYNCS = ("average", "broadcast")
StartMethod = Literal["popen", "spawn", "fork", "forkserver"]
DEFAULT_TIMEOUT = compat.default_process_group_timeout()  # Lightning's DDPStrategy default (30 minutes)


@dataclass
class SyncStats:
    """What the strategy sent since the start of the fit (for tests and benchmarks).

    ``*_seconds`` is host wall time (on CUDA the collectives are asynchronous, so it is a lower bound).
    """

    grad_collectives: int = 0
    grad_bytes: int = 0
    grad_seconds: float = 0.0
    buffer_collectives: int = 0
    buffer_bytes: int = 0
    buffer_seconds: float = 0.0


def buckets(tensors: Iterable[Tensor], cap_bytes: int) -> list[list[Tensor]]:
    """Group ``tensors`` in order into buckets of one device and dtype holding at most ``cap_bytes`` each.

    A tensor larger than ``cap_bytes`` gets a bucket of its own. The grouping depends only on the tensors'
    order, shapes, dtypes and devices, so it is the same on every rank.
    """
    filling: dict[tuple[torch.device, torch.dtype], list[Any]] = {}  # key -> [bucket, bytes used]
    done: list[list[Tensor]] = []
    for t in tensors:
        key, size = (t.device, t.dtype), t.numel() * t.element_size()
        entry = filling.setdefault(key, [[], 0])
        if entry[0] and entry[1] + size > cap_bytes:
            done.append(entry[0])
            entry[:] = [[], 0]
        entry[0].append(t)
        entry[1] += size
    return done + [bucket for bucket, _ in filling.values()]


def all_reduce_gradients(params: list[Tensor], cap_bytes: int, stats: SyncStats | None = None) -> None:
    """Replace every parameter's ``.grad`` by its average over the ranks of the default process group.

    Each bucket is one flat tensor: the gradients (zeros where a rank has none), pre-divided by the world size
    as DDP does, followed by one presence flag per parameter. A parameter without a gradient on every rank keeps
    ``grad=None`` (optimizers then skip it, as one process would); one with a gradient on some ranks only gets
    the average with zeros from the others (DDP's rule). Every rank must pass the same parameters in the same
    order (they come from the same optimizer).

    Args:
        params: the parameters (dense gradients only).
        cap_bytes: bucket size in bytes.
        stats: counters to update. Default: None.
    """
    world = dist.get_world_size()
    start, pending = time.perf_counter(), []
    for bucket in buckets(params, cap_bytes):
        grads = [_flat_grad(p) for p in bucket]
        flags = torch.tensor([p.grad is not None for p in bucket], dtype=bucket[0].dtype, device=bucket[0].device)
        flat = torch.cat([*grads, flags])
        flat[: -len(bucket)].div_(world)
        pending.append((bucket, flat, dist.all_reduce(flat, async_op=True)))
        if stats is not None:
            stats.grad_collectives, stats.grad_bytes = stats.grad_collectives + 1, stats.grad_bytes + flat.nbytes
    for bucket, flat, work in pending:
        work.wait()
        values = flat[: -len(bucket)].split([p.numel() for p in bucket])
        for p, value, present in zip(bucket, values, flat[-len(bucket) :].tolist()):
            if not present:
                continue
            if p.grad is None:
                p.grad = value.view_as(p).clone()
            else:
                p.grad.detach().copy_(value.view_as(p))
    if stats is not None:
        stats.grad_seconds += time.perf_counter() - start


def _flat_grad(p: Tensor) -> Tensor:
    if p.grad is None:
        return p.new_zeros(p.numel())
    if p.grad.layout != torch.strided:
        raise ValueError(
            f"gan_ddp averages dense gradients only; a parameter of shape {tuple(p.shape)} has a "
            f"{p.grad.layout} gradient (e.g. nn.Embedding(sparse=True)): use dense gradients"
        )
    return p.grad.detach().reshape(-1)


def sync_buffers(buffers: list[Tensor], mode: BufferSync, cap_bytes: int, stats: SyncStats | None = None) -> None:
    """Make ``buffers`` equal on every rank, in place: average floating-point ones, or copy all from rank 0.

    Integer buffers (BatchNorm's ``num_batches_tracked``) are always copied from rank 0.

    Args:
        buffers: the buffers (the same list, in the same order, on every rank).
        mode: ``"average"`` or ``"broadcast"``.
        cap_bytes: bucket size in bytes.
        stats: counters to update. Default: None.
    """
    start = time.perf_counter()
    averaged = [b for b in buffers if mode == "average" and b.is_floating_point()]
    copied = [b for b in buffers if not (mode == "average" and b.is_floating_point())]
    for bucket in buckets(averaged, cap_bytes):
        flat = torch.cat([b.detach().reshape(-1) for b in bucket]).div_(dist.get_world_size())
        dist.all_reduce(flat)
        for b, value in zip(bucket, flat.split([b.numel() for b in bucket])):
            b.detach().copy_(value.view_as(b))
        _count_buffers(stats, flat.nbytes)
    for bucket in buckets(copied, cap_bytes):  # one dtype per bucket, so integer buffers stay exact
        flat = torch.cat([b.detach().reshape(-1) for b in bucket])
        dist.broadcast(flat, src=0)
        for b, value in zip(bucket, flat.split([b.numel() for b in bucket])):
            b.detach().copy_(value.view_as(b))
        _count_buffers(stats, flat.nbytes)
    if stats is not None:
        stats.buffer_seconds += time.perf_counter() - start


def _count_buffers(stats: SyncStats | None, nbytes: int) -> None:
    if stats is not None:
        stats.buffer_collectives, stats.buffer_bytes = stats.buffer_collectives + 1, stats.buffer_bytes + nbytes


def optimizer_params(optimizer: Optimizer) -> list[Tensor]:
    """Return the parameters an optimizer steps, in ``param_groups`` order (duplicates removed)."""
    seen: dict[int, Tensor] = {}
    for group in optimizer.param_groups:
        for p in group["params"]:
            seen.setdefault(id(p), p)
    return list(seen.values())


def trained_buffers(module: nn.Module, trained: set[int]) -> list[Tensor]:
    """Return the buffers to keep equal across ranks after each step: persistent buffers of trained nets.

    A submodule is *frozen* when it has parameters and none of them is in ``trained``; its buffers and those of
    everything below it are skipped (EMA copies, frozen auxiliary nets: they do not change by training, or
    change identically on every rank). Non-persistent buffers are skipped everywhere (constants by
    construction). A buffer-only module under a trained one (an ``affine=False`` BatchNorm in D) is kept.

    Args:
        module: the LightningModule.
        trained: ``id()`` of every parameter of every optimizer.
    """
    found: dict[int, Tensor] = {}
    persistent = {id(t) for t in module.state_dict(keep_vars=True).values() if isinstance(t, Tensor)}

    def visit(mod: nn.Module) -> None:
        params = list(mod.parameters())
        if params and not any(id(p) in trained for p in params):
            return
        for buf in mod.buffers(recurse=False):
            if id(buf) in persistent:
                found.setdefault(id(buf), buf)
        for child in mod.children():
            visit(child)

    visit(module)
    return list(found.values())


@compat.without_ddp_wrapper  # no reducer: no communication hooks, no post-local-SGD averaging
class GANDDPStrategy(DDPStrategy):
    """Data parallelism for multi-network modules: one gradient all-reduce per optimizer step, no DDP wrapper.

    Registered as ``strategy: gan_ddp`` (``configs/trainer/ddp.yaml``); see the module docstring for what is
    synchronised when. Launching, process groups, samplers, ``barrier``/``broadcast``/``all_gather`` and
    ``reduce_boolean_decision`` are ``DDPStrategy``'s.

    Args:
        accelerator: set by the Trainer. Default: None.
        parallel_devices: set by the Trainer. Default: None.
        cluster_environment: set by the Trainer. Default: None.
        checkpoint_io: set by the Trainer. Default: None.
        precision_plugin: set by the Trainer. Default: None.
        process_group_backend: ``"gloo"``, ``"nccl"``, ... Default: None (nccl on CUDA, gloo on CPU).
        timeout: collective timeout. Default: Lightning's (30 minutes).
        start_method: ``"popen"`` (re-run the command per rank), ``"spawn"``, ``"fork"`` or ``"forkserver"``.
            Default: ``"popen"``.
        bucket_cap_mb: size of one flattened all-reduce, in MiB (DDP's default). Default: 25.
        buffer_sync: ``"average"`` (floating-point buffers averaged over ranks after every training step: the
            BatchNorm running mean then follows the mean over the whole global batch) or ``"broadcast"``
            (rank 0's copied to all). Default: ``"average"``.
    """

    def __init__(
        self,
        accelerator: Accelerator | None = None,
        parallel_devices: list[torch.device] | None = None,
        cluster_environment: ClusterEnvironment | None = None,
        checkpoint_io: CheckpointIO | None = None,
        precision_plugin: Precision | None = None,
        process_group_backend: str | None = None,
        timeout: timedelta | None = DEFAULT_TIMEOUT,
        start_method: StartMethod = "popen",
        bucket_cap_mb: float = 25.0,
        buffer_sync: BufferSync = "average",
    ) -> None:
        check_choice("buffer_sync", buffer_sync, BUFFER_SYNCS)
        if bucket_cap_mb <= 0:
            raise ValueError(f"bucket_cap_mb must be > 0, got {bucket_cap_mb}")
        super().__init__(
            accelerator=accelerator,
            parallel_devices=parallel_devices,
            cluster_environment=cluster_environment,
            checkpoint_io=checkpoint_io,
            precision_plugin=precision_plugin,
            process_group_backend=process_group_backend,
            timeout=timeout,
            start_method=start_method,
        )
        self.bucket_cap_bytes = int(bucket_cap_mb * 1024 * 1024)
        self.buffer_sync: BufferSync = buffer_sync
        self.synced_buffers: list[Tensor] = []
        self.stats = SyncStats()

    @override
    def configure_ddp(self) -> None:
        # No wrapper: broadcast rank 0's parameters and buffers (what DDP's constructor does) and nothing else.
        assert isinstance(self.model, LightningModule)
        compat.sync_module_states(self.model)

    @override
    def setup(self, trainer: Trainer) -> None:
        super().setup(trainer)
        if self.model is not None:  # --trainer.sync_batchnorm true on CPU processes too (nets/sync_batchnorm.py)
            use_cpu_sync(self.model)
        self.stats = SyncStats()
        self.synced_buffers = []
        if trainer.state.fn == TrainerFn.FITTING:
            trained = {id(p) for opt in self.optimizers for p in optimizer_params(opt)}
            assert self.lightning_module is not None
            self.synced_buffers = trained_buffers(self.lightning_module, trained)

    def synced_parameters(self, optimizer: Optimizer) -> list[Tensor]:
        """Return the parameters whose gradients ``optimizer.step()`` averages: the optimizer's own."""
        return optimizer_params(optimizer)

    @override
    def optimizer_step(
        self,
        optimizer: Optimizer,
        closure: Callable[[], Any],
        model: LightningModule | nn.Module | None = None,
        **kwargs: Any,
    ) -> Any:
        # Inside the closure: after the backward of automatic optimization (manual optimization's closure does
        # nothing), before the precision plugin unscales (GradScaler), clips or calls on_before_optimizer_step.
        def synchronised_closure() -> Any:
            result = closure()
            if self.world_size > 1:
                with torch.no_grad():
                    all_reduce_gradients(self.synced_parameters(optimizer), self.bucket_cap_bytes, self.stats)
            return result

        return super().optimizer_step(optimizer, synchronised_closure, model, **kwargs)

    @override
    def post_training_step(self) -> None:
        # After all optimizer steps of the batch and before callbacks (checkpoints), validation or the next step.
        if self.world_size > 1 and self.synced_buffers:
            with torch.no_grad():
                sync_buffers(self.synced_buffers, self.buffer_sync, self.bucket_cap_bytes, self.stats)

    @classmethod
    @override
    def register_strategies(cls, strategy_registry: Any) -> None:
        strategy_registry.register(
            "gan_ddp",
            cls,
            description="DDP for GANs: each optimizer step all-reduces its own parameters' gradients (no wrapper)",
            override=True,
        )


GANDDPStrategy.register_strategies(StrategyRegistry)
