"""``SemanticDataModule``: label map (+ instance map) -> photo data in NVlabs/SPADE's layouts.

Batches: ``{"A": int64 (N, 1, H, W) class ids, "B": float32 (N, C, H, W) photo in [-1, 1], "A_path",
"B_path"}``, plus ``"A_instance"`` (int64 ``(N, 1, H, W)`` instance ids) when instance maps are used; the kinds
are declared in :attr:`SemanticDataModule.batch_kinds`, and a method makes its generator input on the device
with ``lit_translate.data.semantic.inputs.semantic_input`` (``label_nc``, ``contain_dontcare_label`` and
``semantic_nc`` are attributes of this module).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.base import SYNTHETIC_EVAL_SIZE, TranslationDataModule, check_root
from lit_translate.data.folder import ImageFolderDataset
from lit_translate.data.io import MissingDataError, check_channels
from lit_translate.data.sampling import seeded_split
from lit_translate.data.scan import CACHE_FROM, ImageHeader, ScanRequest
from lit_translate.data.scan_cache import ScanCache, cache_path
from lit_translate.data.semantic import layouts as layouts
from lit_translate.data.semantic.dataset import (
    LABEL_MODE_FIX,
    LABEL_MODES,
    PREPROCESS_MODES,
    SYNTHETIC_LABEL_NC,
    PreprocessMode,
    SemanticDataset,
    SemanticTransform,
    SyntheticLabelMaps,
    SyntheticSemanticDataset,
    map_ids,
    read_ids,
)
from lit_translate.data.semantic.inputs import BatchKind, semantic_channels
from lit_translate.errors import InputError

SYNTHETIC = layouts.LayoutDefaults(SYNTHETIC_LABEL_NC, False, True, "resize_and_crop", 72, 64)
"""The built-in synthetic task's options (``root`` None): 5 classes, instance maps, 64x64 crops of 72x72."""
_THREADS = min(32, 4 * (os.cpu_count() or 1))
LABEL_CACHE_PREFIX = "labels-"
"""The label-value cache sits next to the scan cache: ``<run dir>/labels-.scan-cache.json``."""


class SemanticDataModule(TranslationDataModule):
    """Label maps (class ids) and photos for semantic image synthesis (SPADE, pix2pixHD).

    Layouts (``layout``; a split name is a folder name, see ``has_split``):

    - ``cityscapes``: ``leftImg8bit/<split>/<city>/*_leftImg8bit.png``, ``gtFine/<split>/<city>/
      *_gtFine_labelIds.png`` and ``*_instanceIds.png``; 35 classes, instance maps, ``fixed`` 512x256.
    - ``ade20k``: ``[ADEChallengeData2016/]images/<split>/*.jpg`` + ``annotations/<split>/*.png`` (``train``,
      ``val`` = ``training``, ``validation``); 150 classes + dontcare: id 0 (unlabelled) becomes 150 and the
      others move down by one (the reference's ``postprocess``); ``resize_and_crop`` 286 -> 256.
    - ``coco``: COCO-Stuff as the reference: ``<split>_img/``, ``<split>_label/``, ``<split>_inst/``; 182 classes
      + dontcare, instance maps, ``resize_and_crop`` 286 -> 256.
    - ``custom``: ``label_dir``, ``image_dir`` and optional ``instance_dir`` (relative to ``root``) with the same
      file stems; ``label_nc`` is required. If ``<label_dir>/<split>`` folders exist they are the splits; else
      the flat folders are split by ``val_fraction`` / ``split_seed`` (test: every file).

    ``root`` None is the built-in synthetic task (shapes -> textured rendering, 5 classes, instance maps).
    Everywhere the value 255 means dontcare (-> ``label_nc``). ``None`` options take the layout's defaults.

    Args:
        layout: One of the four layouts. Default ``"custom"``.
        label_nc: Number of classes (ids ``0..label_nc-1``). Default: the layout's.
        contain_dontcare_label: The maps also hold the dontcare id ``label_nc``. Default: the layout's.
        no_instance: Do not read instance maps (no edge channel). Default False.
        label_dir: custom: folder of label maps. Default None.
        image_dir: custom: folder of photos. Default None.
        instance_dir: custom: folder of instance maps. Default None.
        preprocess_mode: ``resize_and_crop``, ``scale_width_and_crop``, ``fixed`` or ``none`` (see
            ``SemanticTransform``). Default: the layout's.
        load_size: Training resize size. Default: the layout's.
        crop_size: Crop size (``fixed``: the width). Default: the layout's.
        aspect_ratio: Width / height of ``fixed``. Default: the layout's.
        no_flip: No random horizontal flip in training. Default False.
        target_channels: Channels of the photo ``"B"``, 1 or 3. Default 3.
        val_fraction: custom, flat folders: share held out for validation, in (0, 1). Default 0.1.
        split_seed: Seed of that split. Default 0.
        **kwargs: The :class:`~lit_translate.data.base.TranslationDataModule` arguments.
    """

    def __init__(
        self,
        layout: layouts.Layout = "custom",
        label_nc: int | None = None,
        contain_dontcare_label: bool | None = None,
        no_instance: bool = False,
        label_dir: str | None = None,
        image_dir: str | None = None,
        instance_dir: str | None = None,
        preprocess_mode: PreprocessMode | None = None,
        load_size: int | None = None,
        crop_size: int | None = None,
        aspect_ratio: float | None = None,
        no_flip: bool = False,
        target_channels: int = 3,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.save_hyperparameters()
        self.layout = check_choice("layout", layout, layouts.LAYOUT_NAMES)
        defaults = SYNTHETIC if self.root is None else layouts.DEFAULTS[self.layout]
        if label_nc is None and defaults.label_nc is None:
            raise InputError("the custom layout needs --data.init_args.label_nc (the number of classes)")
        self.label_nc = int(label_nc if label_nc is not None else defaults.label_nc)  # type: ignore[arg-type]
        if self.label_nc < 1:
            raise InputError(f"--data.init_args.label_nc must be >= 1, got {self.label_nc}")
        self.contain_dontcare_label = (
            defaults.contain_dontcare_label if contain_dontcare_label is None else contain_dontcare_label
        )
        self.zero_unlabelled = defaults.zero_unlabelled
        self.dirs = {"label_dir": label_dir, "image_dir": image_dir, "instance_dir": instance_dir}
        has_instances = defaults.instance if self.layout != "custom" or self.root is None else instance_dir is not None
        self.instance = has_instances and not no_instance
        self.preprocess = {
            "preprocess_mode": check_choice(
                "preprocess_mode", preprocess_mode or defaults.preprocess_mode, PREPROCESS_MODES
            ),
            "load_size": defaults.load_size if load_size is None else load_size,
            "crop_size": defaults.crop_size if crop_size is None else crop_size,
            "aspect_ratio": defaults.aspect_ratio if aspect_ratio is None else aspect_ratio,
            "flip": not no_flip,
        }
        self._transforms = (self.transform(train=True), self.transform(train=False))  # validates the sizes now
        check_channels(target_channels, "target_channels")
        if not 0.0 < val_fraction < 1.0:
            raise InputError(f"--data.init_args.val_fraction must be in (0, 1), got {val_fraction}")
        self.target_channels, self.val_fraction, self.split_seed = target_channels, val_fraction, split_seed

    @property
    @override
    def batch_kinds(self) -> dict[str, BatchKind]:
        """``{"A": "label_map", "B": "image"}`` plus ``"A_instance": "instance_map"`` when instance maps are used."""
        kinds: dict[str, BatchKind] = {"A": "label_map", "B": "image"}
        return kinds | ({"A_instance": "instance_map"} if self.instance else {})

    @property
    def semantic_nc(self) -> int:
        """Return the channels of the generator's semantic input (classes + dontcare + instance edges)."""
        return semantic_channels(self.label_nc, self.contain_dontcare_label, self.instance)

    def transform(self, train: bool) -> SemanticTransform:
        """Build the preprocessing of training or evaluation (see ``SemanticTransform``)."""
        return SemanticTransform(**self.preprocess, train=train)

    # ------------------------------------------------------------------------------------------------ datasets
    @override
    def build_dataset(self, role: str) -> Dataset:
        """Create the dataset of ``role``: the layout's files, or the synthetic task without ``root``."""
        train = role == "train"
        options = {
            "transform": self.transform(train),
            "channels": self.target_channels,
            "seed": self.seed,
            "epoch_counter": self.epoch_counter if train else None,
        }
        if self.root is None:
            if self.label_nc < SYNTHETIC_LABEL_NC:
                raise InputError(
                    f"--data.init_args.label_nc must be >= {SYNTHETIC_LABEL_NC} for the built-in synthetic label maps "
                    f"(ids 0..{SYNTHETIC_LABEL_NC - 1}; no --data.root given), got {self.label_nc}"
                )
            size = self.synthetic_size if train else SYNTHETIC_EVAL_SIZE
            return SyntheticSemanticDataset(SyntheticLabelMaps(size, split=role), instance=self.instance, **options)
        _, items = self.items(role)
        return SemanticDataset(items, label_nc=self.label_nc, zero_unlabelled=self.zero_unlabelled, **options)

    def items(self, role: str) -> tuple[Path, list[layouts.Triple]]:
        """Return the split folder and the ``(label, photo, instance)`` files of ``role``."""
        root, split = check_root(self.root), self.split_name(role)
        if self.layout == "cityscapes":
            return layouts.cityscapes(root, split, self.instance)
        if self.layout == "ade20k":
            return layouts.ade20k(root, split)
        if self.layout == "coco":
            return layouts.coco(root, split, self.instance)
        if self._split_folders():
            folders = self._custom_folders(split)
            if folders is None:
                raise MissingDataError(
                    f"no {split!r} split: {root / str(self.dirs['label_dir']) / split} does not exist; add it or set "
                    f"--data.init_args.{role}_split to an existing <label_dir> sub-folder"
                )
            return layouts.custom(folders)
        folder, items = layouts.custom(layouts.custom_folders(root, self._dirs(), None))
        if role == "test":
            return folder, items
        kept, held_out = seeded_split(
            items, self.val_fraction, self.split_seed, str(folder), "or make <label_dir>/<split> folders"
        )
        return folder, held_out if role == "val" else kept

    def _dirs(self) -> dict[str, str | None]:
        """Return the custom folders (``instance_dir`` dropped with ``no_instance``)."""
        return self.dirs | ({} if self.instance else {"instance_dir": None})

    def _split_folders(self) -> bool:
        """Tell whether the custom folders hold split sub-folders (``<label_dir>/<train_split>`` exists)."""
        return self._custom_folders(self.splits["train"] or "train") is not None

    def _custom_folders(self, split: str) -> dict[str, Path | None] | None:
        """Return the custom folders of ``split`` when they exist as ``<dir>/<split>``, else None (flat folders)."""
        folders = layouts.custom_folders(check_root(self.root), self._dirs(), split)
        label_dir = folders["label_dir"]
        return folders if label_dir is not None and label_dir.is_dir() else None

    @override
    def has_split(self, split: str) -> bool:
        """Tell whether ``split`` exists in the layout (custom flat folders: every split)."""
        root = check_root(self.root)
        if self.layout == "cityscapes":
            return (root / "gtFine" / split).is_dir() and (root / "leftImg8bit" / split).is_dir()
        if self.layout == "ade20k":
            images = layouts.ade20k_base(root) / "images"
            return (images / split).is_dir() or (images / layouts.ADE_SPLITS.get(split, split)).is_dir()
        if self.layout == "coco":
            return (root / f"{split}_label").is_dir()
        if self._split_folders():
            return self._custom_folders(split) is not None
        return True  # flat folders: train and val split by val_fraction, test = every file

    @override
    def predict_dataset(self) -> Dataset:
        """Label maps of ``predict_dir`` (recursive), preprocessed as evaluation: ``{"A": ids, "A_path"}``."""
        if self.predict_dir is None:
            raise InputError("predict needs label maps: pass --data.predict_dir DIR (a folder of label maps)")
        return LabelFolderDataset(self.predict_dir, self, keep_broken_links=True)

    # ---------------------------------------------------------------------------------------------------- scan
    @override
    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Scan every (label, photo[, instance]) unit: modes, one size, the crop, and the label values (pixels)."""
        if isinstance(dataset, LabelFolderDataset):
            check = self._label_values(dataset.paths, dataset.folder)
            return ScanRequest(
                dataset.folder,
                [(p,) for p in dataset.paths],
                "label maps",
                self._size_problem,
                keep=dataset.keep,
                unit_problem=check,
            )
        if not isinstance(dataset, SemanticDataset):
            return None
        units = [(label, photo) if inst is None else (label, photo, inst) for label, photo, inst in dataset.items]
        folder = Path(os.path.commonpath([p.parent for unit in units for p in unit]))
        check = self._label_values([unit[0] for unit in units], folder)
        return ScanRequest(
            folder, units, "items", size_problem=self._size_problem, keep=dataset.keep, unit_problem=check
        )

    def _label_values(self, labels: list[Path], folder: Path) -> LabelValues:
        """Return the label-value check of a split (cached in the run directory from ``CACHE_FROM`` files on)."""
        cache = None
        if len(labels) >= CACHE_FROM:
            path = cache_path(getattr(self.trainer, "default_root_dir", None), folder)
            cache = path.with_name(f"{LABEL_CACHE_PREFIX}{path.name}")
        return LabelValues(labels, self.label_nc, self.contain_dontcare_label, self.zero_unlabelled, cache)

    def _size_problem(self, headers: tuple[ImageHeader, ...]) -> str | None:
        """Say what is wrong with a unit's headers: a non-id label/instance map, two sizes, too small to crop."""
        maps = [headers[0]] + list(headers[2:])
        if any(h.mode not in LABEL_MODES for h in maps):
            modes = "/".join(h.mode for h in maps)
            return f"label or instance map of Pillow mode {modes}: {LABEL_MODE_FIX}"
        sizes = {(h.width, h.height) for h in headers}
        if len(sizes) > 1:
            shown = ", ".join(f"{h.width}x{h.height}" for h in headers)
            return f"label map, photo (and instance map) differ in size ({shown}); they must have one size"
        problems = (tf.size_problem(headers[0].width, headers[0].height) for tf in self._transforms)
        return next((problem for problem in problems if problem is not None), None)


class LabelValues:
    """The scan's pixel check of label maps: every value must map to an id below ``label_nc`` (+ dontcare).

    On its first call it reads all label maps of the split in threads (a full decode each: about 6 ms per
    1024x543 palette PNG on the loaded 2-core machine, 2.3 s for CMP Facades' 378) and keeps their distinct
    values; with ``cache`` (splits of ``CACHE_FROM`` files or more) they are kept by path, size and mtime, as
    the header scan's results, so a resume decodes only what changed.
    """

    def __init__(
        self, labels: list[Path], label_nc: int, dontcare: bool, zero_unlabelled: bool, cache: Path | None = None
    ) -> None:
        self.labels, self.label_nc, self.dontcare, self.zero_unlabelled = labels, label_nc, dontcare, zero_unlabelled
        self.cache = cache
        self.values: list[np.ndarray | None] | None = None

    def read_all(self) -> list[np.ndarray | None]:
        """Return the distinct values of every label map (None: unreadable), from the cache where it is current."""
        cache = ScanCache(self.cache)

        def one(path: Path) -> np.ndarray | None:
            try:
                stat = path.stat()
            except OSError:
                return None
            entry = cache.get(path, stat.st_size, stat.st_mtime_ns)
            if entry is not None:
                return np.asarray(entry[2], dtype=np.int64)
            values = _distinct_values(path)
            if values is not None:
                cache.put(path, [stat.st_size, stat.st_mtime_ns, values.tolist()])
            return values

        with ThreadPoolExecutor(max_workers=_THREADS) as pool:
            values = list(pool.map(one, self.labels))
        cache.save()
        return values

    def __call__(self, index: int, headers: tuple[ImageHeader, ...]) -> str | None:
        """Return the problem of unit ``index``'s label values, or None."""
        if self.values is None:
            self.values = self.read_all()
        values = self.values[index]
        if values is None:  # unreadable: the file's own problem is reported (or it fails when loaded)
            return None
        limit = self.label_nc + int(self.dontcare)
        bad = values[map_ids(values, self.label_nc, self.zero_unlabelled) >= limit]
        if not bad.size:
            return None
        shown = ", ".join(str(v) for v in bad[:5].tolist()) + (", ..." if bad.size > 5 else "")
        dontcare = f" + dontcare {self.label_nc}" if self.dontcare else ""
        fix = "set --data.init_args.label_nc above the largest class id"
        if not self.dontcare and set(bad.tolist()) <= {self.label_nc, 255}:
            fix += f", or contain_dontcare_label true if {self.label_nc} (or 255) marks unlabelled pixels"
        return f"label value(s) {shown} outside the classes 0..{self.label_nc - 1}{dontcare}; {fix}"


def _distinct_values(path: Path) -> np.ndarray | None:
    """Return the sorted distinct pixel values of a label map, or None when it cannot be read."""
    try:
        ids = read_ids(path)
    except InputError:
        return None
    if ids.size and ids.min() >= 0 and ids.max() < 1 << 16:
        return np.flatnonzero(np.bincount(ids.ravel()))
    return np.unique(ids)


class LabelFolderDataset(ImageFolderDataset):
    """The label maps of a predict folder, preprocessed as evaluation: ``{"A": int64 (1, H, W), "A_path"}``."""

    def __init__(self, folder: str | Path, module: SemanticDataModule, keep_broken_links: bool = False) -> None:
        super().__init__(folder, keep_broken_links=keep_broken_links)
        self.label_nc, self.zero_unlabelled = module.label_nc, module.zero_unlabelled
        self.preprocess = module.transform(train=False)

    def __getitem__(self, index: int) -> dict[str, Any]:
        """Load label map ``index``."""
        path = self.paths[index]
        ids = map_ids(read_ids(path), self.label_nc, self.zero_unlabelled)
        return {"A": self.preprocess(None, ids, None)["label"], "A_path": str(path)}


__all__ = ["LabelFolderDataset", "LabelValues", "SemanticDataModule"]
