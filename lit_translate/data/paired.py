"""Paired (aligned) image datasets and the pix2pix DataModule."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Literal

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, ResizeCropDataModule, check_root
from lit_translate.data.io import SKIP_HINT, check_channels, convert_channels, find_images, load_image
from lit_translate.data.layouts import LAYOUTS, aligned_ratio_note, find_pair_layout, match_pairs, split_aligned
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.scan import ImageHeader, ScanRequest
from lit_translate.data.synthetic import SyntheticColours, SyntheticPairs
from lit_translate.data.transforms import Pipeline, apply_transform, build_transform
from lit_translate.errors import InputError

DIRECTIONS = ("AtoB", "BtoA")

Batch = dict[str, torch.Tensor | str]


class _PairedBase(Dataset):
    """Shared ``__getitem__`` of the paired datasets: direction, channels, seeded paired transform."""

    def __init__(
        self,
        direction: str,
        transform: Pipeline | A.Compose | None,
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

    @property
    def resizes(self) -> bool:
        """Tell whether the pipeline resizes each image first (so A and B may differ in size)."""
        return getattr(self.transform, "size", None) is not None

    def __getitem__(self, index: int) -> Batch:
        """Return item ``index`` as a batch-contract dict: ``"A"``, ``"B"`` in [-1, 1] and the paths."""
        a, b, a_path, b_path = self._load(index)
        if self.direction == "BtoA":
            a, b, a_path, b_path = b, a, b_path, a_path
        a, b = convert_channels(a, self.input_channels), convert_channels(b, self.target_channels)
        if a.shape[:2] != b.shape[:2] and not self.resizes:
            raise InputError(
                f"paired images {a_path} ({a.shape[1]}x{a.shape[0]}) and {b_path} "
                f"({b.shape[1]}x{b.shape[0]}) differ in size; without a resize (--data.resize true) the two "
                f"images of a pair must have the same width and height"
            )
        self.transform.set_random_seed(sample_seed(self.seed, self.epoch, index))
        out = apply_transform(self.transform, f"{a_path} and {b_path}", image=a, target=b)
        return {"A": out["image"], "B": out["target"], "A_path": a_path, "B_path": b_path}


class PairedImageDataset(_PairedBase):
    """Pairs of images from disk, in the aligned (A|B side by side) or two-folder layout.

    Item ``i``: load (an aligned image is split at width/2, whatever its aspect ratio, see ``split_aligned``),
    apply ``direction`` (``"BtoA"`` swaps, so ``"A"`` is always the generator input), convert channels, reseed
    the paired transform with ``sample_seed(seed, epoch, i)`` and apply it: each image is resized on its own
    (so A and B may differ in size), then both get the same crop and flip. Returns ``{"A": float32
    (input_channels, H, W), "B": float32 (target_channels, H, W), "A_path":
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
        keep_broken_links: List broken symbolic links as pairs instead of raising (the DataModule's set-up scan
            reports them with every other bad file). Default False.

    Attributes:
        pairs: ``(path_a, path_b)`` of each item (the same file twice for the aligned layout); ``folder``: the
        split's folder; ``skipped``: ``(path, reason)`` of the files dropped by :meth:`keep`.

    Raises:
        FileNotFoundError: Root or split missing; a broken symbolic link (unless ``keep_broken_links``).
        InputError: Empty folder, unmatched file names, bad option values; unreadable files and pairs of two
            sizes without a resize (raised when the item is loaded; the DataModule finds them before training).
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
        keep_broken_links: bool = False,
    ) -> None:
        super().__init__(direction, transform, input_channels, target_channels, seed, epoch_counter)
        self.layout, folders = find_pair_layout(root, split, layout)
        listing = {"keep_broken_links": keep_broken_links, "hint": SKIP_HINT}
        if self.layout == "aligned":
            self.pairs = [(path, path) for path in find_images(folders[0], **listing)]
        else:
            self.pairs = match_pairs(*folders, **listing)
        self.folder = Path(os.path.commonpath(folders))
        self.skipped: list[tuple[Path, str]] = []

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the pairs ``indices`` (``skip_unreadable``); ``skipped`` lists the files that were bad."""
        self.pairs = [self.pairs[i] for i in indices]
        self.skipped = skipped

    def __len__(self) -> int:
        """Return the number of pairs."""
        return len(self.pairs)

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray, str, str]:
        """Load the A and B sides of pair ``index``."""
        path_a, path_b = self.pairs[index]
        in_side, tgt_side = self.input_channels, self.target_channels
        channels_a, channels_b = (in_side, tgt_side) if self.direction == "AtoB" else (tgt_side, in_side)
        if self.layout == "folders":
            a, b = load_image(path_a, channels_a, SKIP_HINT), load_image(path_b, channels_b, SKIP_HINT)
            return a, b, str(path_a), str(path_b)
        a, b = split_aligned(load_image(path_a, max(channels_a, channels_b), SKIP_HINT), path_a)
        if not self.resizes:  # odd width: B's extra column, which the reference's crop never reaches either
            b = b[:, : a.shape[1]]
        return a, b, str(path_a), str(path_b)


SYNTHETIC_SETS: dict[str, type[SyntheticPairs] | type[SyntheticColours]] = {
    "labels": SyntheticPairs,
    "colours": SyntheticColours,
}
"""The built-in paired tasks of ``PairedDataModule(synthetic=...)`` (used without ``root``)."""


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
        synthetic: SyntheticPairs | SyntheticColours,
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


class PairedDataModule(ResizeCropDataModule):
    """Paired data for pix2pix-style methods (the constructor is the ``data:`` config schema).

    Batches follow the batch contract: ``{"A": (N, input_channels, H, W), "B": (N, target_channels, H, W)``
    float32 in [-1, 1], ``"A_path", "B_path": list[str]}``. Training augments with resize/crop/flip seeded
    per sample; evaluation resizes (or center-crops) deterministically (see ``build_transform``). With
    ``root`` None the built-in ``SyntheticPairs`` set is used (``synthetic_size`` train items, 16 val and 16
    test items, label map -> photo).

    Args:
        layout: ``"auto"``, ``"aligned"`` (A|B side by side) or ``"folders"`` (see ``find_pair_layout``).
            Default ``"auto"``.
        direction: ``"AtoB"`` or ``"BtoA"`` (swaps so ``"A"`` is always the generator input).
            Default ``"AtoB"``.
        synthetic: the built-in task without ``root``: ``"labels"`` (``SyntheticPairs``, label map -> photo) or
            ``"colours"`` (``SyntheticColours``: outlines -> shapes in a random colour, multimodal). Default
            ``"labels"``.
        **kwargs: The :class:`~lit_translate.data.base.ResizeCropDataModule` and
            :class:`~lit_translate.data.base.TranslationDataModule` arguments (root, sizes, batch sizes,
            splits, ...).
    """

    def __init__(
        self,
        layout: Literal["auto", "aligned", "folders"] = "auto",
        direction: Literal["AtoB", "BtoA"] = "AtoB",
        synthetic: Literal["labels", "colours"] = "labels",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.layout = check_choice("layout", layout, LAYOUTS)
        self.direction = check_choice("direction", direction, DIRECTIONS)
        self.synthetic = check_choice("synthetic", synthetic, tuple(SYNTHETIC_SETS))

    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the paired dataset of ``role``."""
        options = {"direction": self.direction, **self.dataset_options(role, paired=True)}
        if self.root is None:
            size = self.synthetic_size if role == "train" else SYNTHETIC_EVAL_SIZE
            return SyntheticPairedDataset(SYNTHETIC_SETS[self.synthetic](size, split=role), **options)
        split = self.split_name(role)
        return PairedImageDataset(self.root, split, self.layout, keep_broken_links=True, **options)

    @override
    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Scan each pair (an aligned image once), with the pipeline's size needs; count aligned images not 2:1."""
        if not isinstance(dataset, PairedImageDataset):  # the synthetic set (no files) or the predict folder
            return super().scan_request(role, dataset)
        aligned = dataset.layout == "aligned"
        units = [(a,) if aligned else (a, b) for a, b in dataset.pairs]
        size = getattr(dataset.transform, "size", None)

        def note(good: list[tuple[ImageHeader, ...]]) -> str | None:
            return aligned_ratio_note([(h.width, h.height) for (h,) in good], dataset.folder, size) if aligned else None

        check = partial(self.size_problem, aligned=aligned)
        return ScanRequest(dataset.folder, units, "pairs", size_problem=check, keep=dataset.keep, note=note)

    @override
    def has_split(self, split: str) -> bool:
        """Tell whether ``split`` exists under the root in the configured layout."""
        try:
            find_pair_layout(check_root(self.root), split, self.layout)
        except FileNotFoundError:
            return False
        return True


__all__ = [
    "DIRECTIONS",
    "LAYOUTS",
    "SYNTHETIC_EVAL_SIZE",
    "PairedDataModule",
    "PairedImageDataset",
    "SyntheticPairedDataset",
    "apply_transform",
    "check_root",
    "find_pair_layout",
    "match_pairs",
    "split_aligned",
]
