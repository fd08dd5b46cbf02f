"""Unpaired (unaligned) two-domain datasets and the CycleGAN DataModule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset
from typing_extensions import override

from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, ResizeCropDataModule, check_root
from lit_translate.data.io import SKIP_HINT, check_channels, convert_channels, find_images, load_image
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.scan import ScanRequest
from lit_translate.data.synthetic import SyntheticUnpaired
from lit_translate.data.transforms import apply_transform, build_transform
from lit_translate.errors import InputError

DOMAINS = ("A", "B")


class _UnpairedBase(Dataset):
    """Shared ``__getitem__`` of the unpaired datasets: A in order, B drawn per (seed, epoch, index)."""

    def __init__(
        self,
        sizes: dict[str, int],
        transform: A.Compose | None,
        input_channels: int,
        target_channels: int,
        seed: int,
        epoch_counter: SharedEpoch | None,
    ) -> None:
        check_channels(input_channels, "input_channels")
        check_channels(target_channels, "target_channels")
        self.sizes = sizes
        self.channels = {"A": input_channels, "B": target_channels}
        self.transform = transform or build_transform(0, 0, False, False, False, train=False, paired=False)
        self.seed, self.epoch_counter = seed, epoch_counter

    def _load(self, domain: str, index: int) -> tuple[np.ndarray, str]:
        """Return image ``index`` of ``domain`` as a uint8 ``(H, W, C)`` array and its path."""
        raise NotImplementedError

    def __len__(self) -> int:
        """Return ``max(|A|, |B|)``, the number of items of an epoch."""
        return max(self.sizes.values())

    @property
    def epoch(self) -> int:
        """Return the current epoch (from the shared counter, 0 without one)."""
        return 0 if self.epoch_counter is None else self.epoch_counter.value

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        """Return ``{"A": (C_a, H, W), "B": (C_b, H', W')`` float32 in [-1, 1], ``"A_path", "B_path"}``."""
        rng = np.random.default_rng(sample_seed(self.seed, self.epoch, index))
        b_index = int(rng.integers(self.sizes["B"]))
        seed_a, seed_b = (int(s) for s in rng.integers(0, 2**32, size=2))
        a, a_path = self._load("A", index % self.sizes["A"])
        b, b_path = self._load("B", b_index)
        return {
            "A": self._augment(a, seed_a, a_path),
            "B": self._augment(b, seed_b, b_path),
            "A_path": a_path,
            "B_path": b_path,
        }

    def _augment(self, image: np.ndarray, seed: int, path: str) -> torch.Tensor:
        """Apply the single-image pipeline reseeded with ``seed``."""
        self.transform.set_random_seed(seed)
        return apply_transform(self.transform, path, image=image)["image"]


class UnpairedImageDataset(_UnpairedBase):
    """Two unaligned image folders ``root/<split>A`` and ``root/<split>B`` (CycleGAN layout).

    An epoch has ``max(|A|, |B|)`` items. Item ``i`` takes ``A[i % |A|]`` and a B image drawn from a
    generator seeded with ``sample_seed(seed, epoch, i)``, so the pairing differs per epoch, rank and worker
    and reproduces on resume. Each image gets the single-image ``transform`` independently (reseeded from
    two seeds derived from the same generator). Any size, grayscale, palette and RGBA files are accepted.
    Items: ``{"A": float32 (input_channels, H, W), "B": float32 (target_channels, H, W)`` in [-1, 1],
    ``"A_path": str, "B_path": str}``.

    Args:
        root: Dataset root holding ``<split>A/`` and ``<split>B/``.
        split: Split prefix, e.g. ``"train"``.
        transform: Single-image pipeline from ``build_transform(..., paired=False)``. Default None: only
            normalisation to [-1, 1].
        input_channels: Channels of domain A, 1 or 3. Default 3.
        target_channels: Channels of domain B, 1 or 3. Default 3.
        seed: Seed of the B draws and augmentation, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
        keep_broken_links: List broken symbolic links instead of raising (the DataModule's set-up scan reports
            them with every other bad file). Default False.

    Attributes:
        paths: ``{"A": [...], "B": [...]}``, the files of each domain; ``root``; ``skipped``: ``(path, reason)``
        of the files dropped by :meth:`keep`.

    Raises:
        FileNotFoundError: The root or a domain folder is missing; a broken symbolic link (unless
            ``keep_broken_links``).
        InputError: A domain folder holds no images; bad option values; an unreadable file (when it is loaded).
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        transform: A.Compose | None = None,
        input_channels: int = 3,
        target_channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
        keep_broken_links: bool = False,
    ) -> None:
        self.root = check_root(root)
        expected = f"an unpaired dataset with {split}A/ and {split}B/ folders"
        listing = {"expected": expected, "keep_broken_links": keep_broken_links, "hint": SKIP_HINT}
        self.paths = {d: find_images(self.root / f"{split}{d}", **listing) for d in DOMAINS}
        self.skipped: list[tuple[Path, str]] = []
        sizes = {d: len(paths) for d, paths in self.paths.items()}
        super().__init__(sizes, transform, input_channels, target_channels, seed, epoch_counter)

    @property
    def files(self) -> list[Path]:
        """Return every file: the A images, then the B images."""
        return self.paths["A"] + self.paths["B"]

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the files ``indices`` of :attr:`files` (``skip_unreadable``), listing ``skipped``.

        Raises:
            InputError: A domain would be left without images.
        """
        files, count_a = self.files, len(self.paths["A"])
        kept = {"A": [files[i] for i in indices if i < count_a], "B": [files[i] for i in indices if i >= count_a]}
        for domain, paths in kept.items():
            if not paths:
                folder = self.paths[domain][0].parent
                count = len(self.paths[domain])
                raise InputError(
                    f"every image in {folder} is unreadable ({count} of {count} files; skip_unreadable cannot leave "
                    f"an empty domain, remove or replace them): "
                    + ", ".join(f"{p.name} ({r})" for p, r in skipped if p.parent == folder)
                )
        self.paths, self.skipped = kept, skipped
        self.sizes = {d: len(paths) for d, paths in kept.items()}

    def _load(self, domain: str, index: int) -> tuple[np.ndarray, str]:
        """Read image ``index`` of ``domain``."""
        path = self.paths[domain][index]
        return load_image(path, self.channels[domain], SKIP_HINT), str(path)


class SyntheticUnpairedDataset(_UnpairedBase):
    """The built-in ``SyntheticUnpaired`` domains through the same unpaired code path.

    Args:
        synthetic: The procedural source.
        transform: Single-image pipeline; default None: only normalisation.
        input_channels: Channels of domain A, 1 or 3. Default 3.
        target_channels: Channels of domain B, 1 or 3. Default 3.
        seed: Seed of the B draws and augmentation, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
    """

    def __init__(
        self,
        synthetic: SyntheticUnpaired,
        transform: A.Compose | None = None,
        input_channels: int = 3,
        target_channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        super().__init__(dict(synthetic.sizes), transform, input_channels, target_channels, seed, epoch_counter)
        self.synthetic = synthetic

    def _load(self, domain: str, index: int) -> tuple[np.ndarray, str]:
        """Generate image ``index`` of ``domain``."""
        image = convert_channels(self.synthetic.image(domain, index), self.channels[domain])
        return image, self.synthetic.path(domain, index)


class UnpairedDataModule(ResizeCropDataModule):
    """Unpaired data for CycleGAN-style methods (the constructor is the ``data:`` config schema).

    ``root`` holds ``trainA/``, ``trainB/``, ``testA/``, ``testB/`` (optionally ``valA/``, ``valB/``); splits are
    folder prefixes. With ``root`` None the built-in ``SyntheticUnpaired`` set is used (``synthetic_size`` train
    images per domain, 16 val and 16 test). Batches: ``{"A": (N, input_channels, H, W), "B": (N,
    target_channels, H, W)`` float32 in [-1, 1], ``"A_path", "B_path": list[str]}``; see
    ``UnpairedImageDataset`` for how A and B are drawn. Validation draws its B images with epoch 0, so the
    validation pairs stay fixed across epochs.

    Args:
        **kwargs: The :class:`~lit_translate.data.base.ResizeCropDataModule` and
            :class:`~lit_translate.data.base.TranslationDataModule` arguments (root, sizes, batch sizes,
            split prefixes, ...).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()

    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the unpaired dataset of ``role``."""
        options = self.dataset_options(role, paired=False)
        if self.root is None:
            size = self.synthetic_size if role == "train" else SYNTHETIC_EVAL_SIZE
            return SyntheticUnpairedDataset(SyntheticUnpaired(size, size, split=role), **options)
        split = self.split_name(role)
        return UnpairedImageDataset(self.root, split, keep_broken_links=True, **options)

    @override
    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Scan every image of both domains (one warning, names relative to the root), with the size needs."""
        if not isinstance(dataset, UnpairedImageDataset):  # the synthetic set (no files) or the predict folder
            return super().scan_request(role, dataset)
        units = [(path,) for path in dataset.files]
        return ScanRequest(dataset.root, units, size_problem=self.size_problem, keep=dataset.keep)

    @override
    def has_split(self, split: str) -> bool:
        """Tell whether ``<split>A/`` and ``<split>B/`` both exist under the root."""
        root = check_root(self.root)
        return all((root / f"{split}{domain}").is_dir() for domain in DOMAINS)


__all__ = ["DOMAINS", "SyntheticUnpairedDataset", "UnpairedDataModule", "UnpairedImageDataset"]
