"""CelebA DataModules for StarGAN: attributes with the reference split, and CelebA + RaFD with the mask vector.

Reference: yunjey/stargan ``main.py`` / ``data_loader.py`` (``--dataset CelebA|RaFD|Both``,
``--celeba_crop_size 178``, ``--rafd_crop_size 256``, ``--selected_attrs``) and ``solver.py`` (``train_multi``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import ConcatDataset, Dataset
from typing_extensions import override

from lit_translate.data.base import check_root
from lit_translate.data.domains.celeba import CELEBA_DEFAULT_ATTRS, SPLITS, CelebADataset
from lit_translate.data.domains.datasets import (
    AlternatingDatasetSampler,
    DomainFolderDataset,
    MaskedLabelDataset,
    find_domains,
)
from lit_translate.data.domains.modules import MultiDomainDataModule
from lit_translate.data.sampling import ShardedSampler
from lit_translate.errors import InputError


class CelebADataModule(MultiDomainDataModule):
    """CelebA with multi-label attribute labels and the reference's split (``root``: the CelebA folder).

    ``root/<image_dir>`` holds the aligned images and ``root/<attr_path>`` the attribute file
    (``list_attr_celeba.txt``; absolute paths are used as they are). The split is the reference's: the rows
    shuffled with seed 1234, the first **1999** to ``test`` (its ``(i + 1) < 2000`` rule), the rest to
    ``train``; there is no validation split, so validation falls back to ``test`` with a WARNING (the
    reference has no other held-out images: never rank checkpoints on it). Labels are the 0/1 values of
    ``selected_attrs``; every listed image of a split must exist (checked at setup, naming the missing files).

    Args:
        image_dir: Image folder, relative to ``root``. Default ``"images"`` (the reference's ``data/celeba/images``).
        attr_path: Attribute file, relative to ``root``. Default ``"list_attr_celeba.txt"``.
        selected_attrs: Attribute names (label order); an unknown one is an error listing the file's 40.
            Default the reference's ``Black_Hair, Blond_Hair, Brown_Hair, Male, Young``.
        **kwargs: The :class:`~lit_translate.data.domains.modules.MultiDomainDataModule` arguments; ``crop_size``
            defaults to the reference's 178 (``--celeba_crop_size``).
    """

    def __init__(
        self,
        image_dir: str = "images",
        attr_path: str = "list_attr_celeba.txt",
        selected_attrs: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("crop_size", 178)
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.image_dir, self.attr_path = image_dir, attr_path
        self.selected_attrs = tuple(selected_attrs) if selected_attrs is not None else CELEBA_DEFAULT_ATTRS
        for role in ("train", "test"):
            if self.splits[role] not in SPLITS:
                raise InputError(
                    f"CelebA has the reference's 'train' and 'test' splits only; got {role}_split="
                    f"{self.splits[role]!r}: leave --data.{role}_split unset"
                )

    @property
    @override
    def attributes(self) -> tuple[str, ...]:
        return self.selected_attrs

    def celeba_files(self) -> tuple[Path, Path]:
        """Return ``(image folder, attribute file)``, or raise naming ``--data.root`` when it is not set."""
        if self.root is None:
            raise InputError(
                f"{type(self).__name__} needs --data.root, the CelebA folder holding {self.image_dir}/ and "
                f"{self.attr_path} (there is no built-in synthetic CelebA; the demo uses DomainFolderDataModule)"
            )
        root = check_root(self.root)
        return root / self.image_dir, root / self.attr_path

    @override
    def has_split(self, split: str) -> bool:
        """Tell whether ``split`` is one of the reference's splits (``train``, ``test``)."""
        return split in SPLITS

    def celeba_dataset(self, role: str) -> CelebADataset:
        """Create CelebA's dataset of ``role`` (parses the attribute file, checks every listed image)."""
        image_dir, attr_path = self.celeba_files()
        split = self.split_name(role)
        transform = self.transform(train=role == "train", crop_size=self.crop_size)
        options = self.dataset_options(role)
        dataset = CelebADataset(image_dir, attr_path, self.selected_attrs, split, transform, **options)
        counts = ", ".join(f"{name} {count}" for name, count in zip(self.selected_attrs, dataset.attribute_counts))
        self.log_rank_zero(logging.INFO, f"CelebA {role} ({split}): {len(dataset)} images; with {counts}")
        return dataset

    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the CelebA dataset of ``role``."""
        return self.celeba_dataset(role)


class CelebARaFDDataModule(CelebADataModule):
    """CelebA and RaFD trained jointly with the mask vector (the reference's ``--dataset Both``).

    Labels are ``[c_celeba, c_rafd, mask]`` (:class:`~lit_translate.data.domains.datasets.MaskedLabelDataset`; with 5
    attributes and 8 expressions: length 15, G's ``c_dim``; D classifies the first 13); batches carry
    ``"A_mask"``. Training batches come from one dataset at a time, alternating CelebA, RaFD, CelebA, ...
    (:class:`~lit_translate.data.domains.datasets.AlternatingDatasetSampler`), as the reference's ``train_multi``
    draws one CelebA and one RaFD batch per iteration: one reference iteration is two iterations here (the method
    steps G every ``n_critic`` reference iterations). An epoch holds enough batches for one pass over the larger
    dataset. Evaluation reads CelebA's test images, then RaFD's ``test_split`` (validation: ``val`` when RaFD has
    it, else its test split).

    Args:
        rafd_root: RaFD folder with ``<split>/<expression>/`` sub-folders (e.g. ``data/RaFD`` with ``train/`` and
            ``test/``).
        rafd_crop_size: Centre crop of RaFD images before resizing (``--rafd_crop_size``). Default 256.
        rafd_domains: RaFD expression folders to use, in label order. Default None: every folder of its train split.
        **kwargs: The :class:`CelebADataModule` arguments (``root`` is the CelebA folder).
    """

    def __init__(
        self,
        rafd_root: str | None = None,
        rafd_crop_size: int = 256,
        rafd_domains: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.rafd_root, self.rafd_crop_size = rafd_root, rafd_crop_size
        self._rafd_domains = tuple(rafd_domains) if rafd_domains is not None else None

    @property
    @override
    def domains(self) -> tuple[str, ...]:
        if self._rafd_domains is None:
            self._rafd_domains = tuple(find_domains(self.rafd_folder() / "train"))
        return self._rafd_domains

    def rafd_folder(self) -> Path:
        """Return ``rafd_root``, or raise naming ``--data.rafd_root``."""
        if self.rafd_root is None:
            raise InputError("CelebARaFDDataModule needs --data.rafd_root, the RaFD folder with train/ and test/")
        return check_root(self.rafd_root)

    @property
    def dims(self) -> tuple[int, int]:
        """Return the label lengths ``(attributes, expressions)`` of the joint layout."""
        return len(self.attributes), len(self.domains)

    def rafd_split(self, role: str) -> str:
        """Return RaFD's split of ``role``: ``train``; ``test``; for validation ``val`` if present, else ``test``."""
        if role == "val" and (self.rafd_folder() / "val").is_dir():
            return "val"
        return "train" if role == "train" else "test"

    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the joint dataset of ``role``: CelebA's items, then RaFD's, labels in the joint layout."""
        celeba = self.celeba_dataset(role)
        split = self.rafd_split(role)
        transform = self.transform(train=role == "train", crop_size=self.rafd_crop_size)
        rafd = DomainFolderDataset(
            self.rafd_folder(), split, list(self.domains), transform, **self.dataset_options(role)
        )
        counts = ", ".join(f"{name} {count}" for name, count in zip(self.domains, rafd.domain_counts))
        self.log_rank_zero(logging.INFO, f"RaFD {role} ({split}): {len(rafd)} images ({counts})")
        return ConcatDataset([MaskedLabelDataset(celeba, 0, self.dims), MaskedLabelDataset(rafd, 1, self.dims)])

    @override
    def build_sampler(
        self, role: str, dataset: Dataset, num_replicas: int, rank: int, batch_size: int
    ) -> ShardedSampler:
        """Alternate whole CelebA and RaFD batches in training (every rank reads the same dataset at a step)."""
        if role != "train":
            return super().build_sampler(role, dataset, num_replicas, rank, batch_size)
        assert isinstance(dataset, ConcatDataset)
        sizes: Sequence[int] = [len(part) for part in dataset.datasets]
        return AlternatingDatasetSampler(sizes, batch_size, num_replicas, rank, self.seed, self.epoch_counter)


__all__ = ["CelebADataModule", "CelebARaFDDataModule"]
