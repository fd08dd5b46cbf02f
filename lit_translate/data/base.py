"""The base of every DataModule: loaders, rank-sharded resumable samplers, split fallback, predict folder.

A new DataModule subclasses :class:`TranslationDataModule` (or :class:`ResizeCropDataModule` for the
pix2pix-style resize/crop/flip pipeline), adds its own typed keyword arguments, passes the rest on with
``**kwargs`` and implements :meth:`~TranslationDataModule.build_dataset` (and :meth:`~TranslationDataModule.has_split`
when its splits are not plain ``root/<split>/`` folders). LightningCLI reads the shared arguments and their help
from the base classes through ``**kwargs``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningDataModule
from lightning.pytorch.utilities.rank_zero import rank_zero_only
from torch.utils.data import DataLoader, Dataset

from lit_translate import compat
from lit_translate.data import scan
from lit_translate.data.folder import ImageFolderDataset
from lit_translate.data.io import MissingDataError, check_channels, check_root
from lit_translate.data.sampling import ShardedSampler, SharedEpoch, build_loader
from lit_translate.data.scan import ImageHeader, ScanRequest
from lit_translate.data.semantic.inputs import IMAGE_KINDS, BatchKind
from lit_translate.data.transforms import Interpolation, Pipeline, build_transform
from lit_translate.errors import InputError

SYNTHETIC_EVAL_SIZE = 16
"""Number of validation and of test items of the built-in synthetic sets."""

ROLES_BY_STAGE = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",), "predict": ("predict",)}


class TranslationDataModule(LightningDataModule):
    """Loaders, samplers, exact-resume position and split handling shared by every DataModule.

    Training loaders shuffle per epoch and shard across ranks with padding; validation/test loaders keep the
    dataset order and serve every item exactly once across ranks; the training position inside an epoch is
    checkpointed (see :meth:`state_dict`). Subclasses implement :meth:`build_dataset`.

    Args:
        root: Dataset root; None uses the subclass's built-in synthetic set. Default None.
        input_channels: Channels of the generator input ``"A"``, 1 or 3 (also for ``predict`` images). Default 3.
        batch_size: Training batch size per rank. Default 1.
        val_batch_size: Validation/test batch size per rank. Default 4.
        num_workers: DataLoader workers per loader. Default 2.
        pin_memory: Load batches into page-locked memory, so that the copy to the GPU runs asynchronously
            (Lightning copies with ``non_blocking=True``). Default None: on when the trainer runs on CUDA, off
            otherwise (pinning buys nothing on CPU).
        prefetch_factor: Batches each worker loads ahead (with ``num_workers`` > 0). Default 2 (PyTorch's).
        seed: Seed of shuffling and augmentation, >= 0. Default 0.
        train_split: Training split name. Default ``"train"``.
        val_split: Validation split name. Default None: ``"val"`` when it exists, else the test split with a
            WARNING (fine for sample grids and cheap losses; never select checkpoints on it). A split given
            explicitly must exist.
        test_split: Test split name. Default ``"test"``.
        synthetic_size: Training items of the built-in synthetic set (used when ``root`` is None). Default 400.
        predict_dir: Folder of input images for ``predict`` (any size, batch size 1). Default None.
        skip_unreadable: Every split is scanned when it is set up, from the file headers (see
            :meth:`scan_request`): empty files, non-images, broken symbolic links, unsupported pixel modes, files
            over Pillow's size limit, most truncated files and images too small for the pipeline. Default False:
            any such file is an error listing all of them. True: every file is also decoded in full (in threads)
            and the items with a bad file are dropped, with one WARNING per split giving the count and up to 5
            examples; it is an error if nothing is left.
    """

    def __init__(
        self,
        *,
        root: str | None = None,
        input_channels: int = 3,
        batch_size: int = 1,
        val_batch_size: int = 4,
        num_workers: int = 2,
        pin_memory: bool | None = None,
        prefetch_factor: int = 2,
        seed: int = 0,
        train_split: str = "train",
        val_split: str | None = None,
        test_split: str = "test",
        synthetic_size: int = 400,
        predict_dir: str | None = None,
        skip_unreadable: bool = False,
    ) -> None:
        super().__init__()
        for key, value, low in (
            ("batch_size", batch_size, 1),
            ("val_batch_size", val_batch_size, 1),
            ("num_workers", num_workers, 0),
            ("prefetch_factor", prefetch_factor, 1),
            ("seed", seed, 0),
            ("synthetic_size", synthetic_size, 1),
        ):
            if value < low:
                raise InputError(f"{key} must be >= {low}, got {value}")
        check_channels(input_channels, "input_channels")
        self.root, self.predict_dir = root, predict_dir
        self.input_channels = input_channels
        self.batch_size, self.val_batch_size = batch_size, val_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.pin_memory, self.prefetch_factor = pin_memory, prefetch_factor
        self.splits: dict[str, str | None] = {"train": train_split, "val": val_split, "test": test_split}
        self.synthetic_size = synthetic_size
        self.skip_unreadable = skip_unreadable
        self.epoch_counter = SharedEpoch()
        self.datasets: dict[str, Dataset] = {}
        self._train_sampler: ShardedSampler | None = None
        self._resume_state: dict[str, int] | None = None

    # ------------------------------------------------------------------------------------ what subclasses add
    @property
    def batch_kinds(self) -> dict[str, BatchKind]:
        """Say what each tensor key of this module's batches holds: ``"image"``, ``"label_map"``, ``"instance_map"``.

        Default ``{"A": "image", "B": "image"}``; a module whose input is a label map overrides it (see
        ``lit_translate.data.semantic.inputs``).
        """
        return dict(IMAGE_KINDS)

    def build_dataset(self, role: str) -> Dataset:
        """Create the dataset of ``role`` (``"train"``, ``"val"`` or ``"test"``; see :meth:`split_name`)."""
        raise NotImplementedError

    def has_split(self, split: str) -> bool:
        """Tell whether ``split`` exists under the root (default: a ``root/<split>/`` folder)."""
        return (check_root(self.root) / split).is_dir()

    def scan_request(self, role: str, dataset: Dataset) -> ScanRequest | None:
        """Say which files dataset ``role`` reads and what they need, for the set-up scan (None: no files).

        The default covers a dataset with a ``paths`` list (one file per item, any size) and, if it has one,
        a ``keep(indices, skipped)`` method for ``skip_unreadable``; a synthetic dataset has no files. Override
        it to group files (pairs), to add size constraints or a note (see ``lit_translate.data.scan.ScanRequest``).
        """
        paths = getattr(dataset, "paths", None)
        if not isinstance(paths, list) or not paths or not all(isinstance(p, Path) for p in paths):
            return None
        folder = Path(os.path.commonpath([p.parent for p in paths]))
        return ScanRequest(folder, [(p,) for p in paths], keep=getattr(dataset, "keep", None))

    def check_dataset(self, role: str, dataset: Dataset) -> None:
        """Check what the scan cannot see once it has kept the good files (default: nothing); raise to refuse."""

    # ------------------------------------------------------------------------------------------------ datasets
    def dataset(self, role: str) -> Dataset:
        """Return the (cached) dataset of ``role``: ``"train"``, ``"val"``, ``"test"`` or ``"predict"``.

        A new dataset is scanned first (see ``skip_unreadable``); under DDP rank 0 scans and the others get its
        result, so every rank keeps the same items and raises the same error.
        """
        if role not in self.datasets:
            dataset = self.predict_dataset() if role == "predict" else self.build_dataset(role)
            request = self.scan_request(role, dataset)
            if request is not None:
                request = dataclasses.replace(request, role=request.role or role)
                world, rank = self._replicas()
                outcome = scan.shared_scan(request, self.skip_unreadable, world, rank, self.trainer)
                scan.apply_outcome(outcome, request, log_lines=rank == 0)
            self.check_dataset(role, dataset)
            self.datasets[role] = dataset
        return self.datasets[role]

    def setup(self, stage: str | None = None) -> None:
        """Create (and so validate) the datasets of ``stage``; all of fit/test when ``stage`` is None."""
        if stage is not None and stage not in ROLES_BY_STAGE:
            raise InputError(f"stage must be one of {sorted(ROLES_BY_STAGE)} or None, got {stage!r}")
        if stage != "predict":  # predict needs predict_dir only, not the training data
            if self.root is None:
                self.log_rank_zero(logging.INFO, "no --data.root given: using the built-in synthetic dataset")
            else:
                check_root(self.root)
        problems = []
        for role in ROLES_BY_STAGE[stage] if stage else ("train", "val", "test"):
            try:
                self.dataset(role)
            except Exception as err:  # the bad files of every split at once, then at most one other error
                if not isinstance(err, scan.DataScanError) and not problems:
                    raise
                if isinstance(err, (scan.DataScanError, InputError)):  # e.g. SR's val_batch_size after bad files
                    problems.append(str(err))
                if not isinstance(err, scan.DataScanError):
                    break
        if problems:
            raise scan.DataScanError("\n".join(problems))

    def split_name(self, role: str) -> str:
        """Return the split name of ``role``; see ``val_split`` for the validation fallback."""
        split = self.splits[role]
        if role != "val":
            assert split is not None
            return split
        if split is not None:
            return split
        test = self.splits["test"]
        assert test is not None
        if self.has_split("val"):
            return "val"
        if not self.has_split(test):
            raise MissingDataError(
                f"no validation split under {self.root}: neither 'val' nor {test!r} exists; add one, or set "
                f"--data.val_split to an existing split"
            )
        self.log_rank_zero(
            logging.WARNING,
            f"no val split ('val') under {self.root}: validating on the {test!r} split instead (sample grids and "
            f"cheap losses only); its metrics must not be used for checkpoint selection, never rank checkpoints "
            f"on it (set --data.val_split to a held-out split)",
        )
        return test

    def predict_dataset(self) -> Dataset:
        """Create the predict dataset, or raise an error telling how to configure it."""
        if self.predict_dir is None:
            raise InputError("predict needs input images: pass --data.predict_dir DIR (a folder of images)")
        return ImageFolderDataset(self.predict_dir, channels=self.input_channels, keep_broken_links=True)

    # ------------------------------------------------------------------------------------------------- loaders
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
        dataset = self.dataset("predict")
        return DataLoader(dataset, batch_size=1, num_workers=self.num_workers, pin_memory=self.loads_pinned())

    def build_sampler(
        self, role: str, dataset: Dataset, num_replicas: int, rank: int, batch_size: int
    ) -> ShardedSampler:
        """Create the sampler of ``role``: training shuffles per epoch and pads, evaluation serves each item once.

        Override it for another training order (a ``ShardedSampler`` subclass, so that resume works), e.g. the
        alternating batches of two datasets (``AlternatingDatasetSampler``).
        """
        train = role == "train"
        counter = self.epoch_counter if train else None
        return ShardedSampler(
            dataset, num_replicas, rank, shuffle=train, seed=self.seed, pad=train, epoch_counter=counter
        )

    def _loader(self, role: str, train: bool, batch_size: int) -> DataLoader:
        """Create a DataLoader with a ShardedSampler for this trainer's rank."""
        dataset = self.dataset(role)
        num_replicas, rank = self._replicas()
        sampler = self.build_sampler(role, dataset, num_replicas, rank, batch_size)
        if role == "train":
            self._train_sampler = sampler
            if self._resume_state is not None:
                sampler.load_state_dict(self._resume_state)
                self._resume_state = None
        return build_loader(
            dataset,
            batch_size,
            self.num_workers,
            sampler,
            persistent=role != "test",
            pin_memory=self.loads_pinned(),
            prefetch_factor=self.prefetch_factor,
        )

    def loads_pinned(self) -> bool:
        """Tell whether the loaders pin memory: ``pin_memory``, or (None) whether the trainer runs on CUDA."""
        if self.pin_memory is not None:
            return self.pin_memory
        strategy = getattr(self.trainer, "strategy", None)  # no trainer (a DataModule used on its own): off
        return strategy is not None and strategy.root_device.type == "cuda"

    # ------------------------------------------------------------------------------------------- exact resume
    def state_dict(self) -> dict[str, Any]:
        """Return the training data position, saved in checkpoints for an exact resume.

        ``{"train_sampler": {"epoch": e, "start": k}}``: the epoch and the number of this rank's samples of it
        that training has consumed (batches done x batch size; identical on every rank). After the last batch of
        an epoch it points at the start of the next epoch. Empty outside ``fit``.
        """
        sampler, trainer = self._train_sampler, self.trainer
        if sampler is None or trainer is None or trainer.state.fn != "fit":
            return {}
        done = compat.batches_done(trainer) * self.batch_size
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

    def log_rank_zero(self, level: int, message: str) -> None:
        """Log to this DataModule's module logger, on global rank 0 only."""
        if getattr(rank_zero_only, "rank", 0) == 0:
            logging.getLogger(type(self).__module__).log(level, message)


class ResizeCropDataModule(TranslationDataModule):
    """A :class:`TranslationDataModule` with the pix2pix/CycleGAN pipeline: resize, random crop, flip.

    Training: resize to ``load_size`` → ``RandomCrop(crop_size)`` → ``HorizontalFlip``; evaluation: resize (or
    centre-crop) to ``crop_size``; see :func:`~lit_translate.data.transforms.build_transform`.

    Args:
        load_size: Resize size (training). Default 286.
        crop_size: Crop size; evaluation images come out at this size when ``crop``. Default 256.
        resize: Resize to ``load_size`` first (any image size is then accepted). Default True.
        crop: Random crop (training) / resize or center crop (evaluation) to ``crop_size``. Default True.
        flip: Random horizontal flip in training. Default True.
        interpolation: Resize filter (Pillow): ``"bicubic"`` (the reference's), ``"bilinear"``, ``"lanczos"``,
            ``"box"`` or ``"nearest"``. Default ``"bicubic"``.
        target_channels: Channels of ``"B"``, 1 or 3. Default 3.
        **kwargs: The :class:`TranslationDataModule` arguments.
    """

    def __init__(
        self,
        load_size: int = 286,
        crop_size: int = 256,
        resize: bool = True,
        crop: bool = True,
        flip: bool = True,
        interpolation: Interpolation = "bicubic",
        target_channels: int = 3,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        check_channels(target_channels, "target_channels")
        build_transform(load_size, crop_size, resize, crop, flip, train=True, paired=False, interpolation=interpolation)
        self.sizes = dict(load_size=load_size, crop_size=crop_size, resize=resize, crop=crop, flip=flip)
        self.interpolation = interpolation
        self.target_channels = target_channels

    def transform(self, train: bool, paired: bool) -> Pipeline:
        """Build the configured pipeline for training or evaluation (see ``build_transform``)."""
        return build_transform(**self.sizes, train=train, paired=paired, interpolation=self.interpolation)

    def size_problem(self, headers: tuple[ImageHeader, ...], aligned: bool = False) -> str | None:
        """Say why the image(s) of one item cannot go through the pipeline, or None (for ``scan_request``).

        With resize on any size works. Without it, each image (each half of an aligned A|B image) must be at
        least ``crop_size`` on both sides when cropping, and the two images of a pair must have one size.

        Args:
            headers: The item's file(s): one image, an aligned A|B image, or the two files of a pair.
            aligned: ``headers`` is one A|B image (its halves are checked).
        """
        if aligned and headers[0].width < 2:
            return f"{headers[0].width}x{headers[0].height}: an aligned A|B image needs at least 2 columns"
        if self.sizes["resize"]:
            return None
        # without resize the B half of an odd-width aligned image loses its extra column (the reference's crop
        # never reaches it either)
        sizes = [(h.width // 2, h.height) for h in headers] if aligned else [(h.width, h.height) for h in headers]
        crop = self.sizes["crop_size"]
        shown = " and ".join(f"{w}x{h}" for w, h in sizes)
        if self.sizes["crop"] and any(w < crop or h < crop for w, h in sizes):
            what = f"A|B image {headers[0].width}x{headers[0].height}: each half is {shown}" if aligned else shown
            return (
                f"{what}, smaller than the {crop}x{crop} crop (--data.crop_size) with --data.resize false; turn "
                f"resize on, lower crop_size or remove the image"
            )
        if len(set(sizes)) > 1:
            return f"the two images of this pair are {shown}: they must have one size with --data.resize false"
        return None

    def dataset_options(self, role: str, paired: bool) -> dict[str, Any]:
        """Return the arguments every dataset of ``role`` gets: pipeline, channels, seed, shared epoch (train)."""
        train = role == "train"
        return {
            "transform": self.transform(train=train, paired=paired),
            "input_channels": self.input_channels,
            "target_channels": self.target_channels,
            "seed": self.seed,
            "epoch_counter": self.epoch_counter if train else None,
        }


__all__ = ["ROLES_BY_STAGE", "SYNTHETIC_EVAL_SIZE", "ResizeCropDataModule", "TranslationDataModule", "check_root"]
