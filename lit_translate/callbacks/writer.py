"""Write translated images of ``lit-translate predict`` to a folder, mirroring the input folder's sub-folders."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities import rank_zero_info
from PIL import Image
from typing_extensions import override

from lit_translate.choices import check_choice
from lit_translate.data.io import find_images, load_image, save_image
from lit_translate.data.transforms import to_tensor
from lit_translate.errors import InputError
from lit_translate.methods.base import INFERENCE_MODES

MAX_LISTED = 20
"""Colliding or existing outputs named in an error (the rest are counted)."""


class OutputsExistError(InputError, FileExistsError):
    """Outputs of ``predict`` exist already (and ``--predict_writer.overwrite`` is off)."""


class TranslationWriter(BasePredictionWriter):
    """Save every translated image as a lossless PNG of the input's size (times the method's scale).

    One target: ``<output_dir>/<relative path>.png``; several: ``<output_dir>/<target>/<relative path>.png``,
    where the relative path is the input's under ``--data.predict_dir`` with its suffix replaced (``sub/a.jpg``
    -> ``sub/a.png``). Before any image is translated the writer checks that no two inputs map to one output
    (``photo.webp`` and ``photo.tif``) and, unless ``overwrite``, that no output exists yet; each is an error
    listing the files.

    Outputs have the size of the images the method translated: a DataModule that resizes its predict inputs to
    the training size (the multi-domain ones: ``image_size``, e.g. 128 px outputs for 512 px AFHQ images) gives
    outputs of that size. ``resize_to_input`` scales each output back to its input file's size (times the
    method's scale) with antialiased bicubic interpolation; ``--data.predict_resize false`` translates the images
    at their own size instead (sharper, but G never saw that scale).

    Args:
        output_dir: destination folder (created); None disables writing. Default: None.
        direction: one target, an alias of ``targets=[direction]`` (``--predict_writer.direction BtoA``); ignored
            when ``targets`` is given. Default: None.
        overwrite: replace existing files in ``output_dir``. Default: False.
        inference_mode: ``"eval"`` or ``"train"`` to override the model's inference mode (None keeps the
            checkpoint's). Default: None.
        targets: what to translate into, names of the method's ``targets`` (CycleGAN: ``AtoB``, ``BtoA``; a
            multi-domain method: its domains). Default: None, the method's ``default_predict_targets``.
        tile: translate in tiles of this many input pixels (memory bounded by the tile size; see
            ``TranslationModule.translate_any_size``); None translates whole images. Default: None.
        tile_overlap: input pixels shared by neighbouring tiles. Default: 32.
        resize_to_input: save each output at its input file's size times the method's ``output_scale`` (after a
            centre crop, ``crop_size``, the crop is stretched over the whole frame). Default: False.
        num_samples: a multimodal method (``latent_dim``) writes this many samples per input,
            ``<name>_s0.png ... <name>_s{K-1}.png``, sample ``k`` drawn with seed ``seed + k`` (the same seed gives
            the same files). Default: None (one output, the seed-0 code).
        seed: the first sample's seed. Default: 0.
        style_image: a multimodal method with an encoder translates each input with the code of this image (the
            encoder's mean), or, for a folder, of the image with the input's relative path (any suffix), else its
            stem. Default: None.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        direction: str | None = None,
        overwrite: bool = False,
        inference_mode: str | None = None,
        targets: list[str] | None = None,
        tile: int | None = None,
        tile_overlap: int = 32,
        resize_to_input: bool = False,
        num_samples: int | None = None,
        seed: int = 0,
        style_image: str | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = output_dir
        self.direction = direction
        self.targets = list(targets) if targets is not None else None if direction is None else [direction]
        self.overwrite = overwrite
        self.inference_mode = inference_mode
        self.tile, self.tile_overlap = tile, tile_overlap
        self.resize_to_input = resize_to_input
        self.num_samples, self.seed, self.style_image = num_samples, seed, style_image
        self.written = 0
        self._outputs: dict[str, Path] = {}

    @override
    def on_predict_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.output_dir is None:
            raise InputError("predict needs an output folder: pass --predict_writer.output_dir DIR")
        targets = tuple(self.targets) if self.targets is not None else tuple(pl_module.default_predict_targets)
        if not targets:
            raise InputError("--predict_writer.targets is empty; name at least one target")
        for target in targets:
            _check_choice("--predict_writer.targets", target, pl_module.targets)
        pl_module.predict_targets = targets
        pl_module.set_predict_tiling(self.tile, self.tile_overlap)
        if self.inference_mode is not None:
            _check_choice("--predict_writer.inference_mode", self.inference_mode, INFERENCE_MODES)
            pl_module.inference_mode = self.inference_mode
        pl_module.predict_latents = self._latents(trainer, pl_module)
        self._outputs = self._plan(trainer, targets)
        Path(self.output_dir).mkdir(parents=True, exist_ok=True)
        trainer.strategy.barrier("predict_writer")  # every rank checked before any rank writes

    def _plan(self, trainer: Trainer, targets: tuple[str, ...]) -> dict[str, Path]:
        """Map each input path to its output path (below ``<target>/`` when several); raise on clashes."""
        inputs = _inputs(trainer)
        out = Path(self.output_dir or ".")
        folders = [out / t for t in targets] if len(targets) > 1 else [out]
        relative = {str(path): rel.with_suffix(".png") for path, rel in inputs}
        by_output: dict[Path, list[Path]] = defaultdict(list)
        for path, rel in inputs:
            by_output[relative[str(path)]].append(rel)
        clashes = [f"{' and '.join(map(str, rels))} -> {name}" for name, rels in by_output.items() if len(rels) > 1]
        if clashes:
            raise InputError(
                f"{len(clashes)} output name(s) in {out} would be written by several inputs (the suffix is replaced "
                f"by .png): {_listed(clashes)}; rename the inputs so that their names differ without the suffix"
            )
        inside = [str(path) for path, _ in inputs if _is_within(path, out)]
        if inside:
            raise InputError(
                f"{len(inside)} input image(s) lie inside --predict_writer.output_dir {out} (earlier outputs would be "
                f"translated again): {_listed(inside)}; choose an output folder outside --data.predict_dir"
            )
        names = [self.sample_name(rel, k) for rel in by_output for k in range(self.num_samples or 1)]
        existing = [str(f / rel) for f in folders for rel in names if (f / rel).exists()]
        if existing and not self.overwrite:
            raise OutputsExistError(
                f"{len(existing)} of the {len(names) * len(folders)} outputs already exist (an earlier run?): "
                f"{_listed(existing)}; pass --predict_writer.overwrite true or choose another "
                "--predict_writer.output_dir"
            )
        return relative

    @override
    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Any,
        batch_indices: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        assert self.output_dir is not None
        several = len(prediction["images"]) > 1
        for target, images in prediction["images"].items():
            folder = Path(self.output_dir) / target if several else Path(self.output_dir)
            scale = pl_module.output_scale(target) if self.resize_to_input else 1
            for outputs, source in zip(images, prediction["paths"]):
                name = self._outputs.get(source, Path(f"{Path(source).stem}.png"))
                for k, image in enumerate(outputs if prediction.get("samples") else [outputs]):
                    image = _resized_to_input(image, source, scale) if self.resize_to_input else image
                    save_image(image, folder / self.sample_name(name, k))
                    self.written += 1

    @override
    def on_predict_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        targets = ", ".join(getattr(pl_module, "predict_targets", ()))
        rank_zero_info(f"Wrote {self.written} translated images ({targets}) to {self.output_dir}")

    def sample_name(self, name: Path, k: int) -> Path:
        """Return the file of sample ``k`` of output ``name``: ``name_s<k>.png`` with ``num_samples``, else ``name``."""
        return name.with_name(f"{name.stem}_s{k}{name.suffix}") if self.num_samples else name

    def _latents(self, trainer: Trainer, pl_module: LightningModule) -> Callable[[str], list[Any]] | None:
        """Return the latent codes of each input's outputs (``num_samples`` seeds or a style image), or None."""
        if self.num_samples is None and self.style_image is None:
            return None
        name = type(pl_module).__name__
        if getattr(pl_module, "latent_dim", None) is None:
            raise InputError(
                f"--predict_writer.num_samples and --predict_writer.style_image need a multimodal method (with a "
                f"latent code); {name} is deterministic: leave both out"
            )
        if self.num_samples is not None and self.style_image is not None:
            raise InputError("give --predict_writer.num_samples or --predict_writer.style_image, not both")
        if self.num_samples is not None:
            if self.num_samples < 1:
                raise InputError(f"--predict_writer.num_samples must be >= 1; got {self.num_samples}")
            seeds = [self.seed + k for k in range(self.num_samples)]
            return lambda path: list(seeds)
        return style_codes(Path(str(self.style_image)), _inputs(trainer), int(getattr(pl_module, "style_channels", 3)))


def style_codes(style: Path, inputs: list[tuple[Path, Path]], channels: int) -> Callable[[str], list[Any]]:
    """Return ``input path -> [style image tensor (1, C, H, W)]`` for ``--predict_writer.style_image``.

    A file is every input's style; a folder gives each input the image at its relative path (any suffix), else
    the image with its stem. Every input without one is named in one error, before any image is translated.
    """
    if not style.exists():
        raise InputError(f"--predict_writer.style_image {style} does not exist; pass an image file or a folder")
    if style.is_file():
        image = to_tensor(load_image(style, channels))[None]
        return lambda path: [image]
    files = find_images(style, recursive=True)
    by_rel = {f.relative_to(style).with_suffix(""): f for f in files}
    by_stem = {f.stem: f for f in files}
    matched = {str(p): by_rel.get(rel.with_suffix(""), by_stem.get(p.stem)) for p, rel in inputs}
    missing = [path for path, found in matched.items() if found is None]
    if missing:
        raise InputError(
            f"--predict_writer.style_image {style} has no image for {len(missing)} input(s) (matched by relative "
            f"path or name): {_listed(missing)}; add them or pass one image file"
        )
    return lambda path: [to_tensor(load_image(matched[str(path)], channels))[None]]


def _inputs(trainer: Trainer) -> list[tuple[Path, Path]]:
    """Return ``(path, path relative to the input folder)`` of every predict input (a flat name without one)."""
    loaders = trainer.predict_dataloaders
    pairs: list[tuple[Path, Path]] = []
    for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
        dataset = getattr(loader, "dataset", None)
        paths = [Path(p) for p in getattr(dataset, "paths", [])]
        relative = getattr(dataset, "relative_paths", None) or [Path(p.name) for p in paths]
        pairs += list(zip(paths, relative))
    return pairs


def _check_choice(key: str, value: Any, allowed: Any) -> None:
    """:func:`check_choice` raising :class:`InputError` (a bad option, before any image is translated)."""
    try:
        check_choice(key, value, allowed)
    except ValueError as err:
        raise InputError(str(err)) from err


def _resized_to_input(image: torch.Tensor, source: str, scale: int) -> torch.Tensor:
    """Return ``image`` ``(C, h, w)`` resized to ``scale`` x the size of the input file ``source`` (bicubic)."""
    with Image.open(source) as opened:  # reads the header only
        width, height = opened.size
    size = (height * scale, width * scale)
    if tuple(image.shape[-2:]) == size:
        return image
    resized = F.interpolate(image[None].float(), size=size, mode="bicubic", align_corners=False, antialias=True)
    return resized[0].clamp(-1, 1)


def _is_within(path: Path, folder: Path) -> bool:
    """Tell whether ``path`` lies inside ``folder`` (both made absolute, links not resolved)."""
    return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == os.path.abspath(folder)


def _listed(items: list[str]) -> str:
    """Join up to ``MAX_LISTED`` items and count the rest."""
    more = f", ... and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else ""
    return ", ".join(items[:MAX_LISTED]) + more
