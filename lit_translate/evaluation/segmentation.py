"""The segmentation score of label-map methods (SPADE, pix2pixHD): mIoU and pixel accuracy of a segmenter.

A segmenter's prediction on the generated images is scored against the input label maps.

:class:`SegmentationScore` is the metric (a confusion matrix summed over ranks: DDP-exact); :class:`SegmenterScoring`
is what :class:`~lit_translate.evaluation.TranslationMetrics` (``--metrics.segmenter``) runs on every evaluated batch
of a DataModule whose ``batch_kinds["A"]`` is ``"label_map"``: the segmenter (a TorchScript file, or the class path
of an ``nn.Module``), its input convention, and one score per direction tag. The protocol is in
``docs/evaluation.md`` ("Segmentation score").
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchmetrics import Metric
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.errors import InputError
from lit_translate.evaluation.adapters import to_rgb, to_unit
from lit_translate.pretrained.check import Need
from lit_translate.pretrained.weights import file_sha256

SegmenterInput = Literal["minus_one_one", "zero_one", "imagenet"]
SEGMENTER_INPUTS: tuple[str, ...] = ("minus_one_one", "zero_one", "imagenet")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
KEY = "--metrics.segmenter"
FILE_SUFFIXES = frozenset({".pt", ".pth", ".ts", ".jit", ".zip", ".torchscript"})
_CLASS_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")
Pairs = Mapping[str, tuple[Tensor, Tensor | None]]
"""A batch's ``evaluation_pairs``: ``{direction tag: (generated, real target or None)}``."""


class SegmentationScore(Metric):
    """mIoU and pixel accuracy of predicted class ids against ground-truth ids, from one confusion matrix.

    The state is the ``(num_classes, num_classes)`` int64 confusion matrix (rows: ground truth, columns:
    prediction), summed over ranks, so a distributed run gives exactly the single-process values. ``compute``
    returns ``{"miou", "pixel_acc"}``: mIoU is the mean, over the classes whose union (ground truth or prediction)
    is not empty, of intersection / union, as the evaluation scripts of the SPADE paper (DRN's ``per_class_iu``
    averaged with ``nanmean``); pixel accuracy is the share of scored pixels predicted right. Both are NaN when
    no pixel was scored.

    Args:
        num_classes: Classes ``0..num_classes-1``.
        ignore_index: A ground-truth id that is not scored (the dontcare id), or None.
    """

    full_state_update = False
    higher_is_better = True
    confusion: Tensor

    def __init__(self, num_classes: int, ignore_index: int | None = None) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.add_state("confusion", torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    @override
    def update(self, preds: Tensor, target: Tensor) -> None:
        """Add predicted and ground-truth class ids of one shape (integers; ``ignore_index`` pixels are skipped)."""
        if preds.shape != target.shape:
            raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ in shape")
        n = self.num_classes
        preds, target = preds.reshape(-1).long(), target.reshape(-1).long()
        scored = target != self.ignore_index if self.ignore_index is not None else torch.ones_like(target, dtype=bool)
        outside = scored & ((target < 0) | (target >= n) | (preds < 0) | (preds >= n))
        if bool(outside.any()):
            raise ValueError(f"class ids outside 0..{n - 1} (ignore_index {self.ignore_index})")
        codes = torch.where(scored, target * n + preds, n * n)  # ignored pixels land in a bin that is dropped
        self.confusion += torch.bincount(codes, minlength=n * n + 1)[: n * n].view(n, n)

    @override
    def compute(self) -> dict[str, Tensor]:
        confusion = self.confusion.double()
        hits = confusion.diagonal()
        union = confusion.sum(0) + confusion.sum(1) - hits
        present = union > 0
        nan = torch.tensor(float("nan"), dtype=torch.float64, device=hits.device)
        miou = (hits[present] / union[present]).mean() if bool(present.any()) else nan
        total = confusion.sum()
        return {"miou": miou, "pixel_acc": hits.sum() / total if total > 0 else nan}


# ------------------------------------------------------------------------------------------------ the segmenter
def is_class_path(spec: str) -> bool:
    """Whether ``--metrics.segmenter`` names a class (``package.module.Class``) rather than a TorchScript file.

    A file: an existing file, or a value with a path separator or a file suffix (``.pt``, ``.pth``, ``.ts``,
    ``.jit``, ``.zip``, ``.torchscript``); any other dotted Python name is a class path.
    """
    path = Path(os.path.expanduser(spec))
    if path.is_file() or "/" in spec or os.sep in spec or path.suffix.lower() in FILE_SUFFIXES:
        return False
    return bool(_CLASS_PATH.match(spec))


def load_segmenter(spec: str, num_classes: int, device: torch.device | str = "cpu") -> nn.Module:
    """Load the segmenter: a TorchScript file (``torch.jit.load`` onto ``device``) or a class path.

    A class is instantiated with ``num_classes=`` when its constructor takes that parameter, else with no
    arguments (it loads its own weights). The network is returned in eval mode, float32, without gradients.

    Raises:
        InputError: the file does not exist or is not TorchScript, or the class cannot be imported or built.
    """
    if is_class_path(spec):
        net = _instantiate(spec, num_classes)
    else:
        path = Path(os.path.expanduser(spec))
        if not path.is_file():
            raise InputError(f"{KEY} {path} does not exist; give the segmenter's TorchScript file or drop {KEY}")
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; loading still works
                warnings.simplefilter("ignore", FutureWarning)
                net = torch.jit.load(str(path), map_location=torch.device(device))
        except (RuntimeError, ValueError) as error:
            raise InputError(
                f"{KEY} {path} is not a TorchScript file ({str(error).splitlines()[0][:120]}); save the segmenter "
                "with torch.jit.save(torch.jit.script(net), PATH) (or torch.jit.trace)"
            ) from None
    net = net.to(device).float().eval()
    for parameter in net.parameters():  # ScriptModules have no requires_grad_()
        parameter.requires_grad_(False)
    return net


def _instantiate(spec: str, num_classes: int) -> nn.Module:
    module_name, _, class_name = spec.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise InputError(
            f"{KEY} {spec}: cannot import {class_name!r} from {module_name!r} ({error}); give a TorchScript file or "
            "the class path (package.module.Class) of an nn.Module importable here"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise InputError(f"{KEY} {spec} is not an nn.Module class; give a TorchScript file or an nn.Module class")
    takes_classes = "num_classes" in inspect.signature(cls).parameters
    return cls(num_classes=num_classes) if takes_classes else cls()


def segmenter_input(images: Tensor, mode: str) -> Tensor:
    """Map generated images in [-1, 1] to the segmenter's input ``mode``, float32.

    ``minus_one_one``: unchanged (clamped); ``zero_one``: [0, 1]; ``imagenet``: [0, 1] RGB normalised with the
    ImageNet mean and std (1 channel repeated).
    """
    if mode == "minus_one_one":
        return images.float().clamp(-1.0, 1.0)
    unit = to_unit(images)
    if mode == "zero_one":
        return unit
    mean = torch.tensor(IMAGENET_MEAN, device=unit.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=unit.device).view(1, 3, 1, 1)
    return (to_rgb(unit) - mean) / std


def predict_ids(net: nn.Module, inputs: Tensor, size: tuple[int, int], num_classes: int) -> Tensor:
    """Return the segmenter's class ids ``(N, H, W)`` at the label map's ``size``.

    The logits ``(N, num_classes, h, w)`` (a tuple's first item, or a dict's ``"out"`` as torchvision's
    segmentation models give) are resized bilinearly (``align_corners=False``) to ``size`` before the argmax.
    """
    logits: Any = net(inputs)
    if isinstance(logits, Mapping):
        logits = logits["out"]
    elif isinstance(logits, (tuple, list)):
        logits = logits[0]
    if not isinstance(logits, Tensor) or logits.ndim != 4 or logits.shape[1] != num_classes:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise InputError(
            f"{KEY}: the segmenter gave {shape}, expected logits (N, {num_classes}, h, w): one channel per class "
            "of the data's label maps (label_nc)"
        )
    if tuple(logits.shape[-2:]) != tuple(size):
        logits = F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)
    return logits.argmax(dim=1)


# ------------------------------------------------------------------------------------------ the callback's part
class SegmenterScoring:
    """The segmentation score of :class:`~lit_translate.evaluation.TranslationMetrics`: one score per tag.

    Args:
        segmenter: A TorchScript file or a class path (:func:`load_segmenter`); None: off.
        input_mode: The segmenter's input convention (:func:`segmenter_input`).
    """

    def __init__(self, segmenter: str | None, input_mode: str = "minus_one_one") -> None:
        self.spec = segmenter
        self.input_mode = check_choice("segmenter_input", input_mode, SEGMENTER_INPUTS)
        self.num_classes: int | None = None
        self.ignore_index: int | None = None
        self.net: nn.Module | None = None
        self.device = torch.device("cpu")
        self.scores: dict[str, SegmentationScore] = {}

    @property
    def enabled(self) -> bool:
        """Whether a segmenter is set."""
        return self.spec is not None

    def needs(self) -> list[Need]:
        """Return the segmenter file still to load (checked with the other pretrained files before step 0)."""
        if self.spec is None or self.net is not None or is_class_path(self.spec):
            return []
        return [Need("segmenter", self.spec, KEY)]

    def configure(self, datamodule: Any) -> None:
        """Take the classes from a label-map DataModule: ``label_nc`` and, ignored, the dontcare id ``label_nc``.

        Raises:
            InputError: the DataModule's batch ``"A"`` is not a label map, or it has no ``label_nc``.
        """
        if self.spec is None:
            return
        kinds = getattr(datamodule, "batch_kinds", None)
        if not isinstance(kinds, Mapping) or kinds.get("A") != "label_map":
            raise InputError(
                f"{KEY} scores generated images against the input label maps, but the data module "
                f"{type(datamodule).__name__} gives no label map as batch 'A' (its batch_kinds['A'] is not "
                f"'label_map'); use it with a label-map DataModule (SemanticDataModule) or drop {KEY}"
            )
        label_nc = getattr(datamodule, "label_nc", None)
        if not isinstance(label_nc, int) or label_nc < 1:
            raise InputError(f"{KEY} needs the number of classes: {type(datamodule).__name__} has no label_nc")
        self.num_classes = label_nc
        self.ignore_index = label_nc if getattr(datamodule, "contain_dontcare_label", False) else None

    def build(self, weight_files: dict[str, dict[str, str | bool]] | None = None) -> None:
        """Load the segmenter once configured (idempotent), describing its file in ``weight_files["segmenter"]``."""
        if self.spec is None or self.num_classes is None or self.net is not None:
            return
        self.net, self.device = load_segmenter(self.spec, self.num_classes), torch.device("cpu")
        path = Path(os.path.expanduser(self.spec))
        digest = "" if is_class_path(self.spec) else file_sha256(path)
        name = self.spec if is_class_path(self.spec) else str(path)
        if weight_files is not None:
            weight_files["segmenter"] = {"name": "segmenter", "file": name, "sha256": digest, "registered": False}

    def _net_on(self, device: torch.device) -> nn.Module:
        assert self.net is not None and self.spec is not None
        if device != self.device:  # a TorchScript file is reloaded (frozen modules hold their weights as constants)
            file = not is_class_path(self.spec)
            self.net = load_segmenter(self.spec, self.num_classes, device) if file else self.net.to(device)
            self.device = device
        return self.net

    def update(self, pairs: Pairs, label_map: Tensor, device: torch.device) -> None:
        """Score each tag's generated images against ``label_map`` (int ``(N, 1, H, W)`` class ids)."""
        self.build()
        if self.net is None or self.num_classes is None:
            raise RuntimeError("SegmenterScoring.configure(datamodule) was not called")
        label_map = label_map.to(device)
        if label_map.ndim != 4 or label_map.shape[1] != 1 or label_map.is_floating_point():
            raise ValueError(f"a label map is an integer (N, 1, H, W) tensor, got {tuple(label_map.shape)}")
        for tag, (fake, _) in pairs.items():
            if fake.shape[0] != label_map.shape[0]:
                raise ValueError(f"direction {tag!r}: {fake.shape[0]} generated images for {label_map.shape[0]} maps")
            score = self.scores.setdefault(tag, SegmentationScore(self.num_classes, self.ignore_index))
            if score.device != device:
                score.to(device)
            inputs = segmenter_input(fake.detach().to(device), self.input_mode)
            ids = predict_ids(self._net_on(device), inputs, tuple(label_map.shape[-2:]), self.num_classes)
            score.update(ids, label_map[:, 0])

    def compute(self) -> dict[str, float]:
        """Return ``{"miou", "pixel_acc"}`` (tag ``""``) or ``{"miou_<tag>", ...}`` (collective under DDP)."""
        results: dict[str, float] = {}
        for tag in sorted(self.scores):
            suffix = f"_{tag}" if tag else ""
            for name, value in self.scores[tag].compute().items():
                results[f"{name}{suffix}"] = float(value)
        return results

    def reset(self) -> None:
        """Reset every score."""
        for score in self.scores.values():
            score.reset()


__all__ = [
    "SEGMENTER_INPUTS",
    "Pairs",
    "SegmentationScore",
    "SegmenterInput",
    "SegmenterScoring",
    "is_class_path",
    "load_segmenter",
    "predict_ids",
    "segmenter_input",
]
