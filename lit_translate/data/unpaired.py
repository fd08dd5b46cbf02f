"""Unpaired (unaligned) two-domain datasets and the CycleGAN DataModule."""

from __future__ import annotations

import logging
from pathlib import Path

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from lit_translate.data.io import (
    SKIP_HINT,
    check_channels,
    convert_channels,
    drop_unreadable,
    find_images,
    load_image,
    warn_skipped,
)
from lit_translate.data.paired import SYNTHETIC_EVAL_SIZE, _DataModuleBase, apply_transform, check_root
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.synthetic import SyntheticUnpaired
from lit_translate.data.transforms import build_transform

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
        skip_unreadable: Decode every file now (in threads) and drop the unreadable ones (empty, truncated, not
            an image, broken symbolic link, over Pillow's size limit), logging one WARNING with the count and
            examples; ``skipped`` lists ``(path, reason)``. Default False: no check up front, and an unreadable
            file raises an error naming it when it is loaded.

    Raises:
        FileNotFoundError: The root or a domain folder is missing; a broken symbolic link (unless
            ``skip_unreadable``).
        ValueError: A domain folder holds no images, or (``skip_unreadable``) no readable ones; bad option
            values; an unreadable file (when it is loaded).
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
        skip_unreadable: bool = False,
    ) -> None:
        root = check_root(root)
        expected = f"an unpaired dataset with {split}A/ and {split}B/ folders"
        listing = {"expected": expected, "keep_broken_links": skip_unreadable, "hint": SKIP_HINT}
        self.paths = {d: find_images(root / f"{split}{d}", **listing) for d in DOMAINS}
        self.hint = "" if skip_unreadable else SKIP_HINT
        self.skipped: list[tuple[Path, str]] = []
        if skip_unreadable:
            self._drop_unreadable(root)
        sizes = {d: len(paths) for d, paths in self.paths.items()}
        super().__init__(sizes, transform, input_channels, target_channels, seed, epoch_counter)

    def _drop_unreadable(self, root: Path) -> None:
        """Drop the unreadable files of both domains and log one WARNING (see ``skip_unreadable``)."""
        total = sum(len(paths) for paths in self.paths.values())
        for domain, paths in self.paths.items():
            self.paths[domain], skipped = drop_unreadable(paths, lambda path: (path,), paths[0].parent)
            self.skipped += skipped
        kept = " + ".join(f"{len(self.paths[d])} {d}" for d in DOMAINS)
        warn_skipped(self.skipped, total, f"{kept} images", root)

    def _load(self, domain: str, index: int) -> tuple[np.ndarray, str]:
        """Read image ``index`` of ``domain``."""
        path = self.paths[domain][index]
        return load_image(path, self.channels[domain], self.hint), str(path)


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
        super().__init__(
            dict(synthetic.sizes), transform, input_channels, target_channels, seed, epoch_counter
        )
        self.synthetic = synthetic

    def _load(self, domain: str, index: int) -> tuple[np.ndarray, str]:
        """Generate image ``index`` of ``domain``."""
        image = convert_channels(self.synthetic.image(domain, index), self.channels[domain])
        return image, self.synthetic.path(domain, index)


class UnpairedDataModule(_DataModuleBase):
    """Unpaired data for CycleGAN-style methods (the constructor is the ``data:`` config schema).

    Batches: ``{"A": (N, input_channels, H, W), "B": (N, target_channels, H, W)`` float32 in [-1, 1],
    ``"A_path", "B_path": list[str]}``; see ``UnpairedImageDataset`` for how A and B are drawn. Validation
    draws its B images with epoch 0, so the validation pairs stay fixed across epochs.

    Args:
        root: Dataset root with ``trainA/``, ``trainB/``, ``testA/``, ``testB/`` (optionally ``valA/``,
            ``valB/``); None uses the built-in ``SyntheticUnpaired`` set (``synthetic_size`` train images per
            domain, 16 val and 16 test). Default None.
        load_size: Resize size (training). Default 286.
        crop_size: Crop size; evaluation images come out at this size when ``crop``. Default 256.
        resize: Resize to ``load_size`` first. Default True.
        crop: Random crop (training) / resize or center crop (evaluation) to ``crop_size``. Default True.
        flip: Random horizontal flip in training. Default True.
        input_channels: Channels of domain A, 1 or 3. Default 3.
        target_channels: Channels of domain B, 1 or 3. Default 3.
        batch_size: Training batch size per rank. Default 1.
        val_batch_size: Validation/test batch size per rank. Default 4.
        num_workers: DataLoader workers per loader. Default 2.
        seed: Seed of shuffling, B draws and augmentation, >= 0. Default 0.
        train_split: Training split prefix. Default ``"train"``.
        val_split: Validation split prefix. Default None: ``"val"`` when ``valA/`` and ``valB/`` exist, else
            the test split with a WARNING (use it for sample grids, never for checkpoint selection).
        test_split: Test split prefix. Default ``"test"``.
        synthetic_size: Training images per domain of the synthetic set (``root`` None). Default 400.
        predict_dir: Folder of input images for ``predict`` (any size, batch size 1). Default None.
        skip_unreadable: When a dataset is set up, decode every file (in threads) and drop the unreadable ones
            (empty, truncated, not an image, broken symbolic link, over Pillow's size limit), logging one WARNING
            per split with the count and up to 5 examples; it is an error if a domain has none left. Default
            False: no check up front (no start-up cost), and an unreadable file stops training with an error
            naming it when it is loaded.
    """

    def __init__(
        self,
        root: str | None = None,
        load_size: int = 286,
        crop_size: int = 256,
        resize: bool = True,
        crop: bool = True,
        flip: bool = True,
        input_channels: int = 3,
        target_channels: int = 3,
        batch_size: int = 1,
        val_batch_size: int = 4,
        num_workers: int = 2,
        seed: int = 0,
        train_split: str = "train",
        val_split: str | None = None,
        test_split: str = "test",
        synthetic_size: int = 400,
        predict_dir: str | None = None,
        skip_unreadable: bool = False,
    ) -> None:
        super().__init__(
            root,
            load_size,
            crop_size,
            resize,
            crop,
            flip,
            input_channels,
            target_channels,
            batch_size,
            val_batch_size,
            num_workers,
            seed,
            predict_dir,
        )
        self.save_hyperparameters()
        if synthetic_size < 1:
            raise ValueError(f"synthetic_size must be >= 1, got {synthetic_size}")
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.synthetic_size = synthetic_size
        self.skip_unreadable = skip_unreadable

    def _build(self, role: str) -> Dataset:
        """Create the unpaired dataset of ``role``."""
        train = role == "train"
        options = {
            "transform": self.transform(train=train, paired=False),
            "input_channels": self.input_channels,
            "target_channels": self.target_channels,
            "seed": self.seed,
            "epoch_counter": self.epoch_counter if train else None,
        }
        if self.root is None:
            size = self.synthetic_size if train else SYNTHETIC_EVAL_SIZE
            return SyntheticUnpairedDataset(SyntheticUnpaired(size, size, split=role), **options)
        return UnpairedImageDataset(self.root, self._split(role), skip_unreadable=self.skip_unreadable, **options)

    def _split(self, role: str) -> str:
        """Return the split prefix of ``role``; see ``val_split`` for the validation fallback."""
        split = self.splits[role]
        if split is not None:
            return split
        root = check_root(self.root)
        if all((root / f"val{d}").is_dir() for d in DOMAINS):
            return "val"
        test = self.splits["test"]
        self._log(
            logging.WARNING,
            f"no val split (valA/, valB/) under {root}: using {test}A/ and {test}B/ for validation sample "
            f"grids; metrics on it must not be used for checkpoint selection",
        )
        return test
