"""Multi-domain data for StarGAN: the transform, domain folders, and two datasets with the mask vector.

Items follow the batch contract: ``{"A": float32 (3, H, W) in [-1, 1], "A_label": float32 (c_dim,), "A_path":
str}``; :class:`MaskedLabelDataset` adds ``"A_mask"``. Augmentation of item ``i`` in epoch ``e`` is seeded from
``sample_seed(seed, e, i)`` (the epoch comes from a shared counter, as in the paired dataset), so it repeats
with the seed and differs per item. CelebA (attribute file, reference split) is in
:mod:`lit_translate.data.domains.celeba`; target labels and the joint label layout in
:mod:`lit_translate.data.domains.labels`.
Reference: yunjey/stargan ``data_loader.py`` and ``solver.py`` (``train_multi``); the folder layout of RaFD and
StarGAN v2 (``root/<split>/<domain>/``). No Lightning here.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from lit_translate.choices import resolve_choice
from lit_translate.data.domains.labels import joint_label
from lit_translate.data.io import MissingDataError, find_images, load_image
from lit_translate.data.sampling import ShardedSampler, SharedEpoch, mix_seed, sample_seed
from lit_translate.data.transforms import to_tensor
from lit_translate.errors import InputError

_INTERPOLATIONS = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
Item = dict[str, Tensor | str]


class StarGANTransform:
    """The reference's pipeline: random horizontal flip (training), centre crop, resize, map to [-1, 1].

    Same ops in the same order as yunjey/stargan ``get_loader`` (``RandomHorizontalFlip`` -> ``CenterCrop`` ->
    ``Resize`` -> ``ToTensor`` -> ``Normalize(0.5, 0.5)``), done with PIL as torchvision does on PIL images:
    the crop offset is ``round((size - crop_size) / 2)`` (Python rounding, as torchvision) and resizing uses
    PIL's antialiased resampling (albumentations' OpenCV ``Resize`` does not antialias, which aliases 512 ->
    128). Interpolation: torchvision's ``Resize`` defaulted to **bilinear** in the reference's era
    (``PIL.Image.BILINEAR``; ``InterpolationMode.BILINEAR`` today), so ``"bilinear"`` is the default here and
    ``"bicubic"`` the alternative. The output is ``image_size`` x ``image_size``: after a (square) crop this is
    the reference's ``Resize(image_size)``; without a crop a non-square image is stretched (StarGAN v2's
    ``Resize([size, size])``). The flip is drawn from the item's seed.

    Args:
        image_size: Output height and width. Default ``128``.
        crop_size: Side of the square centre crop taken first; None: no crop. Default None.
        flip: Horizontal flip with probability 0.5 (training). Default False.
        interpolation: ``"bilinear"`` or ``"bicubic"``. Default ``"bilinear"``.

    Raises:
        InputError: A size is below 1, or an unknown ``interpolation``.
    """

    def __init__(
        self, image_size: int = 128, crop_size: int | None = None, flip: bool = False, interpolation: str = "bilinear"
    ) -> None:
        if image_size < 1 or (crop_size is not None and crop_size < 1):
            raise InputError(f"image_size and crop_size must be >= 1; got {image_size} and {crop_size}")
        self.image_size, self.crop_size, self.flip = image_size, crop_size, flip
        self.interpolation = interpolation
        self._resample = resolve_choice("interpolation", interpolation, _INTERPOLATIONS)

    def __call__(self, image: np.ndarray, seed: int, path: str = "image") -> Tensor:
        """Transform one image.

        Args:
            image: uint8 ``(H, W, 3)``.
            seed: The item's seed (``sample_seed(seed, epoch, index)``); decides the flip.
            path: The file, for the error message.

        Returns:
            float32 ``(3, image_size, image_size)`` in [-1, 1].

        Raises:
            InputError: The image is smaller than ``crop_size``.
        """
        if self.flip and random.Random(seed).random() < 0.5:
            image = image[:, ::-1]
        pil = Image.fromarray(np.ascontiguousarray(image))
        if self.crop_size is not None:
            pil = pil.crop(self._crop_box(pil.width, pil.height, path))
        pil = pil.resize((self.image_size, self.image_size), self._resample)
        return to_tensor(np.asarray(pil))

    def _crop_box(self, width: int, height: int, path: str) -> tuple[int, int, int, int]:
        """Return the centre crop box ``(left, top, right, bottom)`` with torchvision's rounding."""
        size = self.crop_size
        assert size is not None
        if width < size or height < size:
            raise InputError(
                f"image {path} is {width}x{height}, smaller than the centre crop crop_size={size}; lower crop_size "
                f"or remove the image"
            )
        left, top = int(round((width - size) / 2.0)), int(round((height - size) / 2.0))
        return left, top, left + size, top + size


def rafd_transform(train: bool, image_size: int = 128, interpolation: str = "bilinear") -> StarGANTransform:
    """Return the reference's RaFD pipeline: flip (``train`` only), centre crop 256 (``--rafd_crop_size``), resize.

    Args:
        train: Add the random flip.
        image_size: Output size. Default ``128``.
        interpolation: See :class:`StarGANTransform`. Default ``"bilinear"``.
    """
    return StarGANTransform(image_size, 256, train, interpolation)


class LabelledImageDataset(Dataset):
    """Image files with one label vector each; the shared base of the multi-domain datasets.

    Args:
        paths: The image files.
        labels: ``(N, c_dim)`` float32 labels, row ``i`` for ``paths[i]``.
        transform: The pipeline. Default None: ``StarGANTransform()`` (resize to 128, no crop, no flip).
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Tensor,
        transform: StarGANTransform | None = None,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        if labels.ndim != 2 or labels.shape[0] != len(paths):
            raise ValueError(f"labels must be ({len(paths)}, c_dim) for {len(paths)} paths; got {tuple(labels.shape)}")
        self.paths, self.labels = list(paths), labels.float()
        self.skipped: list[tuple[Path, str]] = []
        self.transform = transform or StarGANTransform()
        self.seed, self.epoch_counter = seed, epoch_counter

    @property
    def c_dim(self) -> int:
        """Return the label length."""
        return self.labels.shape[1]

    @property
    def epoch(self) -> int:
        """Return the current epoch (from the shared counter, 0 without one)."""
        return 0 if self.epoch_counter is None else self.epoch_counter.value

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the items ``indices`` (the set-up scan's ``skip_unreadable``); ``skipped`` lists the bad files.

        Every per-item list of a subclass follows (``targets`` of the domain folders, ``filenames`` of CelebA).
        """
        self.paths, self.labels, self.skipped = [self.paths[i] for i in indices], self.labels[indices], skipped
        for name in ("targets", "filenames"):
            if hasattr(self, name):
                setattr(self, name, [getattr(self, name)[i] for i in indices])

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.paths)

    def __getitem__(self, index: int) -> Item:
        """Return ``{"A": (3, H, W) in [-1, 1], "A_label": (c_dim,), "A_path": str}`` of item ``index``."""
        path = str(self.paths[index])
        image = self.transform(load_image(path, 3), sample_seed(self.seed, self.epoch, index), path)
        return {"A": image, "A_label": self.labels[index].clone(), "A_path": path}


def find_domains(folder: str | Path) -> list[str]:
    """Return the domain names of a folder-per-domain split: its sorted sub-directory names.

    Files (README, PROVENANCE.md, .DS_Store) and hidden directories (``.ipynb_checkpoints``) are ignored, so
    stray files cannot become domains (StarGAN v2 lists them with ``os.listdir``; ImageFolder does not).

    Args:
        folder: ``root/<split>``.

    Returns:
        The names, sorted (the label of domain ``names[j]`` is one-hot ``j``).

    Raises:
        FileNotFoundError: The folder does not exist.
        InputError: It has no sub-directories.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(f"domain folder {folder} does not exist; pass root (and split) pointing at it")
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not names:
        raise InputError(
            f"{folder} has no domain sub-folders; expected one folder of images per domain, e.g. {folder}/cat/, "
            f"{folder}/dog/"
        )
    return names


class DomainFolderDataset(LabelledImageDataset):
    """One folder of images per domain (RaFD, StarGAN v2 AFHQ/CelebA-HQ): ``root/<split>/<domain>/*.jpg``.

    Domains are the sorted sub-directory names (:func:`find_domains`), images those directly inside each
    (``find_images``, not recursive), labels one-hot. Items are ordered by domain, then file name.

    Args:
        root: Dataset root.
        split: Split folder under ``root`` (e.g. ``"train"``); None: the domains are directly in ``root``.
            Default ``"train"``.
        domains: Use these domains, in this order (e.g. the training split's, so that labels agree across
            splits); other folders are ignored. Default None: all sub-folders.
        transform: The pipeline. Default None: ``StarGANTransform()`` (resize to 128).
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).

    Attributes:
        domains: The domain names; ``targets``: the domain index of each item (``labels`` is their one-hot);
        ``domain_counts``: images per domain.

    Raises:
        FileNotFoundError: The split or a requested domain folder is missing.
        InputError: No domain folders, or a domain folder has no images (the message names it).
    """

    def __init__(
        self,
        root: str | Path,
        split: str | None = "train",
        domains: Sequence[str] | None = None,
        transform: StarGANTransform | None = None,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        folder = Path(root) if split is None else Path(root) / split
        self.domains = list(domains) if domains is not None else find_domains(folder)
        if len(set(self.domains)) != len(self.domains) or not self.domains:
            raise InputError(f"domains must be distinct names, at least one; got {self.domains}")
        paths: list[Path] = []
        self.targets: list[int] = []
        for index, name in enumerate(self.domains):
            images = find_images(folder / name, option="root", expected=f"a folder of the domain {name!r}")
            paths += images
            self.targets += [index] * len(images)
        labels = torch.nn.functional.one_hot(torch.tensor(self.targets), len(self.domains)).float()
        super().__init__(paths, labels, transform, seed, epoch_counter)

    @property
    def domain_counts(self) -> list[int]:
        """Return the number of images of each domain, in ``domains`` order."""
        return torch.bincount(torch.tensor(self.targets), minlength=len(self.domains)).tolist()


class MaskedLabelDataset(Dataset):
    """One of several jointly trained datasets, its labels in the joint layout with the mask vector.

    Item: the wrapped item with ``"A_label"`` replaced by ``joint_label(label, dataset_index, dims)`` (length
    ``sum(dims) + len(dims)``: e.g. ``[c_celeba (5), c_rafd (8), mask (2)]`` with the other part zero) and
    ``"A_mask"``, the one-hot ``(len(dims),)`` mask. For training, concatenate the wrapped datasets
    (``torch.utils.data.ConcatDataset``, in ``dims`` order) and batch them with
    :class:`AlternatingDatasetSampler`; for evaluation, give each its own loader.

    Args:
        dataset: The dataset (items with ``"A_label"`` of length ``dims[dataset_index]``).
        dataset_index: Its position in ``dims``.
        dims: Label length of each dataset, e.g. ``(5, 8)`` for CelebA + RaFD.

    Raises:
        ValueError: ``dataset_index`` out of range, or the dataset's ``c_dim`` is not ``dims[dataset_index]``.
    """

    def __init__(self, dataset: Dataset, dataset_index: int, dims: Sequence[int]) -> None:
        if not 0 <= dataset_index < len(dims):
            raise ValueError(f"dataset_index must be in [0, {len(dims)}) for dims {list(dims)}; got {dataset_index}")
        c_dim = getattr(dataset, "c_dim", dims[dataset_index])
        if c_dim != dims[dataset_index]:
            raise ValueError(f"dataset {dataset_index} has c_dim {c_dim} but dims says {dims[dataset_index]}: {dims}")
        self.dataset, self.dataset_index, self.dims = dataset, dataset_index, tuple(dims)

    def __len__(self) -> int:
        """Return the wrapped dataset's length."""
        return len(self.dataset)

    def __getitem__(self, index: int) -> Item:
        """Return the wrapped item with the joint ``"A_label"`` and the ``"A_mask"`` vector."""
        item = dict(self.dataset[index])
        item["A_label"] = joint_label(item["A_label"], self.dataset_index, self.dims)
        item["A_mask"] = item["A_label"][sum(self.dims) :].clone()
        return item


class AlternatingDatasetSampler(ShardedSampler):
    """Indices of concatenated datasets in whole batches from one dataset at a time, datasets alternating.

    The reference's ``train_multi`` draws one CelebA batch, then one RaFD batch, each iteration, cycling each
    loader independently. Here step ``t`` of an epoch (the ``t``-th batch on every rank) comes from dataset
    ``t % len(sizes)``: every rank reads the same dataset at the same step, and the global batch (``batch_size``
    x ``num_replicas``) is split between ranks. Each dataset gets ``batches_per_dataset`` global batches per
    epoch (default: enough for one pass over the largest); its indices are a shuffled permutation seeded
    from ``(seed, epoch, dataset, cycle)``, and a smaller dataset starts a new permutation when it runs out (a
    repeated image gets the same augmentation within the epoch, since the item seed is ``(seed, epoch,
    index)``). Use it with ``DataLoader(ConcatDataset(...), batch_size=batch_size, sampler=this)``: this rank's
    stream is a multiple of ``batch_size``, so loader batches never straddle datasets. Being a
    ``ShardedSampler``, Lightning does not replace it, and ``set_epoch``/``state_dict`` (resume) work as there.

    Args:
        sizes: Length of each dataset, in ``ConcatDataset`` order.
        batch_size: The loader's batch size (per rank).
        num_replicas: Number of ranks. Default 1.
        rank: This rank. Default 0.
        seed: Seed of the shuffles, >= 0. Default 0.
        epoch_counter: Shared epoch that ``set_epoch`` also updates. Default None.
        batches_per_dataset: Global batches of each dataset per epoch. Default None: ``ceil(max(sizes) /
            (batch_size * num_replicas))``.

    Raises:
        ValueError: Empty ``sizes``, a size or ``batch_size`` below 1, or ``batches_per_dataset`` below 1.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        batch_size: int,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
        batches_per_dataset: int | None = None,
    ) -> None:
        if not sizes or min(sizes) < 1 or batch_size < 1:
            raise ValueError(f"need non-empty datasets and batch_size >= 1; got sizes {list(sizes)}, {batch_size}")
        super().__init__(sum(sizes), num_replicas, rank, shuffle=True, seed=seed, epoch_counter=epoch_counter)
        self.sizes, self.batch_size = list(sizes), batch_size
        self.offsets = [sum(sizes[:k]) for k in range(len(sizes))]
        steps = batches_per_dataset or math.ceil(max(sizes) / (batch_size * num_replicas))
        if steps < 1:
            raise ValueError(f"batches_per_dataset must be >= 1; got {batches_per_dataset}")
        self.batches_per_dataset = steps
        self.num_samples = len(sizes) * steps * batch_size
        self.total_size = self.num_samples * num_replicas

    def shard(self) -> list[int]:
        """Return this rank's indices of the current epoch: ``batch_size`` from each dataset in turn."""
        global_batch = self.batch_size * self.num_replicas
        streams = [self._stream(k, self.batches_per_dataset * global_batch) for k in range(len(self.sizes))]
        indices: list[int] = []
        for step in range(self.batches_per_dataset):
            for stream in streams:
                start = step * global_batch + self.rank * self.batch_size
                indices += stream[start : start + self.batch_size]
        return indices

    def _stream(self, dataset: int, length: int) -> list[int]:
        """Return ``length`` global indices of ``dataset``: fresh seeded permutations, one after another."""
        order: list[int] = []
        cycle = 0
        while len(order) < length:
            generator = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, dataset, cycle))
            order += (torch.randperm(self.sizes[dataset], generator=generator) + self.offsets[dataset]).tolist()
            cycle += 1
        return order[:length]
