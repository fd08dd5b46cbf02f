"""The super-resolution DataModule: where the HR (and pre-made LR) images of each split are, and the options.

Where the HR images of a split (``train``, ``val``, ``test``) come from, first match wins:

1. ``--data.<split>_dir DIR``: that folder (e.g. ``train_dir: Sun_Hays80``, ``val_dir: Set5``);
2. ``--data.root DIR`` with split folders (``DIR/train`` exists): ``DIR/<split>``, with the base class's
   validation fallback (``val`` if present, else the test split with a warning);
3. ``--data.root DIR`` without split folders: one flat folder, split into train and validation images by a
   seeded fraction (``val_fraction``, ``split_seed``); ``test`` takes the whole folder (point ``--data.root`` or
   ``--data.test_dir`` at a held-out set such as Set14, never at the training images);
4. nothing given: the built-in synthetic images (:class:`~lit_translate.data.sr.synthetic.SyntheticHR`).

Pre-made LR images, when given, replace the on-the-fly reduction: ``--data.<split>_lr_dir`` for an explicit HR
folder, ``--data.lr_root`` mirroring ``--data.root`` (``lr_root/<split>`` or the flat ``lr_root``). An LR file is
matched to its HR file by stem plus ``lr_suffix`` (DIV2K: ``0001.png`` -> ``0001x4.png``), any image extension.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

from torch.utils.data import Dataset
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, TranslationDataModule, check_root
from lit_translate.data.io import SKIP_HINT, MissingDataError, find_images
from lit_translate.data.resize import RESAMPLERS
from lit_translate.data.sampling import seeded_split
from lit_translate.data.scan import ScanRequest
from lit_translate.data.sr.dataset import Pair, SRDataset, check_sr_sizes
from lit_translate.data.sr.synthetic import SyntheticHR
from lit_translate.errors import InputError

ROLES = ("train", "val", "test")
SYNTHETIC_MIN_CANVAS = 96


class SRDataModule(TranslationDataModule):
    """HR images with LR made by bicubic reduction (or pre-made), for SRResNet/SRGAN-style methods.

    Batches follow the batch contract: ``{"A": LR (N, C, h, w), "B": HR (N, C, scale h, scale w)`` float32 in
    [-1, 1], ``"A_path", "B_path": list[str]}``. Training: aligned random ``gt_size`` HR patches, flips and 90
    degree rotations (BasicSR); evaluation: whole images cropped to a multiple of ``mod_crop``. LR images are
    made by the ``resampler``, MATLAB ``imresize`` bicubic by default, which antialiases as the LR sets of
    BasicSR/DIV2K were made (see :mod:`lit_translate.data.resize`). Where the images are: module docstring.

    Args:
        scale: SR factor; must equal the generator's ``scale`` (the SR methods check). Default 4.
        gt_size: Training HR patch side, a multiple of ``scale`` (LR patch ``gt_size / scale``). Default 128.
        flip: Random horizontal flips in training. Default True.
        rotate: Random vertical flips and transposes in training (with ``flip``: all 8 rotations/flips).
            Default True.
        resampler: ``"matlab"`` (MATLAB ``imresize`` bicubic, antialiased; float64, rounded to 8 bits once, as
            BasicSR's MATLAB scripts) or ``"pil"`` (PIL ``BICUBIC``, also antialiased; within one 8-bit level of
            MATLAB inside the image, a few levels on the outer 2 LR pixels). Default ``"matlab"``.
        mod_crop: Evaluation HR images are cropped (bottom/right) to multiples of this; None = ``scale``. BasicSR's
            Set5/Set14 ``GTmod12`` / ``LRbicx4`` files are cropped to multiples of 12: set 12 to score the same
            pixels. Default None.
        train_dir: Folder of training HR images. Default None.
        val_dir: Folder of validation HR images (e.g. Set5). Default None.
        test_dir: Folder of test HR images (e.g. Set14). Default None.
        lr_root: Pre-made LR images mirroring ``root``. Default None: LR made on the fly.
        train_lr_dir: Pre-made LR images of ``train_dir``. Default None.
        val_lr_dir: Pre-made LR images of ``val_dir``. Default None.
        test_lr_dir: Pre-made LR images of ``test_dir``. Default None.
        lr_suffix: Added to an HR file's stem to name its LR file (e.g. ``"x4"``). Default ``""``.
        val_fraction: Share of a flat ``root`` folder held out for validation, in (0, 1). Default 0.1.
        split_seed: Seed of that train/validation split (not of the augmentation). Default 0.
        synthetic_canvas: Side of the built-in synthetic HR images; None = ``max(96, gt_size)``. Default None.
        cache_images: Keep decoded training images in memory (each worker), for small sets re-read every epoch
            (see :class:`~lit_translate.data.sr.dataset.SRDataset`). Default False.
        **kwargs: The :class:`~lit_translate.data.base.TranslationDataModule` arguments (root, batch sizes, seed,
            workers, splits, synthetic_size, predict_dir, skip_unreadable).
    """

    def __init__(
        self,
        scale: int = 4,
        gt_size: int = 128,
        flip: bool = True,
        rotate: bool = True,
        resampler: Literal["matlab", "pil"] = "matlab",
        mod_crop: int | None = None,
        train_dir: str | None = None,
        val_dir: str | None = None,
        test_dir: str | None = None,
        lr_root: str | None = None,
        train_lr_dir: str | None = None,
        val_lr_dir: str | None = None,
        test_lr_dir: str | None = None,
        lr_suffix: str = "",
        val_fraction: float = 0.1,
        split_seed: int = 0,
        synthetic_canvas: int | None = None,
        cache_images: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        check_sr_sizes(scale, gt_size, mod_crop)
        check_choice("resampler", resampler, RESAMPLERS)
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"--data.val_fraction must be in (0, 1), got {val_fraction}")
        self.scale, self.gt_size, self.flip, self.rotate = scale, gt_size, flip, rotate
        self.resampler, self.mod_crop = resampler, mod_crop
        self.dirs = {"train": train_dir, "val": val_dir, "test": test_dir}
        self.lr_dirs = {"train": train_lr_dir, "val": val_lr_dir, "test": test_lr_dir}
        self.lr_root, self.lr_suffix = lr_root, lr_suffix
        self.val_fraction, self.split_seed = val_fraction, split_seed
        self.synthetic_canvas = synthetic_canvas or max(SYNTHETIC_MIN_CANVAS, gt_size)
        self.cache_images = cache_images

    # ------------------------------------------------------------------------------------------- datasets
    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the SR dataset of ``role`` (``"train"``, ``"val"`` or ``"test"``)."""
        train = role == "train"
        options: dict[str, Any] = {
            "scale": self.scale,
            "gt_size": self.gt_size if train else None,
            "flip": self.flip,
            "rotate": self.rotate,
            "resampler": self.resampler,
            "mod_crop": self.mod_crop,
            "channels": self.input_channels,
            "seed": self.seed,
            "epoch_counter": self.epoch_counter if train else None,
        }
        if self.synthetic:
            size = self.synthetic_size if train else SYNTHETIC_EVAL_SIZE
            return SRDataset(SyntheticHR(size, split=role, canvas=self.synthetic_canvas), **options)
        hint = "" if self.skip_unreadable else SKIP_HINT
        return SRDataset(self.pairs(role), hint=hint, cache=self.cache_images and train, check=False, **options)

    @override
    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Scan every HR (and pre-made LR) file, with the patch and LR size checks of :class:`SRDataset`."""
        if not isinstance(dataset, SRDataset) or isinstance(dataset.source, SyntheticHR):
            return super().scan_request(role, dataset)
        units = [(hr,) if lr is None else (hr, lr) for hr, lr in dataset.source]
        folder = Path(os.path.commonpath([hr.parent for hr, _ in dataset.source]))
        return ScanRequest(folder, units, size_problem=dataset.header_problem, keep=dataset.keep)

    @override
    def check_dataset(self, role: str, dataset: Dataset) -> None:
        """After the scan: read the kept images' sizes and demand ``val_batch_size`` 1 for mixed evaluation sizes."""
        if isinstance(dataset, SRDataset) and not isinstance(dataset.source, SyntheticHR):
            dataset.sizes = dataset.check_sizes()
            if role != "train":
                self._check_eval_batch(dataset, role)

    @property
    def synthetic(self) -> bool:
        """Whether the built-in synthetic images are used (no ``root`` and no ``<split>_dir`` given)."""
        return self.root is None and not any(self.dirs.values())

    def pairs(self, role: str) -> list[Pair]:
        """Return the ``(HR file, pre-made LR file or None)`` pairs of ``role``, sorted by HR file name."""
        folder, subset = self.hr_folder(role)
        paths = find_images(folder, option=self._option(role), expected="a folder of HR images")
        if subset is not None:
            paths = self._flat_subset(paths, subset, folder)
        lr_folder = self.lr_folder(role, subset is not None)
        return [(path, None) for path in paths] if lr_folder is None else self._match_lr(paths, lr_folder)

    def hr_folder(self, role: str) -> tuple[Path, str | None]:
        """Return the HR folder of ``role`` and, for a flat ``root``, which part of it (``"train"``/``"val"``)."""
        if self.dirs[role]:
            return Path(self.dirs[role]), None  # type: ignore[arg-type]
        if self.root is None:
            raise InputError(
                f"no HR images for the {role} split: pass {self._option(role)} DIR (or --data.root DIR for all splits)"
            )
        root = check_root(self.root)
        if self.has_split(self.splits["train"]):  # root/<split> folders
            split = self.split_name(role)
            if not self.has_split(split):
                raise MissingDataError(f"no {split!r} folder under {root}; add it or pass {self._option(role)} DIR")
            return root / split, None
        return root, role if role != "test" else None

    def lr_folder(self, role: str, flat: bool) -> Path | None:
        """Return the pre-made LR folder of ``role``, or None (LR made on the fly)."""
        if self.lr_dirs[role]:
            return Path(self.lr_dirs[role])  # type: ignore[arg-type]
        if self.lr_root is None:
            return None
        if self.dirs[role]:
            raise InputError(
                f"--data.lr_root mirrors --data.root, but the {role} images come from {self._option(role)}; pass "
                f"--data.{role}_lr_dir DIR for their LR images"
            )
        return Path(self.lr_root) if flat else Path(self.lr_root) / self.split_name(role)

    def _option(self, role: str) -> str:
        return f"--data.{role}_dir"

    def _flat_subset(self, paths: list[Path], subset: str, folder: Path) -> list[Path]:
        """Split a flat folder's images into train / val by ``val_fraction``, seeded by ``split_seed``."""
        kept, held_out = seeded_split(
            paths, self.val_fraction, self.split_seed, str(folder), "or pass --data.val_dir DIR"
        )
        chosen = held_out if subset == "val" else kept
        self.log_rank_zero(
            logging.INFO,
            f"{folder} has no train/ folder: {len(chosen)} of its {len(paths)} images are the {subset} split "
            f"(--data.val_fraction {self.val_fraction}, --data.split_seed {self.split_seed})",
        )
        return chosen

    def _match_lr(self, paths: list[Path], lr_folder: Path) -> list[Pair]:
        """Pair each HR file with the LR file named ``<stem><lr_suffix>.<any image extension>``."""
        by_stem = {p.stem: p for p in find_images(lr_folder, expected="a folder of pre-made LR images")}
        missing = [p for p in paths if p.stem + self.lr_suffix not in by_stem]
        if missing:
            raise MissingDataError(
                f"no pre-made LR image for HR {missing[0]} ({len(missing)} of {len(paths)} missing): expected "
                f"{lr_folder / (missing[0].stem + self.lr_suffix)}.<png|jpg|...>; check the LR folder and "
                f"--data.lr_suffix ({self.lr_suffix!r})"
            )
        return [(p, by_stem[p.stem + self.lr_suffix]) for p in paths]

    def _check_eval_batch(self, dataset: SRDataset, role: str) -> None:
        """Whole images of different sizes cannot be batched: demand ``val_batch_size`` 1 before training."""
        sizes = dict(zip(dataset.sizes, [hr for hr, _ in dataset.source]))  # type: ignore[union-attr]
        if self.val_batch_size > 1 and len(sizes) > 1:
            (a, path_a), (b, path_b) = list(sizes.items())[:2]
            raise InputError(
                f"--data.val_batch_size is {self.val_batch_size}, but the {role} images differ in size ({path_a} "
                f"{a[0]}x{a[1]}, {path_b} {b[0]}x{b[1]} after the mod-crop); whole-image SR evaluation needs "
                f"--data.val_batch_size 1"
            )


__all__ = ["ROLES", "SRDataModule"]
