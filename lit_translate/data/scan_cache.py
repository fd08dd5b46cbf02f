"""The set-up scan's cache: what earlier scans found, keyed by file path, size and mtime (see ``scan.py``)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

CACHE_NAME = ".scan-cache.json"
"""The scan cache's file name in the run directory."""
log = logging.getLogger(__name__)


class ScanCache:
    """What earlier scans found, keyed by file path, size and mtime, in one JSON file.

    ``{"version": 1, "folders": {folder: {name: [size, mtime_ns, width, height, mode, error, decoded]}}}``;
    ``decoded`` is None (not decoded), ``""`` (decoded fine) or the decode error. Files over Pillow's pixel
    limit are not cached (the limit may change between runs). A cache that cannot be read is ignored, one that
    cannot be written is skipped (logged at DEBUG): the scan never fails because of it.

    Args:
        path: The JSON file, or None for no cache.
    """

    VERSION = 1

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.folders: dict[str, dict[str, list]] = {}
        self.changed = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text())
                if data.get("version") == self.VERSION:
                    self.folders = data["folders"]
            except (OSError, ValueError, KeyError, TypeError) as err:
                log.debug("ignoring the scan cache %s: %s", path, err)

    def get(self, path: Path, size: int, mtime: int) -> list | None:
        """Return the entry of ``path`` if its size and mtime still match."""
        entry = self.folders.get(str(path.parent), {}).get(path.name)
        return entry if entry is not None and entry[0] == size and entry[1] == mtime else None

    def put(self, path: Path, entry: list) -> None:
        """Store the entry of ``path``."""
        self.folders.setdefault(str(path.parent), {})[path.name] = entry
        self.changed = True

    def save(self) -> None:
        """Write the cache atomically (a temporary file, then a rename), if anything changed."""
        if self.path is None or not self.changed:
            return
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps({"version": self.VERSION, "folders": self.folders}))
            os.replace(temporary, self.path)
            self.changed = False
        except OSError as err:
            log.debug("cannot write the scan cache %s: %s", self.path, err)
            temporary.unlink(missing_ok=True)


def cache_path(run_dir: str | None, folder: Path) -> Path:
    """Return where scan results are cached: ``<run_dir>/.scan-cache.json``, else the user's cache folder.

    Never the dataset folder (it may be read-only or shared); the run directory survives a resume. The user
    cache (``$XDG_CACHE_HOME`` or ``~/.cache``) holds one file per data folder.
    """
    if run_dir:
        return Path(run_dir) / CACHE_NAME
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lit_translate"
    return base / f"scan-{hashlib.sha1(os.path.realpath(folder).encode()).hexdigest()[:16]}.json"


__all__ = ["CACHE_NAME", "ScanCache", "cache_path"]
