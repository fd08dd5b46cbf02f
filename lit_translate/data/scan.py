"""The set-up scan: every file of a split checked from its header before step 0, in threads, with a cache.

What one file costs: a ``stat`` (size, mtime: the cache key), ``Image.open`` (the header only: format, width,
height, mode; no pixel decoding) and a read of the last few bytes (JPEG, PNG and WebP files end with a known
marker or declare their length, so most truncated files are found here too; a file without its end marker is
decoded in full to confirm). With ``decode`` (``skip_unreadable``) every file is also decoded in full. Results
are cached by path, size and mtime (:class:`ScanCache`), so a resumed run re-reads only what changed.

A DataModule says what to check with a :class:`ScanRequest` (``TranslationDataModule.scan_request``);
:func:`check_split` turns it into a :class:`ScanOutcome`: nothing wrong, the units to keep
(``skip_unreadable``), or an error listing the bad files.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from lightning.pytorch.utilities import rank_zero_info
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from lit_translate.data.io import SKIP_HINT, decode_problem
from lit_translate.data.scan_cache import ScanCache, cache_path
from lit_translate.errors import InputError

SUPPORTED_MODES = frozenset(
    {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "I", "I;16", "I;16L", "I;16B", "I;16N"}
)
"""Pillow modes that ``load_image`` converts (8-bit, palette, CMYK, 16-bit); e.g. ``F`` and ``LAB`` are not."""
MAX_LISTED = 20
"""Bad files named in a scan error (the rest are counted)."""
PROGRESS_FROM = 2000
"""Splits of at least this many files show a progress bar (on a terminal) and log the scan's time."""
CACHE_FROM = 1000
"""Splits of at least this many units keep their scan results in a cache (smaller ones are rescanned)."""
_THREADS = min(32, 4 * (os.cpu_count() or 1))
_TAIL = 32
_CHUNK = 64
log = logging.getLogger(__name__)


class ImageHeader(NamedTuple):
    """What the scan knows of a readable image file: its size in pixels and its Pillow mode."""

    width: int
    height: int
    mode: str


SizeCheck = Callable[[tuple[ImageHeader, ...]], "str | None"]


@dataclass(frozen=True)
class ScanRequest:
    """What the set-up scan checks in one split (returned by ``TranslationDataModule.scan_request``).

    Attributes:
        folder: The split's folder; messages name files relative to it.
        units: The files of each unit that can be dropped, in dataset order: a pair's two files (an aligned
            image once), or one file per image.
        noun: What a unit is, for messages (``"pairs"``, ``"images"``). Default ``"images"``.
        size_problem: Given the headers of a unit's files (in ``units`` order), say what is wrong with their
            sizes (too small for the crop, a pair of two sizes), or None. Default None: any size.
        keep: Called with the indices of the units to keep and the ``(path, reason)`` of the skipped files when
            ``skip_unreadable`` drops some. Default None: the split cannot drop units (bad files are an error).
        note: Given the headers of every unit without problems, return a line to log once at set-up (e.g. how
            many aligned images are not 2:1), or None. Default None.
        unit_problem: Like ``size_problem`` but given the unit's index too, for checks that read more than the
            headers (the label values of a label map); called for units without other problems. Default None.
        role: The split's role (``"train"``, ``"val"``, ``"test"``, ``"predict"``), named in the messages so that
            the errors of several splits read apart (set by ``TranslationDataModule.dataset``). Default ``""``.
    """

    folder: Path
    units: Sequence[tuple[Path, ...]]
    noun: str = "images"
    size_problem: SizeCheck | None = None
    keep: Callable[[list[int], list[tuple[Path, str]]], None] | None = None
    note: Callable[[list[tuple[ImageHeader, ...]]], str | None] | None = None
    unit_problem: Callable[[int, tuple[ImageHeader, ...]], str | None] | None = None
    role: str = ""

    @property
    def where(self) -> str:
        """Return the folder for messages, plus the split unless the folder is named after it: ``data (val split)``."""
        if not self.role or self.folder.name.startswith(self.role):
            return str(self.folder)
        return f"{self.folder} ({self.role} split)"


@dataclass
class ScanOutcome:
    """The result of :func:`check_split` (picklable: under DDP rank 0 scans and broadcasts it).

    Attributes:
        error: The message of the error to raise (bad files and no ``skip_unreadable``), or None.
        kept: Indices of the units to keep when some were dropped; None when all are kept.
        skipped: ``(path, reason)`` of each file (or unit) skipped.
        logs: ``(level, message)`` lines for rank 0 to log.
    """

    error: str | None = None
    kept: list[int] | None = None
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    logs: list[tuple[int, str]] = field(default_factory=list)


class DataScanError(InputError):
    """Files of a split cannot be used; the message lists them (see :func:`check_split`)."""


# ---------------------------------------------------------------------------------------------------- one file
def read_header(path: Path) -> tuple[int, int, str, str | None, bool]:
    """Read ``path``'s header and tail: ``(width, height, mode, problem, suspect_tail)``.

    ``problem`` is why the file cannot be opened (no size then); ``suspect_tail`` says that the file does not
    end as its format says it must (probably truncated; confirmed by a full decode).
    """
    try:
        with open(path, "rb") as handle, Image.open(handle) as img:
            width, height, mode, fmt = img.width, img.height, img.mode, img.format
            size = os.fstat(handle.fileno()).st_size
            handle.seek(0)
            head = handle.read(12)
            handle.seek(max(0, size - _TAIL))
            tail = handle.read()
    except Image.DecompressionBombError as err:
        return 0, 0, "", str(err).rstrip("."), False
    except UnidentifiedImageError:
        return 0, 0, "", "not an image or an unsupported format", False
    except (OSError, SyntaxError, ValueError) as err:
        return 0, 0, "", str(err).rstrip(".") or type(err).__name__, False
    return width, height, mode, None, not _ends_well(fmt, head, tail, size)


def _ends_well(fmt: str | None, head: bytes, tail: bytes, size: int) -> bool:
    """Tell whether a file ends as its format requires (JPEG: EOI marker, PNG: IEND chunk, WebP: RIFF size)."""
    if fmt in ("JPEG", "MPO"):
        return b"\xff\xd9" in tail
    if fmt == "PNG":
        return b"IEND\xaeB`\x82" in tail
    if fmt == "WEBP":
        return int.from_bytes(head[4:8], "little") + 8 <= size
    return True


def header_problem(entry: list) -> str | None:
    """Say what is wrong with a cached/probed entry ``[size, mtime, w, h, mode, error, decoded]``, or None."""
    _, _, width, height, mode, error, decoded = entry
    if error is not None:
        return error
    if decoded:
        return decoded
    if mode not in SUPPORTED_MODES:
        kind = "32-bit floating-point pixels" if mode == "F" else "an unsupported pixel format"
        return f"{kind} (Pillow mode {mode}); save it as 8- or 16-bit grayscale or RGB"
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > 2 * limit:  # Pillow's own threshold for the error
        return (
            f"Image size ({width * height} pixels) exceeds limit of {2 * limit} pixels, could be decompression "
            f"bomb DOS attack"
        )
    return None


def probe(path: Path, cache: ScanCache, decode: bool) -> tuple[list | None, str | None]:
    """Check one file: ``(entry, problem)``; the entry is None when the file cannot even be stat'ed."""
    try:
        stat = path.stat()
    except OSError:
        reason = f"broken symbolic link to {os.readlink(path)}" if path.is_symlink() else "file not found"
        return None, reason
    if stat.st_size == 0:
        return None, "empty file (0 bytes)"
    entry = cache.get(path, stat.st_size, stat.st_mtime_ns)
    new = entry is None
    if entry is None:
        width, height, mode, error, suspect = read_header(path)
        entry = [stat.st_size, stat.st_mtime_ns, width, height, mode, error, None]
        entry[6] = decode_problem(path) or "" if error is None and suspect else None
    if decode and entry[5] is None and entry[6] is None:
        entry[6], new = decode_problem(path) or "", True
    if new and (entry[5] is None or "exceeds limit" not in entry[5]):
        cache.put(path, entry)
    return entry, header_problem(entry)


Probed = tuple["list | None", "str | None"]


def probe_all(paths: Sequence[Path], cache: ScanCache, decode: bool, label: str) -> list[Probed]:
    """Probe ``paths`` in a thread pool (I/O and Pillow's decoders release the GIL), in order.

    Files go to the threads in chunks (one task per file costs more than a cached file's check). From
    ``PROGRESS_FROM`` files on, a progress bar is shown (on a terminal only).
    """
    chunks = [paths[i : i + _CHUNK] for i in range(0, len(paths), _CHUNK)]
    bar = tqdm(
        total=len(paths), desc=f"checking {label}", unit="file", disable=None if len(paths) >= PROGRESS_FROM else True
    )

    def run(chunk: Sequence[Path]) -> list[Probed]:
        results = [probe(path, cache, decode) for path in chunk]
        bar.update(len(chunk))
        return results

    with bar, ThreadPoolExecutor(max_workers=_THREADS) as pool:
        return [result for results in pool.map(run, chunks) for result in results]


# ----------------------------------------------------------------------------------------------------- a split
def check_split(request: ScanRequest, cache: ScanCache, skip: bool) -> ScanOutcome:
    """Scan the files of ``request`` and decide: all good, drop some (``skip``), or an error listing them.

    Args:
        request: What to check.
        cache: Earlier results; updated and saved.
        skip: ``skip_unreadable``: decode every file in full and drop the units with a bad file or a size
            problem (one WARNING), instead of the error.

    Returns:
        The :class:`ScanOutcome`.
    """
    files = list(dict.fromkeys(path for unit in request.units for path in unit))
    start = time.perf_counter()
    results = dict(zip(files, probe_all(files, cache, skip, str(request.folder))))
    cache.save()
    outcome = ScanOutcome()
    if len(files) >= PROGRESS_FROM:
        seconds = time.perf_counter() - start
        outcome.logs.append((logging.INFO, f"checked the {len(files)} files of {request.folder} in {seconds:.1f} s"))
    bad: dict[Path, str] = {path: problem for path, (_, problem) in results.items() if problem is not None}
    good: list[tuple[ImageHeader, ...]] = []
    bad_units: list[int] = []
    for index, unit in enumerate(request.units):
        if any(path in bad for path in unit):
            bad_units.append(index)
            continue
        headers = tuple(ImageHeader(*results[path][0][2:5]) for path in unit)
        size = request.size_problem(headers) if request.size_problem else None
        if size is None and request.unit_problem is not None:
            size = request.unit_problem(index, headers)
        if size is not None:
            bad.setdefault(unit[0], size)
            bad_units.append(index)
        else:
            good.append(headers)
    note = request.note(good) if request.note and good else None
    if note:
        outcome.logs.append((logging.INFO, note))
    if not bad:
        return outcome
    listed = sorted(bad.items())
    if not skip or request.keep is None:
        outcome.error = _error(listed, len(files), request, skip)
    elif len(bad_units) == len(request.units):
        outcome.error = (
            f"every image in {request.where} is unreadable ({len(listed)} of {len(files)} files; skip_unreadable "
            f"cannot leave an empty dataset, remove or replace them):\n{_listing(listed, request)}"
        )
    else:
        dropped = set(bad_units)
        outcome.kept = [i for i in range(len(request.units)) if i not in dropped]
        outcome.skipped = listed
        outcome.logs.append((logging.WARNING, _warning(listed, len(files), len(outcome.kept), request)))
    return outcome


def _listing(listed: list[tuple[Path, str]], request: ScanRequest, limit: int = MAX_LISTED) -> str:
    """Format up to ``limit`` ``  name: reason`` lines (names relative to the folder) and a count of the rest."""
    lines = [f"  {os.path.relpath(path, request.folder)}: {reason}" for path, reason in listed[:limit]]
    if len(listed) > limit:
        lines.append(f"  ... and {len(listed) - limit} more")
    return "\n".join(lines)


def _error(listed: list[tuple[Path, str]], total: int, request: ScanRequest, skip: bool) -> str:
    """Return the message of the scan error: a count, the files with their reasons, what to do."""
    advice = "Remove or replace them" + ("" if skip else SKIP_HINT)
    if skip:  # skip_unreadable is on but this split cannot drop files
        advice += " (this split cannot skip files)"
    if any("exceeds limit" in reason for _, reason in listed):
        advice += (
            ". Files over Pillow's pixel limit: downscale them or, if you trust them, raise the limit in Python "
            "before training: PIL.Image.MAX_IMAGE_PIXELS = <pixels> (None disables it)"
        )
    return (
        f"{len(listed)} of the {total} files of {request.where} cannot be used (checked before training):\n"
        f"{_listing(listed, request)}\n{advice}"
    )


def _warning(listed: list[tuple[Path, str]], total: int, kept: int, request: ScanRequest) -> str:
    """Return the WARNING of ``skip_unreadable``: count, what is left, up to 5 examples."""
    examples = ", ".join(f"{os.path.relpath(p, request.folder)} ({reason})" for p, reason in listed[:5])
    more = ", ..." if len(listed) > 5 else ""
    return (
        f"skipped {len(listed)} of {total} unreadable files in {request.where} ({kept} {request.noun} left): "
        f"{examples}{more}"
    )


def shared_scan(request: ScanRequest, skip: bool, world: int, rank: int, trainer: Any) -> ScanOutcome:
    """Scan ``request`` on rank 0 and broadcast the outcome, so that every rank keeps or raises the same.

    Without a Lightning strategy (no trainer, one process) the calling process scans. Rank 0 always reaches
    the broadcast: an unexpected error while scanning becomes the outcome's error instead of leaving the
    other ranks waiting.

    Args:
        request: What to check.
        skip: ``skip_unreadable``.
        world: The number of processes.
        rank: This process's global rank.
        trainer: The attached trainer (its ``strategy`` and ``default_root_dir``), or None.
    """
    strategy = getattr(trainer, "strategy", None)
    shared = world > 1 and strategy is not None
    outcome = None
    if rank == 0 or not shared:
        try:
            run_dir = getattr(trainer, "default_root_dir", None)
            path = cache_path(run_dir, request.folder) if len(request.units) >= CACHE_FROM else None
            outcome = check_split(request, ScanCache(path), skip)
        except Exception as err:  # noqa: BLE001 - never leave the other ranks waiting for the broadcast
            if not shared:
                raise
            outcome = ScanOutcome(error=f"the set-up scan of {request.folder} failed on rank 0: {err!r}")
    return strategy.broadcast(outcome, src=0) if shared else outcome


def apply_outcome(outcome: ScanOutcome, request: ScanRequest, log_lines: bool) -> None:
    """Log the outcome's lines (``log_lines``: on rank 0), raise its error, or drop the skipped units."""
    if log_lines:
        for level, message in outcome.logs:
            if level >= logging.WARNING:
                log.warning(message)
            else:
                rank_zero_info(message)
    if outcome.error is not None:
        raise DataScanError(outcome.error)
    if outcome.kept is not None and request.keep is not None:
        request.keep(outcome.kept, outcome.skipped)


__all__ = [
    "CACHE_FROM",
    "MAX_LISTED",
    "SUPPORTED_MODES",
    "DataScanError",
    "ImageHeader",
    "ScanOutcome",
    "ScanRequest",
    "apply_outcome",
    "check_split",
    "header_problem",
    "probe",
    "read_header",
    "shared_scan",
]
