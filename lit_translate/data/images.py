"""One folder of images, no targets: the content images of style transfer (``{"A", "A_path"}`` batches).

:class:`ImageFolderDataModule` lists every image under ``--data.root`` (recursively, any sizes) and serves each one
resized and centre-cropped to ``image_size``, as pytorch/examples ``fast_neural_style`` does
(``transforms.Resize(image_size)`` then ``CenterCrop(image_size)``). Splits: ``root/train`` and ``root/val`` when
both exist, else one folder split into train and validation by a seeded fraction. With no root, a built-in
procedural set of textured shapes (:class:`SyntheticContentDataset`) serves the CPU demo and the tests.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from typing_extensions import override

from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, TranslationDataModule, check_root
from lit_translate.data.io import SKIP_HINT, MissingDataError, check_channels, find_images, load_image
from lit_translate.data.sampling import seeded_split
from lit_translate.data.semantic.inputs import BatchKind
from lit_translate.data.synthetic import ProceduralSet, SyntheticPairs
from lit_translate.data.transforms import to_tensor
from lit_translate.errors import InputError

Item = dict[str, torch.Tensor | str]


def find_images_recursive(folder: str | Path, option: str = "--data.root") -> list[Path]:
    """List every image under ``folder`` and its sub-folders: ``find_images(..., recursive=True)``.

    The package's one listing rule (:func:`~lit_translate.data.io.find_images`): hidden sub-folders are skipped,
    broken image links are listed so that the set-up scan reports them with every other bad file.

    Args:
        folder: The folder to search.
        option: The option to name in the errors. Default ``"--data.root"``.

    Returns:
        The image files, sorted.
    """
    return find_images(folder, option, "a folder of content images", keep_broken_links=True, recursive=True)


def center_crop_resize(image: np.ndarray, crop: int, size: int) -> np.ndarray:
    """Cut the centre square of side ``crop`` (at most the shorter side), then resize it to ``size`` (bilinear).

    CelebA's aligned crop: ``crop`` 178 on the 178x218 aligned images (rows 20 to 198), as the GAN papers' CelebA.

    Args:
        image: uint8 ``(H, W, C)``, C = 1 or 3.
        crop: Side of the centre square, in the image's pixels.
        size: Output side, >= 1.

    Returns:
        uint8 ``(size, size, C)``.
    """
    h, w = image.shape[:2]
    side = min(crop, h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = np.ascontiguousarray(image[top : top + side, left : left + side])
    return resize_center_crop(square, size)


def resize_center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """Resize the shorter side to ``size`` (bilinear, as torchvision's ``Resize(size)`` on a PIL image), centre-crop.

    Images smaller than ``size`` are enlarged the same way, so every output is ``size x size``.

    Args:
        image: uint8 ``(H, W, C)``, C = 1 or 3.
        size: Output side, >= 1.

    Returns:
        uint8 ``(size, size, C)``.
    """
    h, w = image.shape[:2]
    short, long = min(h, w), max(h, w)
    new_short, new_long = size, int(size * long / short)  # torchvision's rule (truncation)
    new_h, new_w = (new_short, new_long) if h <= w else (new_long, new_short)
    if (new_h, new_w) != (h, w):
        pil = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
        image = np.asarray(pil.resize((new_w, new_h), Image.BILINEAR)).reshape(new_h, new_w, image.shape[2])
    top, left = int(round((new_h - size) / 2.0)), int(round((new_w - size) / 2.0))  # torchvision's CenterCrop
    return np.ascontiguousarray(image[top : top + size, left : left + size])


class ContentImageDataset(Dataset):
    """Image files, each resized (shorter side) and centre-cropped to ``image_size``: ``{"A", "A_path"}`` items.

    Args:
        paths: The image files.
        image_size: Output side (content images smaller than it are enlarged).
        channels: 1 or 3. Default 3.
        hint: Appended to read errors (e.g. the skip option). Default ``""``.
        crop_size: Cut the centre square of this side first, then resize (:func:`center_crop_resize`). Default
            None: resize the shorter side, then centre-crop (:func:`resize_center_crop`).
    """

    def __init__(
        self, paths: Sequence[Path], image_size: int, channels: int = 3, hint: str = "", crop_size: int | None = None
    ) -> None:
        check_channels(channels, "input_channels")
        self.paths, self.image_size, self.channels, self.hint = list(paths), image_size, channels, hint
        self.crop_size = crop_size
        self.skipped: list[tuple[Path, str]] = []

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the images ``indices`` (the set-up scan's ``skip_unreadable``); ``skipped`` lists the bad files."""
        self.paths, self.skipped = [self.paths[i] for i in indices], skipped

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.paths)

    def __getitem__(self, index: int) -> Item:
        """Load image ``index``: ``{"A": float32 (C, image_size, image_size) in [-1, 1], "A_path": str}``."""
        path = self.paths[index]
        image = load_image(path, self.channels, self.hint)
        if self.crop_size is None:
            image = resize_center_crop(image, self.image_size)
        else:
            image = center_crop_resize(image, self.crop_size, self.image_size)
        return {"A": to_tensor(image), "A_path": str(path)}


class SyntheticContentDataset(ProceduralSet, Dataset):
    """Built-in content images: the textured "photos" of :class:`~lit_translate.data.synthetic.SyntheticPairs`.

    Each image has 2-5 rectangles and discs with striped, dotted and graded textures and dark outlines on a soft
    gradient, so a stylisation visibly changes colours and textures while the shapes stay recognisable.

    Args:
        size: Number of images.
        split: Split name (different splits hold different images).
        image_size: Side in pixels, >= 16.
        channels: 1 or 3. Default 3.
    """

    def __init__(self, size: int, split: str, image_size: int, channels: int = 3) -> None:
        check_channels(channels, "input_channels")
        super().__init__(size, split, 0, image_size)
        self.source = SyntheticPairs(size, split=split, canvas=image_size)
        self.channels = channels

    def __getitem__(self, index: int) -> Item:
        """Generate image ``index``: ``{"A": float32 (C, S, S) in [-1, 1], "A_path": "synthetic:<split>:<i>"}``."""
        image = self.source[index][1]
        if self.channels == 1:
            image = np.asarray(Image.fromarray(image).convert("L"))[:, :, None]
        return {"A": to_tensor(image), "A_path": self.path(index)}


def synthetic_style_image(size: int = 256) -> np.ndarray:
    """Draw a procedural "painting": wavy diagonal bands of four saturated colours with brush-like streaks.

    Used as the style image ``"synthetic"`` of the style-transfer demo and tests: its colours and oriented
    stripes differ from every synthetic content image, so a transfer is easy to see.

    Args:
        size: Side in pixels. Default 256.

    Returns:
        uint8 ``(size, size, 3)``.
    """
    y, x = np.mgrid[:size, :size] / size
    phase = 5.0 * (x + y) + 0.6 * np.sin(2 * np.pi * 2.0 * y) + 0.4 * np.sin(2 * np.pi * 3.0 * x)
    palette = np.array([[20, 40, 150], [250, 210, 30], [230, 90, 20], [20, 160, 150]], np.float64)
    image = palette[np.floor(phase).astype(int) % len(palette)]
    streaks = 0.5 + 0.5 * np.sin(2 * np.pi * 40.0 * (x - y) + 3.0 * np.sin(2 * np.pi * 7.0 * phase))
    image = image * (0.7 + 0.3 * streaks[..., None])
    return image.round().clip(0, 255).astype(np.uint8)


class ImageFolderDataModule(TranslationDataModule):
    """Images from one folder: batches ``{"A": (N, C, S, S) in [-1, 1], "A_path"}``, no ``B``.

    The content images of style transfer, and the real images of an unconditional GAN (``UnconditionalGAN``).

    Images are found recursively (any sizes, any accepted extension), resized so that the shorter side is
    ``image_size`` (bilinear; smaller images are enlarged) and centre-cropped to ``image_size`` (the reference's
    ``Resize`` + ``CenterCrop``), with no other augmentation; training order is shuffled per epoch (the reference's
    DataLoader does not shuffle). Splits:

    * ``root/<train_split>`` and ``root/val`` (or ``--data.val_split``) both exist: those folders;
    * otherwise the images of ``root/<train_split>`` if it exists, else of ``root`` (except ``root/<test_split>``),
      split by a seeded fraction: ``val_fraction`` of them (at least one) validate, the rest train; ``split_seed``
      fixes which, and both sides keep the sorted path order (validation images are fixed).

    ``test`` reads ``root/<test_split>``. With ``root`` None: :class:`SyntheticContentDataset` (``synthetic_size``
    training images, 16 validation and 16 test images) at ``image_size``.

    Args:
        image_size: Side of the training and validation images. Default 256 (the reference).
        val_fraction: Share of the images held out for validation when there is no ``val`` folder, in (0, 1).
            Default 0.1.
        split_seed: Seed of that split (independent of ``--data.seed``, which shuffles). Default 0.
        crop_size: Cut the centre square of this side (in the files' pixels) first, then resize it to
            ``image_size``: CelebA's aligned crop is 178 (the 178x178 centre of the 178x218 images). Default None:
            resize the shorter side, then centre-crop.
        **kwargs: The :class:`~lit_translate.data.base.TranslationDataModule` arguments.

    Raises:
        InputError: ``image_size`` < 1 or ``val_fraction`` outside (0, 1); at setup, a folder without images (the
            message names it) or a split that leaves no training or no validation image.
    """

    def __init__(
        self,
        image_size: int = 256,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        crop_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        for key, value in (("image_size", image_size), ("crop_size", crop_size or 1)):
            if value < 1:
                raise InputError(f"{key} must be >= 1, got {value}")
        self.crop_size = crop_size
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"val_fraction must be in (0, 1), got {val_fraction}")
        self.image_size, self.val_fraction, self.split_seed = image_size, val_fraction, split_seed

    # ------------------------------------------------------------------------------------------------ listing
    def split_folders(self) -> tuple[Path, Path | None]:
        """Return ``(training folder, validation folder)``; the second is None when a fraction splits the first."""
        root = check_root(self.root)
        train, val = root / self.splits["train"], root / (self.splits["val"] or "val")
        if train.is_dir() and val.is_dir():
            return train, val
        if self.splits["val"] is not None or val.is_dir():
            raise MissingDataError(
                f"{root} needs both {train.name}/ and {val.name}/ folders for a folder split (found only one); add "
                f"the missing one, or keep all images in one folder to split them by --data.val_fraction"
            )
        return (train if train.is_dir() else root), None

    def image_files(self, role: str) -> list[Path]:
        """List the image files of ``role`` (``"train"``, ``"val"``, ``"test"``): the one place files are listed.

        Raises:
            InputError: A folder has no image, or the fraction split leaves a side empty.
        """
        if role == "test":
            return find_images_recursive(check_root(self.root) / self.splits["test"], "--data.test_split")
        train, val = self.split_folders()
        if val is not None:
            return find_images_recursive(train if role == "train" else val)
        paths = find_images_recursive(train)
        test = check_root(self.root) / self.splits["test"]
        paths = [path for path in paths if test not in path.parents]  # the root's test/ folder never trains
        fix = f"or add a {train.parent / 'val'} folder"
        kept, held_out = seeded_split(paths, self.val_fraction, self.split_seed, str(train), fix)
        if role == "val":
            self.log_rank_zero(
                logging.INFO,
                f"{train} has no val/ folder next to it: {len(held_out)} of its {len(paths)} images validate "
                f"(--data.val_fraction {self.val_fraction}, --data.split_seed {self.split_seed})",
            )
        return held_out if role == "val" else kept

    # ----------------------------------------------------------------------------------------------- datasets
    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the content dataset of ``role``."""
        if self.root is None:
            size = self.synthetic_size if role == "train" else SYNTHETIC_EVAL_SIZE
            return SyntheticContentDataset(size, role, self.image_size, self.input_channels)
        hint = "" if self.skip_unreadable else SKIP_HINT
        return ContentImageDataset(self.image_files(role), self.image_size, self.input_channels, hint, self.crop_size)

    @property
    @override
    def batch_kinds(self) -> dict[str, BatchKind]:
        """Say what the batches hold: ``{"A": "image"}`` (no target ``B``)."""
        return {"A": "image"}


__all__ = [
    "ContentImageDataset",
    "ImageFolderDataModule",
    "SyntheticContentDataset",
    "center_crop_resize",
    "find_images_recursive",
    "resize_center_crop",
    "synthetic_style_image",
    "to_tensor",
]
