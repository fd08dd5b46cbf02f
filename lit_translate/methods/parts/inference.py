"""Inference on images of any size, whole or in tiles, and the predict step that uses it.

A base of :class:`~lit_translate.methods.TranslationModule`: it relies on the contract's ``translate``,
``resolve_target``, ``generator_for``, ``output_scale`` and the predict targets, and adds padding to the
generator's ``size_divisor``, tiling (:func:`~lit_translate.methods.parts.tiling.tiled_forward`) and ``predict_step``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule
from torch import Tensor
from typing_extensions import override

from lit_translate.methods.parts.tiling import tiled_forward
from lit_translate.methods.types import Latent, Target


class AnySizeInference(LightningModule):
    """``translate_any_size``, ``set_predict_tiling`` and ``predict_step`` over the method contract."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.predict_targets: tuple[str, ...] = ()  # set by the predict writer; () = default_predict_targets
        self.predict_tiling: dict[str, int] | None = None  # set by the predict writer: {"tile", "overlap"}
        # Set by the predict writer for a multimodal method: input path -> the latent codes of its outputs.
        self.predict_latents: Callable[[str], list[Latent]] | None = None

    def input_divisor(self, target: Target) -> int:
        """Return what the input's height and width must be a multiple of for ``target``'s generator."""
        return int(getattr(self.generator_for(self.resolve_target(target)), "size_divisor", 1))

    def translate_any_size(
        self, x: Tensor, target: Target = None, tile: int | None = None, overlap: int = 32, z: Latent = None
    ) -> Tensor:
        """Translate an image of any size: pad to the generator's ``size_divisor``, translate, crop back.

        Padding is reflective (replicate for images smaller than the padding), so borders are not black. The
        output is ``output_scale(target)`` times the input's height and width. With ``tile``, the image is
        translated in ``tile`` x ``tile`` windows overlapping by ``overlap`` input pixels
        (:func:`~.tiling.tiled_forward`; memory bounded by the tile size): each output pixel comes
        from the one tile in which it lies at least ``overlap / 2`` input pixels from a cut edge, so a network
        without normalisation whose receptive-field radius is at most ``overlap / 2`` gives the whole-image
        output exactly; InstanceNorm normalises each tile by its own statistics and shows seams.

        Args:
            x: ``(N, C, H, W)`` in [-1, 1].
            target: See ``translate``. Default None.
            tile: Tile side in input pixels (a multiple of ``size_divisor``); None translates the whole image.
            overlap: Input pixels shared by neighbouring tiles (a multiple of ``size_divisor``). Default 32.
            z: The latent code of a multimodal method (see ``translate``), resolved once, so every tile gets the
                same code. Default None.
        """
        target = self.resolve_target(target)
        divisor, scale = self.input_divisor(target), self.output_scale(target)
        codes = {} if z is None and self.latent_dim is None else {"z": self.resolve_latent(z, *_batch_of(x))}
        if tile:
            net = functools.partial(self.translate, target=target, **codes)
            return tiled_forward(net, x, tile, overlap, scale, divisor, blend="uniform", margin=overlap // 2)
        h, w = x.shape[-2:]
        ph, pw = (-h) % divisor, (-w) % divisor
        if ph or pw:
            mode = "reflect" if ph < h and pw < w else "replicate"
            x = F.pad(x, (0, pw, 0, ph), mode=mode)
        return self.translate(x, target, **codes)[..., : h * scale, : w * scale]

    def set_predict_tiling(self, tile: int | None, overlap: int = 32) -> None:
        """Make ``predict`` translate in tiles (see :meth:`translate_any_size`); ``tile`` None turns it off.

        Raises:
            ValueError: The sizes do not suit the predict target's generator; the message names the
                ``--predict_writer`` options.
        """
        if not tile:
            self.predict_tiling = None
            return
        divisor = max(self.input_divisor(t) for t in self.predict_targets or self.default_predict_targets)
        if tile % divisor or overlap % divisor or not 0 <= overlap < tile:
            raise ValueError(
                f"--predict_writer.tile ({tile}) and --predict_writer.tile_overlap ({overlap}) must be multiples of "
                f"the generator's size_divisor ({divisor}) with 0 <= tile_overlap < tile"
            )
        self.predict_tiling = {"tile": tile, "overlap": overlap}

    @override
    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Translate ``batch["A"]`` into each of ``predict_targets``: ``{"images": {target: [(C, H, W)]}, "paths"}``.

        With ``predict_latents`` (a multimodal method; the writer's ``num_samples`` / ``style_image``) each input
        gets one output per code: ``{"images": {target: [[(C, H, W) per code] per input]}, "paths", "samples":
        True}``.
        """
        targets = self.predict_targets or self.default_predict_targets
        tiling = self.predict_tiling or {}
        if self.predict_latents is not None:
            codes = [self.predict_latents(path) for path in batch["A_path"]]
            images = {
                t: [
                    [self.translate_any_size(img[None], t, z=z, **tiling)[0] for z in zs]
                    for img, zs in zip(batch["A"], codes)
                ]
                for t in targets
            }
            return {"images": images, "paths": batch["A_path"], "samples": True}
        images = {t: [self.translate_any_size(img[None], t, **tiling)[0] for img in batch["A"]] for t in targets}
        return {"images": images, "paths": batch["A_path"]}


def _batch_of(x: Tensor) -> tuple[int, Any, Any]:
    """Return ``(batch size, device, dtype)`` of ``x`` for ``resolve_latent`` (float32 for a label map's ids)."""
    return x.shape[0], x.device, x.dtype if x.is_floating_point() else torch.float32


__all__ = ["AnySizeInference"]
