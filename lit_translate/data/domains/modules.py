"""Multi-domain DataModules (StarGAN): the shared base, one folder per domain, and the built-in synthetic domains.

Batches follow the batch contract: ``{"A": float32 (N, 3, S, S) in [-1, 1], "A_label": float32 (N, c), "A_path":
list[str]}`` (joint training adds ``"A_mask"``). A DataModule tells the method what its labels mean through
:attr:`MultiDomainDataModule.attributes` and :attr:`MultiDomainDataModule.domains` (names, label order), from
which the method builds its :class:`~lit_translate.data.domains.labels.LabelSpace`. CelebA and CelebA + RaFD are in
:mod:`lit_translate.data.domains.celeba_modules`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset
from typing_extensions import override

from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, TranslationDataModule, check_root
from lit_translate.data.domains.datasets import DomainFolderDataset, StarGANTransform, find_domains
from lit_translate.data.folder import ImageFolderDataset
from lit_translate.data.sampling import SharedEpoch, sample_seed
from lit_translate.data.scan import ScanRequest
from lit_translate.data.synthetic import ProceduralSet, random_layout
from lit_translate.errors import InputError

SYNTHETIC_DOMAINS: dict[str, tuple[tuple[int, int, int], tuple[tuple[int, int, int], ...]]] = {
    "red": ((30, 30, 45), ((235, 60, 50), (250, 130, 110), (170, 30, 30), (255, 170, 60))),
    "green": ((235, 232, 220), ((40, 170, 60), (120, 220, 100), (20, 100, 40), (180, 230, 60))),
    "blue": ((130, 130, 140), ((50, 80, 230), (110, 180, 255), (20, 30, 140), (60, 220, 230))),
}
"""The built-in domains: ``name: (background colour, colours of the four shape kinds)`` (RGB)."""


class SyntheticDomains(ProceduralSet, Dataset):
    """Procedural multi-domain images (StarGAN demo and tests): the domain is the colour scheme.

    Item ``i`` is a layout of 2-5 rectangles and discs (a pure function of ``(split, i)``) drawn in the style of
    domain ``i % 3`` (:data:`SYNTHETIC_DOMAINS`: background colour and the colour of each of the four shape
    kinds). Translating into another domain means recolouring background and shapes and keeping the geometry,
    which a small StarGAN learns in minutes on a CPU and which is easy to judge by eye. :meth:`render` draws an
    item in any domain (the ground truth of a translation).

    Args:
        size: Number of items, >= 1.
        split: Split name; different splits hold different layouts. Default ``"train"``.
        canvas: Image side in pixels, >= 16. Default 64.
        transform: Applied to each image (flip in training). Default None: ``StarGANTransform(canvas)``.
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
    """

    domains: tuple[str, ...] = tuple(SYNTHETIC_DOMAINS)

    def __init__(
        self,
        size: int,
        split: str = "train",
        canvas: int = 64,
        transform: StarGANTransform | None = None,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        super().__init__(size, split, seed, canvas)  # seed: the augmentation's (content depends on split only)
        self.transform, self.epoch_counter = transform or StarGANTransform(canvas), epoch_counter
        self.targets = [i % len(self.domains) for i in range(size)]
        self.labels = torch.nn.functional.one_hot(torch.tensor(self.targets), len(self.domains)).float()

    def render(self, index: int, domain: int) -> np.ndarray:
        """Draw the layout of item ``index`` in the style of domain ``domain``: uint8 ``(canvas, canvas, 3)``."""
        self.check_index(index)
        background, colours = SYNTHETIC_DOMAINS[self.domains[domain]]
        image = np.empty((self.canvas, self.canvas, 3), np.uint8)
        image[:] = background
        rng = self.generator(3, index, seeded=False)  # content seed: (split, index)
        for shape in random_layout(rng, self.canvas, len(colours)):
            image[shape.mask(self.canvas)] = colours[shape.label - 1]
        return image

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        """Return ``{"A": (3, S, S) in [-1, 1], "A_label": one-hot (3,), "A_path": "synthetic:<split>:<i>"}``."""
        epoch = 0 if self.epoch_counter is None else self.epoch_counter.value
        path = self.path(index)
        image = self.transform(self.render(index, self.targets[index]), sample_seed(self.seed, epoch, index), path)
        return {"A": image, "A_label": self.labels[index].clone(), "A_path": path}


class TransformedFolderDataset(ImageFolderDataset):
    """The images of a folder and its sub-folders through a :class:`StarGANTransform` (predict at the training size).

    :class:`~lit_translate.data.folder.ImageFolderDataset` (the one predict folder: recursive, scanned at set-up)
    with the evaluation pipeline; kept under this name for old imports.

    Args:
        folder: Folder of input images.
        transform: The evaluation pipeline (centre crop, resize).
    """

    def __init__(self, folder: str | Path, transform: StarGANTransform) -> None:
        self.pipeline = transform
        super().__init__(folder, channels=3, keep_broken_links=True, transform=self.evaluate)

    def evaluate(self, image: np.ndarray, path: str) -> torch.Tensor:
        """Crop and resize one image as in evaluation (no flip)."""
        return self.pipeline(image, 0, path)


class MultiDomainDataModule(TranslationDataModule):
    """Base of the multi-domain DataModules: the StarGAN pipeline, label names, predict at the training size.

    Training: random horizontal flip, centre crop ``crop_size`` (none: the whole image), resize to
    ``image_size`` (:class:`~lit_translate.data.domains.datasets.StarGANTransform`, the reference's order);
    evaluation and predict: the same without the flip. Subclasses set :attr:`attributes` / :attr:`domains`
    and implement ``build_dataset``.

    Args:
        image_size: Side of the images the nets see; must match the discriminator's ``image_size`` (a multiple
            of ``2**repeat_num``, 64 for the reference D). Default 128.
        crop_size: Side of the square centre crop taken before resizing; None: no crop. Default None.
        flip: Random horizontal flip in training. Default True.
        interpolation: ``"bilinear"`` (torchvision's default, the reference) or ``"bicubic"``. Default
            ``"bilinear"``.
        predict_resize: Predict on ``predict_dir`` images cropped and resized as in evaluation (the size G was
            trained at); False: each image at its own size (padded to a multiple of 4). Default True.
        **kwargs: The :class:`~lit_translate.data.base.TranslationDataModule` arguments (``input_channels``
            must be 3).
    """

    def __init__(
        self,
        image_size: int = 128,
        crop_size: int | None = None,
        flip: bool = True,
        interpolation: Literal["bilinear", "bicubic"] = "bilinear",
        predict_resize: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if self.input_channels != 3:
            raise InputError(f"multi-domain data are RGB: input_channels must be 3, got {self.input_channels}")
        StarGANTransform(image_size, crop_size, flip, interpolation)  # validates the sizes and interpolation
        self.image_size, self.crop_size, self.flip = image_size, crop_size, flip
        self.interpolation, self.predict_resize = interpolation, predict_resize

    @property
    def attributes(self) -> tuple[str, ...]:
        """Return the multi-label attribute names of the labels (label order); empty without attributes."""
        return ()

    @property
    def domains(self) -> tuple[str, ...]:
        """Return the one-hot domain names of the labels (label order); empty without domains."""
        return ()

    def transform(self, train: bool, crop_size: int | None = None) -> StarGANTransform:
        """Return the pipeline of training (with the flip) or evaluation; ``crop_size`` overrides the default."""
        crop = self.crop_size if crop_size is None else crop_size
        return StarGANTransform(self.image_size, crop, self.flip and train, self.interpolation)

    def dataset_options(self, role: str) -> dict[str, Any]:
        """Return the arguments every dataset of ``role`` gets: seed and, in training, the shared epoch."""
        return {"seed": self.seed, "epoch_counter": self.epoch_counter if role == "train" else None}

    def image_files(self, role: str) -> list[Path]:
        """Return the image files of ``role``'s dataset (the listing happens once, in ``build_dataset``)."""
        dataset = self.dataset(role)
        parts = getattr(dataset, "datasets", [dataset])  # a ConcatDataset of masked datasets when joint
        return [Path(p) for part in parts for p in getattr(getattr(part, "dataset", part), "paths", [])]

    @override
    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Scan a dataset, or the parts of a joint one (CelebA + RaFD) as one unit list (see ``keep_parts``)."""
        if not isinstance(dataset, ConcatDataset):
            return super().scan_request(role, dataset)
        parts = [getattr(part, "dataset", part) for part in dataset.datasets]
        paths = [path for part in parts for path in part.paths]
        folder = Path(os.path.commonpath([p.parent for p in paths]))
        return ScanRequest(folder, [(p,) for p in paths], keep=lambda kept, skipped: keep_parts(dataset, kept, skipped))

    @override
    def predict_dataset(self) -> Dataset:
        """Return the ``predict_dir`` images, cropped and resized as in evaluation unless ``predict_resize`` is off."""
        if self.predict_dir is None or not self.predict_resize:
            return super().predict_dataset()
        return TransformedFolderDataset(self.predict_dir, self.transform(train=False))


class DomainFolderDataModule(MultiDomainDataModule):
    """One folder of images per domain: ``root/<split>/<domain>/*`` (RaFD, StarGAN v2's AFHQ and CelebA-HQ).

    Domains are the sorted sub-folder names of the training split (files and hidden folders are ignored), or
    ``domains``; the other splits must hold the same domain folders (extra ones are ignored), so labels agree
    across splits. Labels are one-hot. With ``root`` None the built-in :class:`SyntheticDomains` are used
    (``synthetic_size`` training images, 16 validation and 16 test images, at ``image_size``).

    Args:
        domains: The domain folders to use, in label order. Default None: every sub-folder of the training split.
        **kwargs: The :class:`MultiDomainDataModule` arguments (``image_size``, ``crop_size``: 256 for RaFD,
            None for AFHQ, ...) and the shared ones (``root``, splits, batch sizes, ...).
    """

    def __init__(self, domains: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        if domains is not None and (not domains or len(set(domains)) != len(domains)):
            raise InputError(f"domains must be distinct folder names, at least one; got {domains}")
        self._domains = tuple(domains) if domains is not None else None

    @property
    @override
    def domains(self) -> tuple[str, ...]:
        if self._domains is None:
            if self.root is None:
                self._domains = SyntheticDomains.domains
            else:
                self._domains = tuple(find_domains(check_root(self.root) / self.split_name("train")))
        return self._domains

    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the dataset of ``role``: the domain folders of its split, or the synthetic domains."""
        options = self.dataset_options(role)
        transform = self.transform(train=role == "train")
        if self.root is None:
            size = self.synthetic_size if role == "train" else SYNTHETIC_EVAL_SIZE
            return SyntheticDomains(size, role, self.image_size, transform, **options)
        split = self.split_name(role)
        dataset = DomainFolderDataset(self.root, split, list(self.domains), transform, **options)
        counts = ", ".join(f"{name} {count}" for name, count in zip(self.domains, dataset.domain_counts))
        self.log_rank_zero(logging.INFO, f"{role} split {split!r}: {len(dataset)} images ({counts})")
        return dataset


def keep_parts(dataset: ConcatDataset, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
    """Keep the items ``indices`` of a concatenation of (masked) labelled datasets: each part keeps its own."""
    start = 0
    for part in dataset.datasets:
        inner, size = getattr(part, "dataset", part), len(part)
        inner.keep([i - start for i in indices if start <= i < start + size], skipped)
        start += size
    dataset.cumulative_sizes = dataset.cumsum(dataset.datasets)


__all__ = [
    "SYNTHETIC_DOMAINS",
    "DomainFolderDataModule",
    "MultiDomainDataModule",
    "SyntheticDomains",
    "TransformedFolderDataset",
]
