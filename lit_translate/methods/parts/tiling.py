"""Tiled (sliding-window) inference with overlap blending, for images too large for one forward pass.

Fixed-size tiles, the last one flush with the border (SwinIR ``main_test_swinir.py``, MONAI
``sliding_window_inference``), so every tile has the same size and border tiles never shrink below a U-Net's
``2 ** depth``. Blending weights are accumulated in float32 on the input's device; only that accumulator (and
the weight sum) is full size, everything else is one batch of tiles.

Exactness. A convolution near a tile's cut edge sees zero padding where the whole image has pixels, so within the
network's receptive-field radius of an edge that lies inside the image a tile's output is wrong, whatever the
blending. Those ``margin`` pixels get weight 0; SwinIR's and MONAI's weights never vanish, so their tiled outputs
always differ slightly. With ``margin`` at least the receptive-field radius (in input pixels) of a network without
normalisation, the tiled output equals the whole-image output up to float rounding. The remaining
``overlap - 2 * margin`` pixels shared by neighbouring tiles are cross-faded by ``blend``.

Normalisation by tile. InstanceNorm (CycleGAN's ResNet generator; pix2pix in train mode at batch 1) computes its
statistics per tile, so tiles disagree everywhere and blending only softens the seams; no margin removes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from lit_translate.choices import check_choice

Blend = Literal["gaussian", "linear", "uniform"]
_GAUSSIAN_SIGMA = 0.125  # sigma as a fraction of the tile size (MONAI's sigma_scale)
_GAUSSIAN_FLOOR = 1e-3  # so that pixels near image borders, covered by one tile's tail, keep a usable weight


def _check_arguments(
    x: Tensor, tile: int, overlap: int, scale: int, size_divisor: int, margin: int, batch: int
) -> None:
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"tiled_forward expects float images (N, C, H, W); got {x.dtype} {tuple(x.shape)}")
    if min(scale, size_divisor, batch) < 1:
        raise ValueError(f"scale ({scale}), size_divisor ({size_divisor}) and batch ({batch}) must be >= 1")
    if tile < 1 or tile % size_divisor:
        raise ValueError(f"tile ({tile}) must be a positive multiple of size_divisor ({size_divisor})")
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap ({overlap}) must be >= 0 and smaller than tile ({tile})")
    if overlap % size_divisor:
        raise ValueError(
            f"overlap ({overlap}) must be a multiple of size_divisor ({size_divisor}), so that every "
            "tile starts on the network's downsampling grid"
        )
    if not 0 <= 2 * margin <= overlap:
        raise ValueError(
            f"margin ({margin}) must be >= 0 and at most overlap / 2 ({overlap / 2}): neighbouring "
            "tiles must share pixels outside both margins"
        )


def _reflect_pad(x: Tensor, pad_h: int, pad_w: int) -> Tensor:
    """Pad the bottom and right by reflection, repeatedly if the image is thinner than the padding."""
    while pad_h or pad_w:
        height, width = x.shape[-2:]
        step_h, step_w = min(pad_h, height - 1), min(pad_w, width - 1)
        if (pad_h and not step_h) or (pad_w and not step_w):  # a 1-pixel side cannot be reflected
            return F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        x = F.pad(x, (0, step_w, 0, step_h), mode="reflect")
        pad_h, pad_w = pad_h - step_h, pad_w - step_w
    return x


def tile_starts(size: int, tile: int, stride: int) -> list[int]:
    """Return tile offsets ``0, stride, 2 * stride, ...`` plus a last one flush with ``size`` (SwinIR's rule).

    Args:
        size: Image side in pixels.
        tile: Tile side (``<= size`` gives several tiles; otherwise one tile at 0).
        stride: ``tile - overlap``.
    """
    if size <= tile:
        return [0]
    return list(range(0, size - tile, stride)) + [size - tile]


def _profile(
    length: int, cut_low: bool, cut_high: bool, overlap: int, margin: int, blend: str, device: torch.device
) -> Tensor:
    """1-D weights for one tile side of ``length`` output pixels (all in output pixels); cut edges are inside."""
    position = torch.arange(length, dtype=torch.float32, device=device) + 0.5  # pixel centres
    if blend == "gaussian":
        sigma = _GAUSSIAN_SIGMA * length
        weight = torch.exp(-((position - length / 2) ** 2) / (2 * sigma**2)).clamp_min(_GAUSSIAN_FLOOR)
    else:
        weight = torch.ones_like(position)
    band = overlap - 2 * margin  # shared pixels outside both tiles' margins
    for cut, distance in ((cut_low, position), (cut_high, length - position)):
        if not cut:
            continue
        if blend == "linear" and band > 0:
            weight = torch.minimum(weight, ((distance - margin) / band).clamp(0.0, 1.0))
        weight = torch.where(distance > margin, weight, torch.zeros_like(weight))  # the margin: weight 0
    return weight


def _side_weights(
    size: int, tile: int, starts: list[int], scale: int, overlap: int, margin: int, blend: str, device: torch.device
) -> list[Tensor]:
    """Weights along one side for each tile start; a tile edge is cut unless it lies on the image border."""
    return [
        _profile(tile * scale, start > 0, start + tile < size, overlap * scale, margin * scale, blend, device)
        for start in starts
    ]


def _call_checked(net_fn: Callable[[Tensor], Tensor], tiles: Tensor, scale: int, size_divisor: int) -> Tensor:
    """Run ``net_fn`` on a batch of tiles and check that it upsampled them by ``scale``."""
    result = net_fn(tiles)
    expected = (tiles.shape[0], scale * tiles.shape[-2], scale * tiles.shape[-1])
    if result.ndim != 4 or (result.shape[0], *result.shape[-2:]) != expected:
        raise ValueError(
            f"tiled_forward: net_fn mapped tiles {tuple(tiles.shape)} to {tuple(result.shape)}; expected "
            f"(B, C_out, {expected[1]}, {expected[2]}). Check scale={scale} and size_divisor={size_divisor}."
        )
    return result


@torch.no_grad()
def tiled_forward(
    net_fn: Callable[[Tensor], Tensor],
    x: Tensor,
    tile: int,
    overlap: int,
    scale: int = 1,
    size_divisor: int = 1,
    blend: Blend = "gaussian",
    batch: int = 1,
    margin: int | None = None,
) -> Tensor:
    """Run ``net_fn`` on overlapping fixed-size tiles of ``x`` and blend the outputs (no autograd).

    The image is first reflect-padded at the bottom and right to a multiple of ``size_divisor``; a side smaller
    than ``tile`` becomes a single tile of that padded size. The output is cropped back to ``scale * (H, W)``.

    Args:
        net_fn: Maps a batch of tiles ``(B, C, t, t')`` to ``(B, C_out, scale * t, scale * t')``, e.g. a net in
            eval mode.
        x: ``(N, C, H, W)`` images, any value range.
        tile: Tile side in input pixels; a multiple of ``size_divisor``.
        overlap: Input pixels shared by neighbouring tiles; ``0 <= overlap < tile``, a multiple of
            ``size_divisor``.
        scale: Output pixels per input pixel (the SR factor). Default ``1``.
        size_divisor: The network's required size multiple (``net.size_divisor``; ``2 ** depth`` for a U-Net).
            Default ``1``.
        blend: Tile weights outside the margins: ``"gaussian"`` (MONAI: centred, sigma = tile / 8), ``"linear"``
            (a cross-fade over the shared band) or ``"uniform"`` (an average, SwinIR). Default ``"gaussian"``.
        batch: Tiles per ``net_fn`` call (MONAI's ``sw_batch_size``). Default ``1``.
        margin: Input pixels at each cut tile edge whose outputs get weight 0; set it to at least the network's
            receptive-field radius for an exact result (module docstring). ``None`` uses ``overlap // 4``.

    Returns:
        ``(N, C_out, scale * H, scale * W)`` in ``net_fn``'s output dtype, on ``x``'s device.

    Raises:
        ValueError: Bad arguments (each message names the argument), or ``net_fn`` returns another size.
    """
    blend = check_choice("blend", blend, ("gaussian", "linear", "uniform"))
    margin = overlap // 4 if margin is None else margin
    _check_arguments(x, tile, overlap, scale, size_divisor, margin, batch)
    height, width = x.shape[-2:]
    padded = _reflect_pad(x, -height % size_divisor, -width % size_divisor)
    size_h, size_w = padded.shape[-2:]
    tile_h, tile_w = min(tile, size_h), min(tile, size_w)
    tiles, weights = _tile_grid((size_h, size_w), (tile_h, tile_w), tile - overlap, scale, overlap, margin, blend, x)
    out, weight_sum, out_dtype = None, None, x.dtype
    for first in range(0, len(tiles), batch):
        chunk = list(range(first, min(first + batch, len(tiles))))
        crops = [padded[..., h : h + tile_h, w : w + tile_w] for h, w in (tiles[k] for k in chunk)]
        result = _call_checked(net_fn, torch.cat(crops), scale, size_divisor)
        if out is None:
            out_dtype = result.dtype
            out = torch.zeros(x.shape[0], result.shape[1], scale * size_h, scale * size_w, device=x.device)
            weight_sum = torch.zeros(1, 1, scale * size_h, scale * size_w, device=x.device)
        for k, piece in zip(chunk, result.split(x.shape[0])):
            _add_tile(out, weight_sum, piece, weights[k], tiles[k], (tile_h, tile_w), scale)
    return (out / weight_sum)[..., : scale * height, : scale * width].to(out_dtype)


def _tile_grid(
    size: tuple[int, int],
    tile: tuple[int, int],
    stride: int,
    scale: int,
    overlap: int,
    margin: int,
    blend: str,
    x: Tensor,
) -> tuple[list[tuple[int, int]], list[Tensor]]:
    """Return the tiles' top-left corners (row-major) and each tile's output weight map."""
    starts_h, starts_w = tile_starts(size[0], tile[0], stride), tile_starts(size[1], tile[1], stride)
    weights_h = _side_weights(size[0], tile[0], starts_h, scale, overlap, margin, blend, x.device)
    weights_w = _side_weights(size[1], tile[1], starts_w, scale, overlap, margin, blend, x.device)
    tiles = [(h, w) for h in starts_h for w in starts_w]
    return tiles, [torch.outer(wh, ww) for wh in weights_h for ww in weights_w]


def _add_tile(
    out: Tensor,
    weight_sum: Tensor,
    piece: Tensor,
    weight: Tensor,
    start: tuple[int, int],
    size: tuple[int, int],
    scale: int,
) -> None:
    """Add one tile's weighted output into ``out`` and its weight into ``weight_sum`` (both float32, in place)."""
    rows = slice(scale * start[0], scale * (start[0] + size[0]))
    cols = slice(scale * start[1], scale * (start[1] + size[1]))
    out[..., rows, cols] += piece.to(device=out.device, dtype=torch.float32) * weight
    weight_sum[..., rows, cols] += weight


__all__ = ["tile_starts", "tiled_forward"]
