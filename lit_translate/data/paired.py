"""Paired (aligned) image datasets and the pix2pix DataModule."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np
import torch
from albumentations.augmentations.crops.transforms import CropSizeError
from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from lit_translate.choices import check_choice
from lit_translate.data.folder import ImageFolderDataset
from lit_translate.data.io import (
    SKIP_HINT,
    check_channels,
    convert_channels,
    drop_unreadable,
    find_images,
    load_image,
    warn_skipped,
)
from lit_translate.data.sampling import ShardedSampler, SharedEpoch, build_loader, sample_seed
from lit_translate.data.synthetic import SyntheticPairs
from lit_translate.data.transforms import build_transform

LAYOUTS = ("auto", "aligned", "folders")
DIRECTIONS = ("AtoB", "BtoA")
SYNTHETIC_EVAL_SIZE = 16
"""Number of validation and of test items of the built-in synthetic sets."""

Batch = dict[str, torch.Tensor | str]


def apply_transform(transform: A.Compose, paths: str, **images: np.ndarray) -> dict[str, torch.Tensor]:
    """Run a pipeline, re-raising size errors with the file names and the options to check.

    Args:
        transform: The (already seeded) pipeline.
        paths: The source file(s), for the message.
        **images: The pipeline's inputs (``image=...``, optionally ``target=...``).

    Returns:
        The pipeline's output dict.
    """
    try:
        return transform(**images)
    except (ValueError, CropSizeError) as err:
        raise ValueError(
            f"cannot transform {paths}: {err}. Check --data.load_size/crop_size/resize/crop against the "
            f"image size"
        ) from err


class _PairedBase(Dataset):
    """Shared ``__getitem__`` of the paired datasets: direction, channels, seeded paired transform."""

    def __init__(
        self,
        direction: str,
        transform: A.Compose | None,
        input_channels: int,
        target_channels: int,
        seed: int,
        epoch_counter: SharedEpoch | None,
    ) -> None:
        self.direction = check_choice("direction", direction, DIRECTIONS)
        check_channels(input_channels, "input_channels")
        check_channels(target_channels, "target_channels")
        self.input_channels, self.target_channels = input_channels, target_channels
        self.transform = transform or build_transform(0, 0, False, False, False, train=False, paired=True)
        self.seed, self.epoch_counter = seed, epoch_counter

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """Return the raw ``(A side, B side, A path, B path)`` of item ``index`` before the direction swap."""
        raise NotImplementedError

    @property
    def epoch(self) -> int:
        """Return the current epoch (from the shared counter, 0 without one)."""
        return 0 if self.epoch_counter is None else self.epoch_counter.value

    def __getitem__(self, index: int) -> Batch:
        """Return item ``index`` as a batch-contract dict: ``"A"``, ``"B"`` in [-1, 1] and the paths."""
        a, b, a_path, b_path = self._load(index)
        if self.direction == "BtoA":
            a, b, a_path, b_path = b, a, b_path, a_path
        a, b = convert_channels(a, self.input_channels), convert_channels(b, self.target_channels)
        if a.shape[:2] != b.shape[:2]:
            raise ValueError(
                f"paired images {a_path} ({a.shape[1]}x{a.shape[0]}) and {b_path} "
                f"({b.shape[1]}x{b.shape[0]}) differ in size; the two images of a pair must have the "
                f"same width and height"
            )
        self.transform.set_random_seed(sample_seed(self.seed, self.epoch, index))
        out = apply_transform(self.transform, f"{a_path} and {b_path}", image=a, target=b)
        return {"A": out["image"], "B": out["target"], "A_path": a_path, "B_path": b_path}


def find_pair_layout(root: str | Path, split: str, layout: str = "auto") -> tuple[str, tuple[Path, ...]]:
    """Locate a split of a paired dataset.

    Layouts: ``"aligned"``: ``root/<split>/`` holds A|B side-by-side images; ``"folders"``: matching file
    names in ``root/A/<split>/`` + ``root/B/<split>/`` or in ``root/<split>/A/`` + ``root/<split>/B/``;
    ``"auto"``: the first of these that exists (two-folder variants first).

    Args:
        root: Dataset root.
        split: Split name, e.g. ``"train"``.
        layout: ``"auto"``, ``"aligned"`` or ``"folders"``. Default ``"auto"``.

    Returns:
        ``("aligned", (folder,))`` or ``("folders", (folder_a, folder_b))``.

    Raises:
        FileNotFoundError: The root or the split is missing; the message lists where it looked.
        ValueError: Unknown ``layout``.
    """
    check_choice("layout", layout, LAYOUTS)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data root {root} does not exist; pass --data.root DIR pointing at a paired dataset, or leave "
            f"--data.root unset for the built-in synthetic set"
        )
    candidates = []
    if layout in ("auto", "folders"):
        candidates.append(("folders", (root / "A" / split, root / "B" / split)))
        candidates.append(("folders", (root / split / "A", root / split / "B")))
    if layout in ("auto", "aligned"):
        candidates.append(("aligned", (root / split,)))
    for kind, folders in candidates:
        if all(folder.is_dir() for folder in folders):
            return kind, folders
    looked = "; ".join(" + ".join(str(f) for f in folders) + f" ({kind})" for kind, folders in candidates)
    raise FileNotFoundError(
        f"split {split!r} not found under {root} with layout {layout!r}; looked for: {looked}. Aligned means "
        f"A|B side-by-side images in root/<split>/, folders means matching file names in two folders"
    )


class PairedImageDataset(_PairedBase):
    """Pairs of images from disk, in the aligned (A|B side by side) or two-folder layout.

    Item ``i``: load, apply ``direction`` (``"BtoA"`` swaps, so ``"A"`` is always the generator input),
    convert channels, reseed the paired transform with ``sample_seed(seed, epoch, i)`` and apply it to both
    images. Returns ``{"A": float32 (input_channels, H, W), "B": float32 (target_channels, H, W), "A_path":
    str, "B_path": str}`` with values in [-1, 1]; for the aligned layout both paths are the same file.

    Args:
        root: Dataset root (see ``find_pair_layout``).
        split: Split name, e.g. ``"train"``.
        layout: ``"auto"``, ``"aligned"`` or ``"folders"``. Default ``"auto"``.
        direction: ``"AtoB"`` or ``"BtoA"``. Default ``"AtoB"``.
        transform: Paired pipeline from ``build_transform(..., paired=True)``. Default None: only
            normalisation to [-1, 1].
        input_channels: Channels of ``"A"`` (after direction), 1 or 3. Default 3.
        target_channels: Channels of ``"B"``, 1 or 3. Default 3.
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
        skip_unreadable: Decode every file now (in threads) and drop the pairs with an unreadable file (empty,
            truncated, not an image, broken symbolic link, over Pillow's size limit), logging one WARNING with
            the count and examples; ``skipped`` lists ``(path, reason)``. Default False: no check up front, and
            an unreadable file raises an error naming it when its item is loaded.

    Raises:
        FileNotFoundError: Root or split missing; a broken symbolic link (unless ``skip_unreadable``).
        ValueError: Empty folder, unmatched file names, bad option values, every file unreadable; aligned images
            whose width is not twice their height and unreadable files (raised when the item is loaded).
    """

    def __init__(
        self,
        root: str | Path,
        split: str,
        layout: str = "auto",
        direction: str = "AtoB",
        transform: A.Compose | None = None,
        input_channels: int = 3,
        target_channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
        skip_unreadable: bool = False,
    ) -> None:
        super().__init__(direction, transform, input_channels, target_channels, seed, epoch_counter)
        self.layout, folders = find_pair_layout(root, split, layout)
        listing = {"keep_broken_links": skip_unreadable, "hint": SKIP_HINT}
        if self.layout == "aligned":
            self.pairs = [(path, path) for path in find_images(folders[0], **listing)]
        else:
            self.pairs = match_pairs(*folders, **listing)
        self.hint = "" if skip_unreadable else SKIP_HINT
        self.skipped: list[tuple[Path, str]] = []
        if skip_unreadable:
            self._drop_unreadable(Path(os.path.commonpath(folders)))

    def _drop_unreadable(self, folder: Path) -> None:
        """Drop the pairs with an unreadable file and log one WARNING (see ``skip_unreadable``)."""
        total = len({path for pair in self.pairs for path in pair})
        self.pairs, self.skipped = drop_unreadable(self.pairs, lambda pair: pair, folder)
        warn_skipped(self.skipped, total, f"{len(self.pairs)} pairs", folder)

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.pairs)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """Load the A and B sides of pair ``index``."""
        path_a, path_b = self.pairs[index]
        in_side, tgt_side = self.input_channels, self.target_channels
        channels_a, channels_b = (in_side, tgt_side) if self.direction == "AtoB" else (tgt_side, in_side)
        if self.layout == "folders":
            a, b = load_image(path_a, channels_a, self.hint), load_image(path_b, channels_b, self.hint)
            return a, b, str(path_a), str(path_b)
        a, b = split_aligned(load_image(path_a, max(channels_a, channels_b), self.hint), path_a)
        return a, b, str(path_a), str(path_b)


def split_aligned(image: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Cut an aligned A|B image into its left (A) and right (B) halves.

    Args:
        image: ``(H, 2H, C)`` array.
        path: Its file, for the error message.

    Returns:
        The two ``(H, H, C)`` halves.

    Raises:
        ValueError: The width is not exactly twice the height.
    """
    height, width = image.shape[:2]
    if width != 2 * height:
        raise ValueError(
            f"aligned image {path} is {width}x{height}; the aligned layout needs A|B side by side, width "
            f"exactly 2x height (as written by the reference datasets/combine_A_and_B.py). Use layout "
            f"'folders' for separate A and B files"
        )
    return image[:, :height], image[:, height:]


def match_pairs(
    folder_a: Path, folder_b: Path, keep_broken_links: bool = False, hint: str = ""
) -> list[tuple[Path, Path]]:
    """Pair the images of two folders by identical file name.

    Args:
        folder_a: Folder of A images.
        folder_b: Folder of B images.
        keep_broken_links: Pair broken symbolic links too instead of raising (see ``find_images``).
            Default False.
        hint: Appended to the broken-link error. Default ``""``.

    Returns:
        ``(path_a, path_b)`` pairs, sorted by name.

    Raises:
        FileNotFoundError: A broken symbolic link (unless ``keep_broken_links``); the message names it.
        ValueError: A name exists on one side only (up to 5 such names per side are listed).
    """
    names_a = {p.name: p for p in find_images(folder_a, keep_broken_links=keep_broken_links, hint=hint)}
    names_b = {p.name: p for p in find_images(folder_b, keep_broken_links=keep_broken_links, hint=hint)}
    only_a, only_b = sorted(names_a.keys() - names_b.keys()), sorted(names_b.keys() - names_a.keys())
    if only_a or only_b:
        raise ValueError(
            f"{folder_a} and {folder_b} must hold the same file names; missing in {folder_b}: "
            f"{only_a[:5]} ({len(only_a)} in all), missing in {folder_a}: {only_b[:5]} ({len(only_b)} in all)"
        )
    return [(names_a[name], names_b[name]) for name in sorted(names_a)]


class SyntheticPairedDataset(_PairedBase):
    """The built-in ``SyntheticPairs`` task (label map -> photo) through the same paired code path.

    Args:
        synthetic: The procedural source.
        direction: ``"AtoB"`` (label map -> photo) or ``"BtoA"``. Default ``"AtoB"``.
        transform: Paired pipeline; default None: only normalisation.
        input_channels: Channels of ``"A"``, 1 or 3. Default 3.
        target_channels: Channels of ``"B"``, 1 or 3. Default 3.
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
    """

    def __init__(
        self,
        synthetic: SyntheticPairs,
        direction: str = "AtoB",
        transform: A.Compose | None = None,
        input_channels: int = 3,
        target_channels: int = 3,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        super().__init__(direction, transform, input_channels, target_channels, seed, epoch_counter)
        self.synthetic = synthetic

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.synthetic)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """Generate pair ``index``."""
        a, b = self.synthetic[index]
        path = self.synthetic.path(index)
        return a, b, path, path


class _DataModuleBase(LightningDataModule):
    """Loaders, samplers, transforms and logging shared by the paired and unpaired DataModules."""

    roles_by_stage = {
        "fit": ("train", "val"),
        "validate": ("val",),
        "test": ("test",),
        "predict": ("predict",),
    }

    def __init__(
        self,
        root: str | None,
        load_size: int,
        crop_size: int,
        resize: bool,
        crop: bool,
        flip: bool,
        input_channels: int,
        target_channels: int,
        batch_size: int,
        val_batch_size: int,
        num_workers: int,
        seed: int,
        predict_dir: str | None,
    ) -> None:
        super().__init__()
        for key, value, low in (
            ("batch_size", batch_size, 1),
            ("val_batch_size", val_batch_size, 1),
            ("num_workers", num_workers, 0),
            ("seed", seed, 0),
        ):
            if value < low:
                raise ValueError(f"{key} must be >= {low}, got {value}")
        check_channels(input_channels, "input_channels")
        check_channels(target_channels, "target_channels")
        build_transform(load_size, crop_size, resize, crop, flip, train=True, paired=False)
        self.root, self.predict_dir = root, predict_dir
        self.sizes = dict(load_size=load_size, crop_size=crop_size, resize=resize, crop=crop, flip=flip)
        self.input_channels, self.target_channels = input_channels, target_channels
        self.batch_size, self.val_batch_size = batch_size, val_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.epoch_counter = SharedEpoch()
        self.datasets: dict[str, Dataset] = {}
        self._train_sampler: ShardedSampler | None = None
        self._resume_state: dict[str, int] | None = None

    def _build(self, role: str) -> Dataset:
        """Create the dataset of ``role`` (``"train"``, ``"val"`` or ``"test"``)."""
        raise NotImplementedError

    def transform(self, train: bool, paired: bool) -> A.Compose:
        """Build the configured pipeline for training or evaluation (see ``build_transform``)."""
        return build_transform(**self.sizes, train=train, paired=paired)

    def dataset(self, role: str) -> Dataset:
        """Return the (cached) dataset of ``role``: ``"train"``, ``"val"``, ``"test"`` or ``"predict"``."""
        if role not in self.datasets:
            self.datasets[role] = self._predict_dataset() if role == "predict" else self._build(role)
        return self.datasets[role]

    def setup(self, stage: str | None = None) -> None:
        """Create (and so validate) the datasets of ``stage``; all of fit/test when ``stage`` is None."""
        if stage is not None and stage not in self.roles_by_stage:
            raise ValueError(f"stage must be one of {sorted(self.roles_by_stage)} or None, got {stage!r}")
        if self.root is None:
            self._log(
                logging.INFO, "no --data.root given: using the built-in synthetic dataset (64x64 canvas)"
            )
        else:
            check_root(self.root)
        for role in self.roles_by_stage[stage] if stage else ("train", "val", "test"):
            self.dataset(role)

    def train_dataloader(self) -> DataLoader:
        """Return training batches: shuffled per epoch, sharded across ranks with padding."""
        return self._loader("train", train=True, batch_size=self.batch_size)

    def val_dataloader(self) -> DataLoader:
        """Return validation batches: dataset order, unpadded shards (each sample seen once across ranks)."""
        return self._loader("val", train=False, batch_size=self.val_batch_size)

    def test_dataloader(self) -> DataLoader:
        """Return test batches: dataset order, unpadded shards (each sample seen once across ranks)."""
        return self._loader("test", train=False, batch_size=self.val_batch_size)

    def predict_dataloader(self) -> DataLoader:
        """Return batches of size 1 of ``predict_dir`` images at their own size: ``{"A", "A_path"}``."""
        return DataLoader(self.dataset("predict"), batch_size=1, shuffle=False, num_workers=self.num_workers)

    def _predict_dataset(self) -> ImageFolderDataset:
        """Create the predict dataset, or raise an error telling how to configure it."""
        if self.predict_dir is None:
            raise ValueError("predict needs input images: pass --data.predict_dir DIR (a folder of images)")
        return ImageFolderDataset(self.predict_dir, channels=self.input_channels)

    def _loader(self, role: str, train: bool, batch_size: int) -> DataLoader:
        """Create a DataLoader with a ShardedSampler for this trainer's rank."""
        dataset = self.dataset(role)
        num_replicas, rank = self._replicas()
        counter = self.epoch_counter if train else None
        sampler = ShardedSampler(
            dataset, num_replicas, rank, shuffle=train, seed=self.seed, pad=train, epoch_counter=counter
        )
        if role == "train":
            self._train_sampler = sampler
            if self._resume_state is not None:
                sampler.load_state_dict(self._resume_state)
                self._resume_state = None
        return build_loader(dataset, batch_size, self.num_workers, sampler, persistent=role != "test")

    def state_dict(self) -> dict[str, Any]:
        """Return the training data position, saved in checkpoints for an exact resume.

        ``{"train_sampler": {"epoch": e, "start": k}}``: the epoch and the number of this rank's samples of it
        that training has consumed (batches done x batch size; identical on every rank). After the last batch of
        an epoch it points at the start of the next epoch. Empty outside ``fit``.
        """
        sampler, trainer = self._train_sampler, self.trainer
        if sampler is None or trainer is None or trainer.state.fn != "fit":
            return {}
        done = trainer.fit_loop.epoch_loop.batch_progress.current.processed * self.batch_size
        state = sampler.state_dict(consumed=min(done, len(sampler)))
        if state["start"] >= len(sampler):
            state = {"epoch": state["epoch"] + 1, "start": 0}
        return {"train_sampler": state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`: the next training loader continues at the saved position."""
        state = state_dict.get("train_sampler")
        if state is None:
            return
        if self._train_sampler is not None:
            self._train_sampler.load_state_dict(state)
        else:
            self._resume_state = dict(state)

    def _replicas(self) -> tuple[int, int]:
        """Return ``(world_size, global_rank)`` of the attached trainer, ``(1, 0)`` without one."""
        if self.trainer is None:
            return 1, 0
        return self.trainer.world_size, self.trainer.global_rank

    def _log(self, level: int, message: str) -> None:
        """Log to this DataModule's module logger, on global rank 0 only."""
        if getattr(rank_zero_only, "rank", 0) == 0:
            logging.getLogger(type(self).__module__).log(level, message)


def check_root(root: str | Path) -> Path:
    """Return ``root`` as a Path, or raise a FileNotFoundError saying how to point at a dataset.

    Args:
        root: The configured ``--data.root``.

    Returns:
        The root folder.
    """
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(
            f"data root {path} does not exist (or is not a directory); pass --data.root DIR pointing at the "
            f"dataset, or leave --data.root unset for the built-in synthetic set"
        )
    return path


class PairedDataModule(_DataModuleBase):
    """Paired data for pix2pix-style methods (the constructor is the ``data:`` config schema).

    Batches follow the batch contract: ``{"A": (N, input_channels, H, W), "B": (N, target_channels, H, W)``
    float32 in [-1, 1], ``"A_path", "B_path": list[str]}``. Training augments with resize/crop/flip seeded
    per sample; evaluation resizes (or center-crops) deterministically (see ``build_transform``). When the
    ``val_split`` does not exist, the ``test_split`` is used for validation with a WARNING.

    Args:
        root: Dataset root; None uses the built-in ``SyntheticPairs`` set (``synthetic_size`` train items,
            16 val and 16 test items, label map -> photo). Default None.
        layout: ``"auto"``, ``"aligned"`` (A|B side by side) or ``"folders"`` (see ``find_pair_layout``).
            Default ``"auto"``.
        direction: ``"AtoB"`` or ``"BtoA"`` (swaps so ``"A"`` is always the generator input).
            Default ``"AtoB"``.
        load_size: Resize size (training). Default 286.
        crop_size: Crop size; evaluation images come out at this size when ``crop``. Default 256.
        resize: Resize to ``load_size`` first. Default True.
        crop: Random crop (training) / resize or center crop (evaluation) to ``crop_size``. Default True.
        flip: Random horizontal flip in training. Default True.
        input_channels: Channels of ``"A"``, 1 or 3. Default 3.
        target_channels: Channels of ``"B"``, 1 or 3. Default 3.
        batch_size: Training batch size per rank. Default 1.
        val_batch_size: Validation/test batch size per rank. Default 4.
        num_workers: DataLoader workers per loader. Default 2.
        seed: Seed of shuffling and augmentation, >= 0. Default 0.
        train_split: Training split name. Default ``"train"``.
        val_split: Validation split name. Default ``"val"``.
        test_split: Test split name. Default ``"test"``.
        synthetic_size: Training items of the synthetic set (used when ``root`` is None). Default 400.
        predict_dir: Folder of input images for ``predict`` (any size, batch size 1). Default None.
        skip_unreadable: When a dataset is set up, decode every file (in threads) and drop the pairs with an
            unreadable file (empty, truncated, not an image, broken symbolic link, over Pillow's size limit),
            logging one WARNING per split with the count and up to 5 examples; it is an error if nothing is
            left. Default False: no check up front (no start-up cost), and an unreadable file stops training
            with an error naming it when it is loaded.
    """

    def __init__(
        self,
        root: str | None = None,
        layout: str = "auto",
        direction: str = "AtoB",
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
        val_split: str = "val",
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
        self.layout = check_choice("layout", layout, LAYOUTS)
        self.direction = check_choice("direction", direction, DIRECTIONS)
        if synthetic_size < 1:
            raise ValueError(f"synthetic_size must be >= 1, got {synthetic_size}")
        self.splits = {"train": train_split, "val": val_split, "test": test_split}
        self.synthetic_size = synthetic_size
        self.skip_unreadable = skip_unreadable

    def _build(self, role: str) -> Dataset:
        """Create the paired dataset of ``role``."""
        train = role == "train"
        options = {
            "direction": self.direction,
            "transform": self.transform(train=train, paired=True),
            "input_channels": self.input_channels,
            "target_channels": self.target_channels,
            "seed": self.seed,
            "epoch_counter": self.epoch_counter if train else None,
        }
        if self.root is None:
            size = self.synthetic_size if train else SYNTHETIC_EVAL_SIZE
            return SyntheticPairedDataset(SyntheticPairs(size, split=role), **options)
        split = self._split(role)
        return PairedImageDataset(self.root, split, self.layout, skip_unreadable=self.skip_unreadable, **options)

    def _split(self, role: str) -> str:
        """Return the split name of ``role``; validation falls back to the test split with a WARNING."""
        split = self.splits[role]
        if role != "val" or self._has_split(split):
            return split
        test = self.splits["test"]
        if not self._has_split(test):
            raise FileNotFoundError(
                f"no validation split under {self.root}: neither {split!r} nor {test!r} exists (layout "
                f"{self.layout!r}); add one, or set --data.val_split to an existing split"
            )
        self._log(
            logging.WARNING,
            f"no {split!r} split under {self.root}: validating on the {test!r} split instead; do not select "
            f"checkpoints on it (set --data.val_split to a held-out split)",
        )
        return test

    def _has_split(self, split: str) -> bool:
        """Tell whether ``split`` exists under the root in the configured layout."""
        try:
            find_pair_layout(check_root(self.root), split, self.layout)
        except FileNotFoundError:
            return False
        return True
