"""Seeds, the seeded train/validation split of one folder, a worker-shared epoch counter and the sampler.

The augmentation of sample ``i`` in epoch ``e`` is seeded from ``(seed, e, i)``: workers and ranks draw
different indices, so they get different augmentations; a run with the same seed repeats; a resumed run
repeats the uninterrupted one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence, Sized
from typing import Any, TypeVar

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lit_translate.errors import InputError

T = TypeVar("T")


def mix_seed(*values: int) -> int:
    """Hash non-negative integers into one well-mixed 32-bit seed (numpy ``SeedSequence``).

    Args:
        *values: Non-negative integers, e.g. ``(seed, epoch, index)``.

    Returns:
        An int in [0, 2**32).

    Raises:
        ValueError: A value is negative.
    """
    if any(v < 0 for v in values):
        raise ValueError(f"seeds, epochs and indices must be non-negative, got {values}")
    return int(np.random.SeedSequence([int(v) for v in values]).generate_state(1)[0])


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """Seed of the random transform of sample ``index`` in ``epoch``.

    Args:
        seed: The run's data seed (``--data.seed``), >= 0.
        epoch: The epoch, >= 0.
        index: The dataset index, >= 0.

    Returns:
        A 32-bit seed; different for any change of the three inputs (with overwhelming probability).
    """
    return mix_seed(seed, epoch, index)


def seeded_split(items: Sequence[T], fraction: float, seed: int, where: str, fix: str) -> tuple[list[T], list[T]]:
    """Split one folder's files into training and validation files: the one seeded split of the package.

    ``max(1, round(len(items) * fraction))`` items validate, chosen by a permutation seeded with ``seed``
    (``--data.split_seed``, independent of ``--data.seed``); both sides keep the order of ``items``, so the
    same sorted folder and seed always hold out the same files (SR and content-image DataModules).

    Args:
        items: The folder's files, sorted.
        fraction: ``--data.val_fraction``, in (0, 1).
        seed: ``--data.split_seed``.
        where: The folder, for the error.
        fix: What to do instead, for the error (e.g. ``"or pass --data.val_dir DIR"``).

    Returns:
        ``(training items, validation items)``.

    Raises:
        InputError: The split leaves no training item.
    """
    held_out = max(1, round(len(items) * fraction))
    if held_out >= len(items):
        raise InputError(
            f"{where} has {len(items)} image(s): --data.val_fraction {fraction} leaves none for training; add "
            f"images, lower --data.val_fraction {fix}"
        )
    order = np.random.default_rng(seed).permutation(len(items)).tolist()
    return [items[i] for i in sorted(order[held_out:])], [items[i] for i in sorted(order[:held_out])]


class SharedEpoch:
    """An epoch number shared between the main process and DataLoader workers (persistent ones too).

    It lives in a shared-memory tensor, so a value set by the sampler's ``set_epoch`` in the main process is
    seen by the dataset copies in (forked or spawned) workers.

    Args:
        epoch: Initial value. Default 0.
    """

    def __init__(self, epoch: int = 0) -> None:
        self._tensor = torch.zeros(1, dtype=torch.long).share_memory_()
        self.value = epoch

    @property
    def value(self) -> int:
        """Return the current epoch."""
        return int(self._tensor.item())

    @value.setter
    def value(self, epoch: int) -> None:
        self._tensor.fill_(int(epoch))


class ShardedSampler(DistributedSampler):
    """Seeded, epoch-aware, rank-sharded and resumable sampler.

    Being a ``DistributedSampler`` subclass, Lightning neither wraps nor replaces it. The shuffled order of
    an epoch is a permutation from a ``torch.Generator`` seeded with ``mix_seed(seed, epoch)``; rank ``r``
    takes positions ``r, r + num_replicas, ...``. With ``pad=True`` (training) the order is padded by
    repeating it, like ``DistributedSampler``, so all ranks have the same length; with ``pad=False``
    (validation/test) every index is served exactly once across ranks and shard lengths may differ by one.
    ``drop_last=True`` instead truncates to a multiple of ``num_replicas`` (``pad`` then has no effect).

    Resume: ``state_dict()`` holds the epoch and ``start``, the number of this rank's indices of that epoch
    already consumed; after ``load_state_dict`` the next iterator skips them (later ones are complete).

    Args:
        dataset: The dataset (anything with ``len``) or its length.
        num_replicas: Number of ranks (the trainer's ``world_size``).
        rank: This rank (the trainer's ``global_rank``), in [0, num_replicas).
        shuffle: Shuffle per epoch (training) or keep dataset order.
        seed: Seed of the shuffle, >= 0. Default 0.
        drop_last: Drop the tail that does not divide evenly across ranks. Default False.
        pad: Pad to equal shard lengths (training). Default True.
        epoch_counter: Shared epoch that ``set_epoch`` also updates, read by the datasets. Default None.
    """

    def __init__(
        self,
        dataset: Sized | int,
        num_replicas: int,
        rank: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        pad: bool = True,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        size = dataset if isinstance(dataset, int) else len(dataset)
        if size <= 0:
            raise ValueError(f"ShardedSampler needs a non-empty dataset, got length {size}")
        super().__init__(range(size), num_replicas, rank, shuffle, seed, drop_last)
        self.size, self.pad, self.epoch_counter = size, pad, epoch_counter
        if not drop_last and not pad:
            self.num_samples = len(range(rank, size, num_replicas))
        self._start = 0
        self._position = 0

    def __iter__(self) -> Iterator[int]:
        """Yield this rank's indices of the current epoch, skipping those consumed before a resume."""
        shard = self.shard()
        start, self._start = self._start, 0
        self._position = start
        for index in shard[start:]:
            self._position += 1
            yield index

    def shard(self) -> list[int]:
        """Return this rank's full index list for the current epoch (ignoring any resume offset).

        Returns:
            Dataset indices, ``len(self)`` of them.
        """
        if self.shuffle:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
            order = torch.randperm(self.size, generator=generator).tolist()
        else:
            order = list(range(self.size))
        if self.drop_last:
            order = order[: self.total_size]
        elif self.pad:
            order += (order * math.ceil(self.total_size / self.size))[: self.total_size - self.size]
        return order[self.rank :: self.num_replicas]

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch (and the shared counter); a new epoch forgets a pending resume offset.

        Args:
            epoch: The epoch about to be iterated, >= 0.
        """
        if epoch != self.epoch:
            self._start = 0
        super().set_epoch(epoch)
        if self.epoch_counter is not None:
            self.epoch_counter.value = epoch

    def state_dict(self, consumed: int | None = None) -> dict[str, int]:
        """Return the resume state.

        Args:
            consumed: Indices of this rank's current epoch already used by training. Default None: the
                number the current iterator has yielded, which overcounts by what DataLoader workers have
                prefetched; pass the exact count (batches done x batch size) when it is known.

        Returns:
            ``{"epoch": int, "start": int}``.
        """
        return {"epoch": self.epoch, "start": self._position if consumed is None else consumed}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a ``state_dict()``: the next iterator starts at ``state["start"]`` of ``state["epoch"]``.

        Args:
            state: A dict with integer keys ``epoch`` and ``start``.

        Raises:
            KeyError: A key is missing.
            ValueError: ``start`` is outside ``[0, len(self)]``.
        """
        missing = {"epoch", "start"} - set(state)
        if missing:
            raise KeyError(f"sampler state is missing {sorted(missing)}; expected keys 'epoch' and 'start'")
        start = int(state["start"])
        if not 0 <= start <= self.num_samples:
            raise ValueError(f"sampler state start={start} is outside [0, {self.num_samples}] for this shard")
        self.set_epoch(int(state["epoch"]))
        self._start = self._position = start


class _LazyIterator:
    """An iterator that creates the real DataLoader iterator at its first ``next``."""

    def __init__(self, make: Callable[[], Iterator[Any]]) -> None:
        self._make = make
        self._iterator: Iterator[Any] | None = None

    def __iter__(self) -> _LazyIterator:
        return self

    def __next__(self) -> Any:
        if self._iterator is None:
            self._iterator = self._make()
        return next(self._iterator)


class ResumableLoader(DataLoader):
    """DataLoader whose epochs are a pure function of (seed, epoch, position), whenever ``iter`` is called.

    Two things make a resumed run draw exactly the batches of the uninterrupted one:

    - **Lazy iterators.** Lightning creates the train iterator before it calls ``set_epoch`` when it sets up a
      resumed fit; a DataLoader with workers would then queue the indices of the wrong epoch. Here the worker
      iterator (and the sampler's shard) is created at the first ``next``, after ``set_epoch`` and after the
      sampler's resume position is restored.
    - **Its own generator.** A plain DataLoader draws its workers' base seed from the global torch RNG each
      time an iterator is created, which shifts the training noise (dropout, pool coin flips) depending on
      when iterators are made. This loader draws it from a generator reseeded from (seed, epoch, rank).

    Args:
        dataset: A map-style dataset returning batch-contract dicts.
        sampler: The rank's :class:`ShardedSampler`.
        seed: Seed of the worker base seeds, >= 0.
        **kwargs: Other ``DataLoader`` arguments.
    """

    def __init__(self, dataset: Dataset, sampler: ShardedSampler, seed: int, **kwargs: Any) -> None:
        self._seed = seed
        super().__init__(dataset, sampler=sampler, generator=torch.Generator(), **kwargs)

    def __iter__(self) -> Iterator[Any]:
        """Return an iterator that starts the real one at its first ``next``."""
        return _LazyIterator(self._start_epoch)

    def state_dict(self) -> dict[str, Any]:
        """Return nothing: the position is checkpointed by the DataModule from the trainer's batch count.

        (Defining the pair tells Lightning that this loader resumes mid-epoch.)
        """
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Do nothing; see :meth:`state_dict`."""

    def _start_epoch(self) -> Iterator[Any]:
        sampler = self.sampler
        assert isinstance(sampler, ShardedSampler) and self.generator is not None
        self.generator.manual_seed(mix_seed(self._seed, sampler.epoch, sampler.rank, 1))
        return super().__iter__()


def sampler_problem(loader: Any) -> str | None:
    """Say why a distributed evaluation loader would not count every image exactly once (None if it does).

    A padding ``DistributedSampler`` (Lightning's default injection) repeats the first images to give every rank
    the same length, and ``drop_last`` drops the tail; ``ShardedSampler(pad=False)`` serves each image once.
    """
    sampler = getattr(loader, "sampler", None)
    batch_sampler = getattr(loader, "batch_sampler", None)
    if not isinstance(sampler, DistributedSampler) and isinstance(getattr(batch_sampler, "sampler", None), Sized):
        sampler = batch_sampler.sampler
    if not isinstance(sampler, DistributedSampler):
        return None
    try:
        size = len(sampler.dataset)
    except TypeError:
        return None
    if sampler.drop_last and size % sampler.num_replicas:
        return f"the evaluation sampler drops {size % sampler.num_replicas} of {size} images (drop_last=True)"
    if not sampler.drop_last and getattr(sampler, "pad", True) and sampler.total_size != size:
        return (
            f"the evaluation sampler pads {size} images to {sampler.total_size}: {sampler.total_size - size} images "
            "are counted twice in FID/KID/LPIPS/PSNR/SSIM; use lit_translate.data.sampling.ShardedSampler(pad=False)"
            " for validation/test loaders (or a split size divisible by the number of processes)"
        )
    return None


def build_loader(
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    sampler: ShardedSampler,
    persistent: bool,
    pin_memory: bool = False,
    prefetch_factor: int = 2,
) -> DataLoader:
    """Wrap a dataset and its sampler in a :class:`ResumableLoader` with the project's defaults.

    Args:
        dataset: A map-style dataset returning batch-contract dicts.
        batch_size: Samples per batch (per rank), >= 1.
        num_workers: Worker processes (0 = load in the main process).
        sampler: The index sampler.
        persistent: Keep workers alive between epochs (only when ``num_workers > 0``).
        pin_memory: Pin the batches (for asynchronous copies to a GPU). Default False.
        prefetch_factor: Batches each worker loads ahead (only when ``num_workers > 0``). Default 2.

    Returns:
        The loader (``drop_last=False``).
    """
    return ResumableLoader(
        dataset,
        sampler,
        sampler.seed,
        batch_size=batch_size,
        num_workers=num_workers,
        persistent_workers=persistent and num_workers > 0,
        pin_memory=pin_memory,
        prefetch_factor=prefetch_factor if num_workers > 0 else None,
        drop_last=False,
    )
