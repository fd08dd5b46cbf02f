"""Bicubic resizing as MATLAB's ``imresize`` (the low-resolution images of SR benchmarks), and PIL's bicubic.

SR training and test sets (BasicSR's DIV2K ``LR_bicubic/X4``, Set5/Set14 ``LRbicx4``) are made with MATLAB:
``imresize(im2double(img), 1 / scale, 'bicubic')`` then ``imwrite`` (rounding to 8 bits), see BasicSR's
``scripts/matlab_scripts/generate_bicubic_img.m``. :func:`imresize` reproduces that computation in torch:

- Keys' cubic kernel with ``a = -0.5``, width 4;
- **antialiasing** when reducing: the kernel is stretched by ``1 / scale`` (width ``4 * factor`` input pixels),
  so a x4 reduction averages over 16 pixels per axis instead of sampling 4;
- output pixel ``x`` (1-based) maps to input ``u = x / scale + 0.5 * (1 - 1 / scale)``; weights are normalised
  per output pixel; indices outside the image are mirrored (``[1:n, n:-1:1]``, MATLAB's ``symmetric``);
- both axes in float64, without rounding in between (``im2double``), rounded to 8 bits only at the end.

:func:`pil_bicubic` is PIL's ``Image.resize(..., BICUBIC)``: the same kernel (``a = -0.5``) and also
antialiased when reducing, but weights near the border are renormalised over the pixels inside the image instead
of mirrored, and PIL rounds to 8 bits after its first (horizontal) pass and computes in fixed point. Measured on
Set5/Set14 at x4 (``tests/test_sr_data.py`` pins a synthetic version): interior pixels agree with MATLAB's to
within one 8-bit level; the outer two LR rows/columns differ by a few levels.

PyTorch's ``F.interpolate(mode="bicubic")`` is different again (``a = -0.75``, no antialiasing unless
``antialias=True``, clamped border): do not use it to make LR images meant to match published numbers.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from torch import Tensor

_KERNEL_WIDTH = 4.0  # Keys' cubic kernel is non-zero on (-2, 2)


def _cubic(x: Tensor) -> Tensor:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_length: int, out_length: int, scale: float, antialias: bool = True) -> Tensor:
    """Return MATLAB's bicubic ``imresize`` along one axis as a dense ``(out_length, in_length)`` float64 matrix.

    Row ``i`` holds the normalised weights of output pixel ``i``; taps outside ``[0, in_length)`` are folded back
    by MATLAB's symmetric mirroring, so every row sums to 1.

    Args:
        in_length: Input pixels along the axis, >= 1.
        out_length: Output pixels, >= 1 (MATLAB: ``ceil(scale * in_length)``).
        scale: Output / input size (``0.25`` for a x4 reduction).
        antialias: Stretch the kernel by ``1 / scale`` when reducing (MATLAB's default). Default True.

    Returns:
        The float64 matrix.
    """
    if min(in_length, out_length) < 1 or scale <= 0:
        raise ValueError(f"resize_matrix needs positive sizes and scale; got {in_length}, {out_length}, {scale}")
    width = _KERNEL_WIDTH / scale if scale < 1 and antialias else _KERNEL_WIDTH
    x = torch.arange(1, out_length + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate of each output pixel
    left = torch.floor(u - width / 2)
    taps = left[:, None] + torch.arange(math.ceil(width) + 2, dtype=torch.float64)[None]
    distance = u[:, None] - taps
    weights = scale * _cubic(scale * distance) if scale < 1 and antialias else _cubic(distance)
    weights = weights / weights.sum(dim=1, keepdim=True)
    index = (taps.long() - 1) % (2 * in_length)  # mirror: 0..n-1, then n-1..0
    index = torch.where(index >= in_length, 2 * in_length - 1 - index, index)
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    return matrix.scatter_add_(1, index, weights)


def imresize(images: Tensor, scale: float, antialias: bool = True) -> Tensor:
    """Resize images by ``scale`` with MATLAB's bicubic ``imresize`` (module docstring), rows first.

    Args:
        images: Float ``(..., H, W)`` in any value range (e.g. 0-255 or [-1, 1]).
        scale: Output / input size, e.g. ``0.25`` (x4 reduction) or ``4`` (upsampling); the output is
            ``ceil(scale * H) x ceil(scale * W)`` as MATLAB's.
        antialias: MATLAB's ``'Antialiasing'`` (on by default for bicubic). Default True.

    Returns:
        ``(..., ceil(scale * H), ceil(scale * W)`` in the input's dtype and device (computed in float64), not
        rounded or clamped.
    """
    if not images.is_floating_point() or images.ndim < 2:
        raise ValueError(f"imresize expects float images (..., H, W); got {images.dtype} {tuple(images.shape)}")
    height, width = images.shape[-2:]
    rows = resize_matrix(height, math.ceil(scale * height - 1e-9), scale, antialias).to(images.device)
    cols = resize_matrix(width, math.ceil(scale * width - 1e-9), scale, antialias).to(images.device)
    out = torch.einsum("oh,...hw->...ow", rows, images.to(torch.float64))
    out = torch.einsum("pw,...ow->...op", cols, out)
    return out.to(images.dtype)


def round_uint8(values: np.ndarray | Tensor) -> np.ndarray:
    """Round 0-255 floats to uint8 as MATLAB's ``uint8()`` / ``imwrite`` does (half away from zero, saturated)."""
    array = values.numpy() if isinstance(values, Tensor) else np.asarray(values)
    return np.clip(np.floor(array + 0.5), 0, 255).astype(np.uint8)


def matlab_bicubic(image: np.ndarray, factor: int) -> np.ndarray:
    """Reduce a uint8 ``(H, W, C)`` image by an integer ``factor`` as MATLAB's ``imresize`` + ``imwrite``.

    Args:
        image: uint8 ``(H, W, C)``, H and W multiples of ``factor``.
        factor: The SR scale, >= 1.

    Returns:
        uint8 ``(H / factor, W / factor, C)``.
    """
    _check_divisible(image, factor)
    planes = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).to(torch.float64)
    return round_uint8(imresize(planes, 1.0 / factor)).transpose(1, 2, 0)


def pil_bicubic(image: np.ndarray, factor: int) -> np.ndarray:
    """Reduce a uint8 ``(H, W, C)`` image by an integer ``factor`` with PIL's antialiased ``BICUBIC``.

    Args:
        image: uint8 ``(H, W, C)`` with C = 1 or 3, H and W multiples of ``factor``.
        factor: The SR scale, >= 1.

    Returns:
        uint8 ``(H / factor, W / factor, C)``.
    """
    _check_divisible(image, factor)
    height, width = image.shape[:2]
    pil = Image.fromarray(image[..., 0] if image.shape[2] == 1 else image)
    out = np.asarray(pil.resize((width // factor, height // factor), Image.Resampling.BICUBIC))
    return out[..., None] if out.ndim == 2 else out


def _check_divisible(image: np.ndarray, factor: int) -> None:
    if image.ndim != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, C) image; got {image.dtype} {image.shape}")
    if factor < 1 or image.shape[0] % factor or image.shape[1] % factor:
        raise ValueError(f"image sides {image.shape[:2]} must be multiples of the factor {factor} (mod-crop first)")


RESAMPLERS = {"matlab": matlab_bicubic, "pil": pil_bicubic}
"""Integer-factor uint8 reducers by name (the SR DataModule's ``resampler`` option)."""


__all__ = ["RESAMPLERS", "imresize", "matlab_bicubic", "pil_bicubic", "resize_matrix", "round_uint8"]
