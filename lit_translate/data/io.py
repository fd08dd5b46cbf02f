"""Image files: discovery, loading with clear errors, and saving."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFile, UnidentifiedImageError

from lit_translate.data.transforms import to_uint8
from lit_translate.errors import InputError

IMG_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
"""File extensions accepted as images (compared case-insensitively)."""

SKIP_HINT = ", or pass --data.init_args.skip_unreadable true to skip unreadable files (counted in a warning)"
"""Suffix of the read errors of training datasets: the option that skips unreadable files instead."""


class MissingDataError(InputError, FileNotFoundError):
    """A data folder or file that does not exist: an ``InputError``, still a ``FileNotFoundError`` for old callers."""


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


class _StrictTruncation:
    """Context manager that keeps ``ImageFile.LOAD_TRUNCATED_IMAGES`` off while images are decoded.

    The flag is process-global and any imported code may turn it on, which makes Pillow pad a truncated file
    with gray instead of failing. Loads can run in several threads (the set-up scan's), so the first active
    load forces the flag off and the last one restores the previous value.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._saved = False

    def __enter__(self) -> None:
        with self._lock:
            if self._active == 0:
                self._saved = ImageFile.LOAD_TRUNCATED_IMAGES
                ImageFile.LOAD_TRUNCATED_IMAGES = False
            self._active += 1

    def __exit__(self, *exc_info: object) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0:
                ImageFile.LOAD_TRUNCATED_IMAGES = self._saved


_strict_truncation = _StrictTruncation()


def check_root(root: str | Path) -> Path:
    """Return ``root`` as a Path, or raise a MissingDataError saying how to point at a dataset.

    Args:
        root: The configured ``--data.root``.

    Returns:
        The root folder.
    """
    path = Path(root)
    if not path.is_dir():
        raise MissingDataError(
            f"data root {path} does not exist (or is not a directory); pass --data.root DIR pointing at the "
            f"dataset, or leave --data.root unset for the built-in synthetic set"
        )
    return path


def is_image_file(path: str | Path) -> bool:
    """Tell whether a file name has one of the accepted image extensions.

    Args:
        path: File name or path; only its suffix is looked at (case-insensitive).

    Returns:
        True when the suffix is in ``IMG_EXTENSIONS``.
    """
    return os.path.splitext(path)[1].lower() in IMG_EXTENSIONS


def find_images(
    folder: str | Path,
    option: str = "--data.root",
    expected: str = "the dataset",
    keep_broken_links: bool = False,
    hint: str = "",
    recursive: bool = False,
) -> list[Path]:
    """List the image files inside a folder, sorted by path.

    Files without an image extension (``README.txt``, ``.DS_Store``) are ignored, and so are sub-folders unless
    ``recursive`` (then hidden ones, ``.name``, are still skipped). A symbolic link with an image extension whose
    target is missing is an error (or listed, see ``keep_broken_links``).

    Args:
        folder: The folder to list.
        option: The command-line option to name in the error for a missing folder. Default ``"--data.root"``.
        expected: What that option should point at, for the same error. Default ``"the dataset"``.
        keep_broken_links: List broken symbolic links instead of raising (for callers that check every file,
            such as the set-up scan). Default False.
        hint: Appended to the broken-link error, e.g. ``SKIP_HINT``. Default ``""``.
        recursive: Also list the images of sub-folders (and theirs; linked folders are followed once).
            Default False.

    Returns:
        The image paths (extensions in ``IMG_EXTENSIONS``), sorted.

    Raises:
        FileNotFoundError: The folder does not exist or is not a directory; or (unless ``keep_broken_links``)
            an image name is a symbolic link to a missing file: the message names the link and its target.
        InputError: The folder holds no image files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise MissingDataError(
            f"image folder {folder} does not exist (or is not a directory); pass {option} DIR pointing at {expected}"
        )
    paths, broken = _list_images(folder, recursive)
    broken.sort()
    if broken and not keep_broken_links:
        raise MissingDataError(
            f"image {broken[0]} is a symbolic link to {os.readlink(broken[0])}, which does not exist "
            f"({len(broken)} broken link(s) in {folder}); fix or remove the link{hint}"
        )
    paths = sorted(paths + broken)
    if not paths:
        where = f"{folder} (and its sub-folders)" if recursive else str(folder)
        raise InputError(
            f"image folder {where} contains no images (accepted extensions, any case: {', '.join(IMG_EXTENSIONS)}); "
            f"point {option} at {expected}"
        )
    return paths


def _list_images(folder: Path, recursive: bool) -> tuple[list[Path], list[Path]]:
    """Return the image files and the broken image links of ``folder`` (and of its sub-folders)."""
    paths: list[Path] = []
    broken: list[Path] = []
    pending, seen = [folder], {os.path.realpath(folder)}
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:  # DirEntry.is_file/is_dir mostly need no extra system call
                if recursive and not entry.name.startswith(".") and entry.is_dir():
                    real = os.path.realpath(entry.path)
                    if real not in seen:  # a linked folder is listed once (no loops)
                        seen.add(real)
                        pending.append(Path(entry.path))
                elif is_image_file(entry.name):
                    if entry.is_file():
                        paths.append(Path(entry.path))
                    elif _is_broken_link(Path(entry.path)):
                        broken.append(Path(entry.path))
    return paths, broken


def _is_broken_link(path: Path) -> bool:
    """Tell whether ``path`` is a symbolic link whose target does not exist (or is a loop)."""
    return path.is_symlink() and not path.exists()


def load_image(path: str | Path, channels: int, hint: str = "") -> np.ndarray:
    """Read an image file into a uint8 array with the requested number of channels.

    Grayscale, palette, RGBA (alpha dropped, as in the reference ``convert("RGB")``), CMYK, 16-bit
    grayscale (``"I;16"``/``"I"``) and 16-bit RGB(A) are all converted; 16-bit values are scaled to 8 bits by
    ``>> 8`` (Pillow keeps the high byte of 16-bit RGB(A) PNG/TIFF files). A truncated file is always an
    error, even if other code turned on ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``.

    Args:
        path: The image file.
        channels: 1 (grayscale) or 3 (RGB).
        hint: Appended to the error message, e.g. ``SKIP_HINT``. Default ``""``.

    Returns:
        uint8 array of shape ``(H, W, channels)`` in [0, 255].

    Raises:
        InputError: ``channels`` is not 1 or 3, or the file cannot be decoded (missing, a broken link, empty,
            truncated, not an image, an unsupported pixel format, or over Pillow's decompression-bomb limit);
            the message names the file and what to do.
    """
    check_channels(channels, "channels")
    try:
        return _decode(path, channels)
    except _READ_ERRORS as err:
        if isinstance(err, Image.DecompressionBombError):
            advice = (
                "Downscale the file (training resizes it to --data.load_size anyway) or, if you trust it, raise "
                "Pillow's limit in Python before training: PIL.Image.MAX_IMAGE_PIXELS = <pixels> (None disables it)"
            )
        else:
            advice = "Remove or replace the file (it may be truncated, corrupt or not an image)"
        raise InputError(f"cannot read image {path}: {read_problem(path, err)}. {advice}{hint}") from err


def _decode(path: str | Path, channels: int) -> np.ndarray:
    """Open and fully decode ``path`` (truncation is an error) into a uint8 ``(H, W, channels)`` array."""
    with _strict_truncation, Image.open(path) as img:
        img.load()
        return _pil_to_array(img, channels)


def read_problem(path: str | Path, err: BaseException) -> str:
    """Describe why ``path`` could not be read, in a few words (for messages that already name the file).

    Args:
        path: The file.
        err: The error raised while opening or decoding it.

    Returns:
        E.g. ``"empty file (0 bytes)"``, ``"broken symbolic link to x.png"``, ``"not an image or an unsupported
        format"``, or the decoder's own message (``"image file is truncated (153 bytes not processed)"``).
    """
    path = Path(path)
    if _is_broken_link(path):
        return f"broken symbolic link to {os.readlink(path)}"
    if path.is_file() and path.stat().st_size == 0:
        return "empty file (0 bytes)"
    if isinstance(err, UnidentifiedImageError):
        return "not an image or an unsupported format"
    return str(err).rstrip(".")


def decode_problem(path: str | Path) -> str | None:
    """Fully decode ``path`` (truncation is an error) and say why it failed (see ``read_problem``), or None."""
    try:
        _decode(path, 1)
    except _READ_ERRORS as err:
        return read_problem(path, err)
    return None


def _pil_to_array(img: Image.Image, channels: int) -> np.ndarray:
    """Convert a loaded PIL image to a uint8 ``(H, W, channels)`` array."""
    if img.mode in _SIXTEEN_BIT_MODES:
        wide = np.asarray(img, dtype=np.int64)
        if wide.min() < 0 or wide.max() > 65535:
            raise InputError(f"integer pixel values outside the 16-bit range 0..65535 (mode {img.mode})")
        img = Image.fromarray((wide >> 8).astype(np.uint8), mode="L")
    elif img.mode == "F":
        raise InputError("floating-point images (mode F) are not supported; save it as 8- or 16-bit")
    return convert_channels(np.asarray(img.convert("RGB" if channels == 3 else "L")), channels)


def convert_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """Convert a uint8 image array to 1 (luma, ITU-R 601 as in PIL) or 3 channels.

    Args:
        image: uint8 array ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)``.
        channels: 1 or 3.

    Returns:
        uint8 array ``(H, W, channels)``.

    Raises:
        InputError: ``channels`` is not 1 or 3; ValueError: the array is not a uint8 image of a supported shape.
    """
    check_channels(channels, "channels")
    bad_channels = image.ndim == 3 and image.shape[2] not in (1, 3)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or bad_channels:
        raise ValueError(f"expected a uint8 (H, W[, 1|3]) image array, got {image.dtype} {image.shape}")
    if image.ndim == 3 and image.shape[2] == channels:
        return np.ascontiguousarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], channels, axis=2))
    return np.asarray(Image.fromarray(image).convert("L"))[:, :, None]


def save_image(image: torch.Tensor, path: str | Path) -> None:
    """Write a ``(C, H, W)`` tensor in [-1, 1] as a PNG file (parent folders are created).

    Args:
        image: Float tensor ``(C, H, W)`` with C = 1 or 3 and values in [-1, 1] (clamped).
        path: Target file; written in PNG format whatever its suffix.

    Raises:
        ValueError: The tensor is not ``(1|3, H, W)``.
    """
    if image.ndim != 3 or image.shape[0] not in (1, 3):
        raise ValueError(f"save_image({path}) needs a (C, H, W) tensor, C = 1 or 3; got {tuple(image.shape)}")
    array = to_uint8(image.detach().cpu()).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(path, format="PNG")


def check_channels(channels: int, key: str) -> None:
    """Raise an InputError naming ``key`` unless ``channels`` is 1 or 3.

    Args:
        channels: The configured number of channels.
        key: The option name for the message, e.g. ``"input_channels"``.
    """
    if channels not in (1, 3):
        raise InputError(f"{key} must be 1 or 3, got {channels!r}")
