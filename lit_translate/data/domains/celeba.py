"""CelebA for StarGAN: the attribute file, the reference's train/test split and the dataset.

Reference: yunjey/stargan ``data_loader.py`` (``CelebA``) and ``main.py`` (``--celeba_crop_size 178``,
``--image_size 128``, ``--selected_attrs``). No Lightning here.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lit_translate.choices import check_choice
from lit_translate.data.domains.datasets import LabelledImageDataset, StarGANTransform
from lit_translate.data.io import MissingDataError
from lit_translate.data.sampling import SharedEpoch
from lit_translate.errors import InputError

CELEBA_DEFAULT_ATTRS: tuple[str, ...] = ("Black_Hair", "Blond_Hair", "Brown_Hair", "Male", "Young")
"""The reference's default ``selected_attrs`` (``c_dim`` 5)."""
CELEBA_SPLIT_SEED = 1234
"""Seed of the reference's shuffle of the attribute rows (``random.seed(1234)``)."""
CELEBA_TEST_SIZE = 1999
"""Test images of the reference split: its rule ``(i + 1) < 2000`` sends 1999 rows (not 2000) to test."""
SPLITS = ("train", "test")


def celeba_transform(train: bool, image_size: int = 128, interpolation: str = "bilinear") -> StarGANTransform:
    """Return the reference's CelebA pipeline: flip (``train`` only), centre crop 178, resize to ``image_size``.

    Args:
        train: Add the random flip.
        image_size: Output size. Default ``128``.
        interpolation: See :class:`StarGANTransform`. Default ``"bilinear"``.
    """
    return StarGANTransform(image_size, 178, train, interpolation)


@dataclass(frozen=True)
class CelebAAttributes:
    """The parsed ``list_attr_celeba.txt``, rows in file order.

    Attributes:
        filenames: Image file name of each row.
        labels: ``(rows, len(selected_attrs))`` float32, 1.0 where the value is ``1`` (else 0.0).
        selected_attrs: The selected attribute names (the label columns).
        attr_names: All attribute names of the header line.
    """

    filenames: list[str]
    labels: Tensor
    selected_attrs: tuple[str, ...]
    attr_names: tuple[str, ...]


def parse_celeba_attributes(path: str | Path, selected_attrs: Sequence[str] = CELEBA_DEFAULT_ATTRS) -> CelebAAttributes:
    """Parse a CelebA attribute file: a count line, the attribute names, then ``filename v1 ... v40`` rows.

    Fields are separated by any whitespace (the file uses double spaces before positive values); blank lines
    are skipped. Values must be ``1`` or ``-1``; the label is ``value == "1"``, as the reference.

    Args:
        path: The file (``list_attr_celeba.txt``).
        selected_attrs: Attribute names, in label order. Default ``CELEBA_DEFAULT_ATTRS``.

    Returns:
        The rows in file order (see :func:`celeba_split_indices` for the reference split).

    Raises:
        FileNotFoundError: The file does not exist.
        InputError: A bad count line, an unknown, repeated or missing selected attribute (the message lists the
            available ones), a row with the wrong number of values or a value other than 1/-1 (naming the line),
            or a count that differs from the number of rows.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"CelebA attribute file {path} does not exist; pass attr_path (list_attr_celeba.txt)")
    lines = path.read_text(encoding="utf-8").splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise InputError(f"{path}, line 1 must be the number of images (then a line of attribute names)")
    names = tuple(lines[1].split())
    columns = _attribute_columns(selected_attrs, names, path)
    filenames, labels = [], []
    for number, line in enumerate(lines[2:], start=3):
        fields = line.split()
        if not fields:
            continue
        values = fields[1:]
        if len(values) != len(names) or values.count("1") + values.count("-1") != len(names):  # fast C loops
            raise InputError(
                f"{path}, line {number}: expected a file name and {len(names)} values 1/-1 (one per attribute "
                f"of line 2); got {len(values)} values: {line.strip()[:80]!r}"
            )
        filenames.append(fields[0])
        labels.append([values[column] == "1" for column in columns])
    if len(filenames) != int(lines[0]):
        raise InputError(
            f"{path}: line 1 says {int(lines[0])} images but the file has {len(filenames)} rows; the "
            f"file may be truncated (download it again) or fix the count"
        )
    table = torch.from_numpy(np.array(labels, dtype=np.float32).reshape(len(filenames), len(columns)))
    return CelebAAttributes(filenames, table, tuple(selected_attrs), names)


def _attribute_columns(selected_attrs: Sequence[str], names: tuple[str, ...], path: Path) -> list[int]:
    """Return the column of each selected attribute, or raise listing the available names."""
    if not selected_attrs or len(set(selected_attrs)) != len(selected_attrs):
        raise InputError(f"selected_attrs must be distinct attribute names, at least one; got {list(selected_attrs)}")
    for name in selected_attrs:
        check_choice(f"selected_attrs entry (attributes of {path})", name, names)
    return [names.index(name) for name in selected_attrs]


def celeba_split_indices(num_rows: int, split: str) -> list[int]:
    """Return the rows of a split, exactly as the reference: shuffle with seed 1234, first 1999 rows test.

    The reference does ``random.seed(1234); random.shuffle(lines)`` and sends row ``i`` of the shuffled list
    to test when ``(i + 1) < 2000``, which is **1999** rows (``CELEBA_TEST_SIZE``), not the 2000 often quoted.
    A local ``random.Random(1234)`` gives the same permutation (a shuffle depends only on the length and the
    generator state) without touching the global RNG.

    Args:
        num_rows: Rows of the attribute file.
        split: ``"train"`` or ``"test"``.

    Returns:
        Row indices in the reference's (shuffled) order.
    """
    check_choice("split", split, SPLITS)
    order = list(range(num_rows))
    random.Random(CELEBA_SPLIT_SEED).shuffle(order)
    return order[:CELEBA_TEST_SIZE] if split == "test" else order[CELEBA_TEST_SIZE:]


class CelebADataset(LabelledImageDataset):
    """CelebA with multi-label attribute labels and the reference's split (yunjey/stargan ``CelebA``).

    Items are in the reference's shuffled order (:func:`celeba_split_indices`); ``A_label`` is the 0/1 vector
    of ``selected_attrs``. Every listed image of the split must exist, checked at construction.

    Args:
        image_dir: Folder of the images (``img_align_celeba``).
        attr_path: ``list_attr_celeba.txt``.
        selected_attrs: Attribute names (label order). Default ``CELEBA_DEFAULT_ATTRS``.
        split: ``"train"`` or ``"test"`` (the reference's 1999 test rows). Default ``"train"``.
        transform: The pipeline. Default None: :func:`celeba_transform` (flip only for ``"train"``).
        seed: Augmentation seed, >= 0. Default 0.
        epoch_counter: Shared epoch read in ``__getitem__``. Default None (epoch 0).

    Attributes:
        selected_attrs: The label columns; ``filenames``: the file of each item; ``attribute_counts``: items with
        each attribute.

    Raises:
        FileNotFoundError: ``image_dir`` or ``attr_path`` is missing.
        InputError: See :func:`parse_celeba_attributes`; an empty split; listed images missing from ``image_dir``
            (the count and the first five).
    """

    def __init__(
        self,
        image_dir: str | Path,
        attr_path: str | Path,
        selected_attrs: Sequence[str] = CELEBA_DEFAULT_ATTRS,
        split: str = "train",
        transform: StarGANTransform | None = None,
        seed: int = 0,
        epoch_counter: SharedEpoch | None = None,
    ) -> None:
        attributes = parse_celeba_attributes(attr_path, selected_attrs)
        rows = celeba_split_indices(len(attributes.filenames), split)
        if not rows:
            raise InputError(
                f"the {split!r} split of {attr_path} is empty: the reference split puts the first "
                f"{CELEBA_TEST_SIZE} shuffled rows in test and the file has {len(attributes.filenames)}"
            )
        self.selected_attrs = attributes.selected_attrs
        self.filenames = [attributes.filenames[row] for row in rows]
        image_dir = Path(image_dir)
        _check_listed_images(image_dir, self.filenames, Path(attr_path), split)
        transform = transform or celeba_transform(train=split == "train")
        paths = [image_dir / name for name in self.filenames]
        super().__init__(paths, attributes.labels[rows], transform, seed, epoch_counter)

    @property
    def attribute_counts(self) -> list[int]:
        """Return the number of items with each selected attribute (value 1), in ``selected_attrs`` order."""
        return self.labels.sum(0).long().tolist()


def _check_listed_images(image_dir: Path, filenames: list[str], attr_path: Path, split: str) -> None:
    """Raise unless every listed file exists in ``image_dir`` (one directory listing, then per-file checks)."""
    if not image_dir.is_dir():
        raise MissingDataError(f"CelebA image folder {image_dir} does not exist; pass image_dir (img_align_celeba)")
    present = {entry.name for entry in os.scandir(image_dir)}
    missing = [name for name in filenames if name not in present and not (image_dir / name).is_file()]
    if missing:
        raise InputError(
            f"{len(missing)} of the {len(filenames)} images of the {split!r} split listed in {attr_path} are missing "
            f"from {image_dir}: {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}; point image_dir at "
            f"the folder of all images or use an attribute file that lists only the images present"
        )
