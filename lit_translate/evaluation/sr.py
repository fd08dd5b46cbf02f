"""The super-resolution scoring protocol of BasicSR (``basicsr/metrics/psnr_ssim.py``), in pure torch.

Inputs are float images ``(N, C, H, W)`` in [0, 1] (convert the package's [-1, 1] with ``(x + 1) / 2``). The steps
follow BasicSR's validation, whose numbers the ModelZoo publishes (Set5/Set14/DIV2K100, RGB, crop ``scale``):

1. ``quantize=True`` (default): clamp to [0, 1] and round to 8 bits, as BasicSR's ``tensor2img`` does before it
   scores (``(x * 255).round()``, ties to even as numpy). Scores of unrounded outputs are higher by a few
   hundredths of a dB; set ``quantize=False`` for BasicSR's ``calculate_psnr_pt`` (no clamp, no rounding).
2. ``crop_border`` pixels are removed on each side (BasicSR crops ``scale``).
3. ``y_channel=True``: the BT.601 luma of MATLAB's ``rgb2ycbcr`` (``rgb_to_y``), not rounded, as BasicSR's
   ``to_y_channel``. Paper tables (e.g. SRGAN's) use Y; BasicSR's ModelZoo uses RGB.
4. In float64: PSNR ``10 log10(1 / MSE)`` over all channels and pixels (``inf`` for identical images); SSIM with
   an 11 x 11 Gaussian window (sigma 1.5, valid positions only, as BasicSR's cv2 version crops ``[5:-5]``),
   ``C1 = 0.01 ** 2``, ``C2 = 0.03 ** 2``, the map averaged per channel and over channels.

Each function returns one value per image; dataset scores are the mean over images (BasicSR averages per-image
PSNRs, it does not pool MSEs). Prepare the HR reference with ``mod_crop(hr, scale)`` as BasicSR's paired dataset.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

# MATLAB rgb2ycbcr / BasicSR rgb2ycbcr(y_only=True): Y = (16 + 65.481 R + 128.553 G + 24.966 B) / 255, RGB in [0, 1].
_Y_WEIGHTS = (65.481, 128.553, 24.966)
_SSIM_WINDOW = 11
_SSIM_SIGMA = 1.5


def _check_images(name: str, x: Tensor) -> None:
    if x.ndim != 4 or not x.is_floating_point():
        raise ValueError(f"{name} expects float images (N, C, H, W) in [0, 1]; got {x.dtype} {tuple(x.shape)}")


def rgb_to_y(x: Tensor) -> Tensor:
    """Return the BT.601 luma of MATLAB's ``rgb2ycbcr`` for RGB images in [0, 1] (BasicSR ``y_only=True``).

    Args:
        x: ``(N, 3, H, W)`` RGB in [0, 1] (channel order R, G, B).

    Returns:
        ``(N, 1, H, W)`` Y in [16/255, 235/255] for inputs in [0, 1], same dtype.
    """
    _check_images("rgb_to_y", x)
    if x.shape[1] != 3:
        raise ValueError(f"rgb_to_y needs 3 channels (R, G, B); got {x.shape[1]}. Score grayscale images on RGB.")
    weights = x.new_tensor(_Y_WEIGHTS).view(1, 3, 1, 1)
    return (16.0 + (x * weights).sum(dim=1, keepdim=True)) / 255.0


def crop_border(x: Tensor, border: int) -> Tensor:
    """Remove ``border`` pixels from each side of the last two dimensions (``border=0`` returns ``x``).

    Args:
        x: ``(..., H, W)``.
        border: Pixels removed at the top, bottom, left and right (BasicSR: the scale).

    Returns:
        ``(..., H - 2 * border, W - 2 * border)``, a view.
    """
    height, width = x.shape[-2:]
    if border < 0 or 2 * border >= min(height, width):
        raise ValueError(f"crop_border={border} must be >= 0 and leave pixels of a {height}x{width} image")
    return x[..., border : height - border, border : width - border] if border else x


def mod_crop(x: Tensor, scale: int) -> Tensor:
    """Crop the bottom and right so that H and W are multiples of ``scale`` (BasicSR ``mod_crop``, top-left kept).

    Args:
        x: ``(..., H, W)``.
        scale: The SR factor.

    Returns:
        ``(..., H - H % scale, W - W % scale)``, a view.
    """
    if scale < 1:
        raise ValueError(f"mod_crop needs scale >= 1; got scale={scale}")
    height, width = x.shape[-2:]
    return x[..., : height - height % scale, : width - width % scale]


def quantize_8bit(x: Tensor) -> Tensor:
    """Clamp to [0, 1] and round to multiples of 1/255, as BasicSR's ``tensor2img`` (values stay in [0, 1])."""
    return (x.clamp(0.0, 1.0) * 255.0).round() / 255.0


def _prepare(name: str, a: Tensor, b: Tensor, border: int, y_channel: bool, quantize: bool) -> tuple[Tensor, Tensor]:
    _check_images(name, a)
    _check_images(name, b)
    if a.shape != b.shape:
        raise ValueError(f"{name}: image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    images = []
    for x in (a, b):
        x = x.detach().to(torch.float64)  # BasicSR scores in float64
        x = quantize_8bit(x) if quantize else x
        x = crop_border(x, border)
        images.append(rgb_to_y(x) if y_channel else x)
    return images[0], images[1]


def psnr(a: Tensor, b: Tensor, crop_border: int = 0, y_channel: bool = False, quantize: bool = True) -> Tensor:
    """Return the PSNR in dB of each image pair, BasicSR's ``calculate_psnr`` convention (module docstring).

    Args:
        a: ``(N, C, H, W)`` in [0, 1], e.g. the SR output.
        b: Same shape, the HR reference.
        crop_border: Pixels ignored at each side. Default ``0`` (BasicSR's SR scores use the scale).
        y_channel: Score the Y channel of RGB images instead of RGB. Default ``False``.
        quantize: Clamp and round both images to 8 bits first. Default ``True``.

    Returns:
        ``(N,)`` float64 PSNRs; ``inf`` where the images are equal.
    """
    a, b = _prepare("psnr", a, b, crop_border, y_channel, quantize)
    mse = (a - b).pow(2).mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(1.0 / mse)  # log10(1/0) = inf, as BasicSR returns for mse == 0


def _gaussian_window(channels: int, like: Tensor) -> Tensor:
    """Return the 11 x 11 window, the outer square of cv2.getGaussianKernel(11, 1.5), as ``(C, 1, 11, 11)``."""
    offsets = torch.arange(_SSIM_WINDOW, dtype=like.dtype, device=like.device) - (_SSIM_WINDOW - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * _SSIM_SIGMA**2))
    kernel = kernel / kernel.sum()
    return torch.outer(kernel, kernel).expand(channels, 1, _SSIM_WINDOW, _SSIM_WINDOW)


def ssim(a: Tensor, b: Tensor, crop_border: int = 0, y_channel: bool = False, quantize: bool = True) -> Tensor:
    """Return the SSIM of each image pair, BasicSR's ``calculate_ssim`` convention (Wang et al. 2004).

    Args:
        a: ``(N, C, H, W)`` in [0, 1], e.g. the SR output; at least 11 x 11 after cropping.
        b: Same shape, the HR reference.
        crop_border: Pixels ignored at each side. Default ``0``.
        y_channel: Score the Y channel of RGB images instead of RGB. Default ``False``.
        quantize: Clamp and round both images to 8 bits first. Default ``True``.

    Returns:
        ``(N,)`` float64 SSIMs (1 for identical images), the mean over channels of each channel's mean SSIM map.
    """
    a, b = _prepare("ssim", a, b, crop_border, y_channel, quantize)
    if min(a.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(f"ssim needs at least 11x11 pixels after cropping; got {tuple(a.shape[-2:])}")
    channels = a.shape[1]
    window = _gaussian_window(channels, a)

    def blur(x: Tensor) -> Tensor:
        return F.conv2d(x, window, groups=channels)  # valid positions only

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2  # (K L)^2 with L = 1 (BasicSR: (0.01 * 255)^2 on [0, 255], the same value)
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return ssim_map.mean(dim=(1, 2, 3))


__all__ = ["crop_border", "mod_crop", "psnr", "quantize_8bit", "rgb_to_y", "ssim"]
