"""File listings of the label-map layouts (NVlabs/SPADE's datasets): which label, photo and instance files pair up.

Each layout gives, per split, the sorted ``(label, photo, instance or None)`` triples and the split's folder
(for messages). Files pair up by a key (the file stem; Cityscapes: ``<city>_<seq>_<frame>``, as the
reference's ``paths_match``); a file without its partner is an error naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lit_translate.data.io import SKIP_HINT, find_images
from lit_translate.errors import InputError

Layout = Literal["cityscapes", "ade20k", "coco", "custom"]
LAYOUT_NAMES: tuple[str, ...] = ("cityscapes", "ade20k", "coco", "custom")
ADE_SPLITS = {"train": "training", "val": "validation"}
"""ADE20K's folder names of the ``train`` and ``val`` splits (other names are used as they are)."""

Triple = tuple[Path, Path, "Path | None"]


@dataclass(frozen=True)
class LayoutDefaults:
    """The reference's per-dataset options (``data/<name>_dataset.py: modify_commandline_options``)."""

    label_nc: int | None
    contain_dontcare_label: bool
    instance: bool
    preprocess_mode: str
    load_size: int
    crop_size: int
    aspect_ratio: float = 1.0
    zero_unlabelled: bool = False


DEFAULTS: dict[str, LayoutDefaults] = {
    "cityscapes": LayoutDefaults(35, False, True, "fixed", 512, 512, 2.0),
    "ade20k": LayoutDefaults(150, True, False, "resize_and_crop", 286, 256, zero_unlabelled=True),
    "coco": LayoutDefaults(182, True, True, "resize_and_crop", 286, 256),
    "custom": LayoutDefaults(None, False, False, "resize_and_crop", 286, 256),
}


def _stem(path: Path) -> str:
    """Return the matching key of most layouts: the file name without its extension."""
    return path.stem


def _cityscapes_key(path: Path) -> str:
    """Return Cityscapes' matching key: the first three ``_`` parts of the name (``<city>_<seq>_<frame>``)."""
    return "_".join(path.name.split("_")[:3])


def _listing(folder: Path, recursive: bool = False, option: str = "--data.root") -> list[Path]:
    """List the images of one folder of a layout (broken links kept: the set-up scan names them)."""
    return find_images(
        folder, option, "the label-map dataset", keep_broken_links=True, hint=SKIP_HINT, recursive=recursive
    )


def match_triples(
    labels: list[Path],
    photos: list[Path],
    instances: list[Path] | None,
    key: Callable[[Path], str] = _stem,
) -> list[Triple]:
    """Pair label maps, photos and (optionally) instance maps by ``key``, sorted by the label's key.

    Raises:
        InputError: A file without its partner (up to 5 names per side, the count, and the fix).
    """
    sides = {"label map": labels, "photo": photos} | ({"instance map": instances} if instances is not None else {})
    keyed = {}
    for side, paths in sides.items():
        keyed[side] = {key(p): p for p in paths}
        if len(keyed[side]) != len(paths):
            raise InputError(f"two {side}s share a name in {os.path.commonpath(paths)}; names must be unique")
    problems = []
    for side, by_key in keyed.items():
        for other, other_keys in keyed.items():
            missing = sorted(by_key[k] for k in by_key.keys() - other_keys.keys())
            if missing:
                shown = ", ".join(str(p) for p in missing[:5]) + (", ..." if len(missing) > 5 else "")
                article = "an" if other[0] in "aeiou" else "a"
                problems.append(f"{len(missing)} {side}(s) without {article} {other}: {shown}")
    if problems:
        raise InputError(
            "label maps, photos and instance maps must pair up by name: " + "; ".join(problems) + " (add or remove "
            "the partner files)"
        )
    return [
        (keyed["label map"][k], keyed["photo"][k], keyed["instance map"][k] if instances is not None else None)
        for k in sorted(keyed["label map"])
    ]


def cityscapes(root: Path, split: str, instance: bool) -> tuple[Path, list[Triple]]:
    """List ``leftImg8bit/<split>/<city>/*_leftImg8bit.png`` + ``gtFine/<split>/<city>/*_labelIds.png`` + instances."""
    gt = _listing(root / "gtFine" / split, recursive=True)
    labels = [p for p in gt if p.name.endswith("_labelIds.png")]
    insts = [p for p in gt if p.name.endswith("_instanceIds.png")] if instance else None
    photos = _listing(root / "leftImg8bit" / split, recursive=True)
    return root, match_triples(labels, photos, insts, _cityscapes_key)


def ade20k_base(root: Path) -> Path:
    """Return the folder holding ``images/`` and ``annotations/``: ``root`` or ``root/ADEChallengeData2016``."""
    nested = root / "ADEChallengeData2016"
    return nested if not (root / "images").is_dir() and nested.is_dir() else root


def ade20k(root: Path, split: str) -> tuple[Path, list[Triple]]:
    """List ``[ADEChallengeData2016/]images/<split>/*.jpg`` + ``annotations/<split>/*.png`` (train: training, ...)."""
    base = ade20k_base(root)
    name = split if (base / "images" / split).is_dir() else ADE_SPLITS.get(split, split)
    labels = _listing(base / "annotations" / name)
    photos = _listing(base / "images" / name)
    return base, match_triples(labels, photos, None)


def coco(root: Path, split: str, instance: bool) -> tuple[Path, list[Triple]]:
    """List COCO-Stuff as the reference: ``<split>_label/``, ``<split>_img/``, ``<split>_inst/``."""
    insts = _listing(root / f"{split}_inst") if instance else None
    return root, match_triples(_listing(root / f"{split}_label"), _listing(root / f"{split}_img"), insts)


def custom_folders(root: Path | None, dirs: dict[str, str | None], split: str | None) -> dict[str, Path | None]:
    """Resolve ``label_dir`` / ``image_dir`` / ``instance_dir`` (relative to ``root``; ``<dir>/<split>`` if given).

    Raises:
        InputError: ``label_dir`` or ``image_dir`` is not set.
    """
    if dirs["label_dir"] is None or dirs["image_dir"] is None:
        raise InputError(
            "the custom label-map layout needs --data.init_args.label_dir and --data.init_args.image_dir (folders "
            "of label maps and photos with matching names; relative to --data.root)"
        )
    out: dict[str, Path | None] = {}
    for key, value in dirs.items():
        folder = None if value is None else Path(value) if root is None else root / value
        out[key] = folder / split if folder is not None and split is not None else folder
    return out


def custom(folders: dict[str, Path | None]) -> tuple[Path, list[Triple]]:
    """Pair the files of the resolved custom folders (see :func:`custom_folders`) by stem."""
    label_dir, image_dir, inst_dir = folders["label_dir"], folders["image_dir"], folders["instance_dir"]
    assert label_dir is not None and image_dir is not None
    labels = _listing(label_dir, option="--data.init_args.label_dir")
    photos = _listing(image_dir, option="--data.init_args.image_dir")
    insts = None if inst_dir is None else _listing(inst_dir, option="--data.init_args.instance_dir")
    parents = [label_dir, image_dir] + ([inst_dir] if inst_dir is not None else [])
    return Path(os.path.commonpath(parents)), match_triples(labels, photos, insts)


__all__ = [
    "ADE_SPLITS",
    "DEFAULTS",
    "LAYOUT_NAMES",
    "Layout",
    "LayoutDefaults",
    "Triple",
    "ade20k",
    "ade20k_base",
    "cityscapes",
    "coco",
    "custom",
    "custom_folders",
    "match_triples",
]
