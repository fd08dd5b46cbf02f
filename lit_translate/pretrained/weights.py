"""Every pretrained file lit_translate uses (training losses and evaluation): source, checksum, offline lookup.

Lookup order of :func:`resolve_weights`:

1. an explicit local path (a config key such as ``--metrics.inception_weights``); it must exist;
2. the torch.hub cache, ``$TORCH_HOME/hub/checkpoints/<file name>`` (``~/.cache/torch`` without ``TORCH_HOME``);
3. a download into that cache (15 s socket timeout, checksum verified).

When all three fail, :class:`WeightsUnavailableError` says which file is missing, where it looked, the URL, and
the command that pre-fetches it on a machine with internet access:
``python -m lit_translate.evaluation fetch --dir DIR``, then ``export TORCH_HOME=DIR`` on the offline machine.

Loss networks: :func:`loss_network_state` is the one resolver of a method's ``vgg_weights`` (None / a file /
``"random"``, the seeded stand-in with one warning) and :func:`loss_network` builds the frozen ``VGGFeatures``
from it. ``nets/`` stays plain torch: this module installs the resolver as ``VGGFeatures.locate_weights``, used
only when a file name or None is given to ``VGGFeatures`` directly. The registry entries are in
:mod:`lit_translate.pretrained.registry`; :mod:`lit_translate.pretrained.check` checks every file a run needs at once.

Checksums: every file name carries the first 8 hex digits of its sha256 (torchvision's and torch-fidelity's
convention, which ``torch.hub`` checks with ``check_hash``). The registry also holds the full sha256 where it is
known; files are verified against the full digest when there is one, else against the prefix.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

from lit_translate.errors import InputError
from lit_translate.nets.vgg import VGGFeatures, read_state_file
from lit_translate.pretrained.registry import LPIPS_BACKBONES, LPIPS_LINEAR_SHA256, WEIGHTS, WeightsFile
from lit_translate.pretrained.standins import random_vgg_state

DOWNLOAD_TIMEOUT_S = 15.0
FETCH_COMMAND = "python -m lit_translate.evaluation fetch --dir DIR"


class WeightsUnavailableError(InputError, RuntimeError):
    """A pretrained file is neither given, nor cached, nor downloadable (typically: no internet access)."""


class WeightsChecksumError(InputError, RuntimeError):
    """A pretrained file exists but its content is not the registered file (truncated, corrupted or another)."""


class WeightsFileNotFoundError(FileNotFoundError, InputError):
    """A pretrained file given by a configuration key does not exist (the message names the key)."""


def cache_dir() -> Path:
    """Return the torch.hub checkpoint cache: ``$TORCH_HOME/hub/checkpoints`` (read at call time)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of a file (streamed)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _cached_sha256(path: Path) -> str:
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _VERIFIED:
        _VERIFIED[key] = file_sha256(path)
    return _VERIFIED[key]


def matches(spec: WeightsFile, path: str | Path) -> bool:
    """Whether the file at ``path`` is ``spec``'s file (full sha256 when known, else the name's prefix)."""
    digest = _cached_sha256(Path(path))
    return digest == spec.sha256 if spec.sha256 else digest.startswith(spec.sha256_prefix)


def describe_file(name: str, path: str | Path) -> dict[str, str | bool]:
    """Describe a resolved weight file for reports: ``{"name", "file", "sha256", "registered"}``.

    ``registered`` is False for custom weights (another file than the registry's): their metric values are not
    comparable with published ones.
    """
    path = Path(path)
    registered = matches(get_spec(name), path)
    return {"name": name, "file": str(path), "sha256": _cached_sha256(path), "registered": registered}


def verify(spec: WeightsFile, path: str | Path) -> Path:
    """Check ``path`` against ``spec``'s checksum.

    Returns:
        ``path`` as a Path.

    Raises:
        WeightsChecksumError: the content differs (the message names both digests and the fix).
    """
    path = Path(path)
    if not matches(spec, path):
        expected = spec.sha256 or f"{spec.sha256_prefix}..."
        raise WeightsChecksumError(
            f"{path} is not the expected {spec.filename}: sha256 {_cached_sha256(path)}, expected {expected}. "
            f"The file is truncated, corrupted or a different file; delete it and fetch it again with "
            f"`{FETCH_COMMAND}` (source: {spec.url})."
        )
    return path


def get_spec(name: str) -> WeightsFile:
    """Return the registry entry ``name`` (error listing the known names otherwise)."""
    try:
        return WEIGHTS[name]
    except KeyError:
        raise KeyError(f"unknown pretrained file {name!r}; known: {sorted(WEIGHTS)}") from None


@contextmanager
def socket_timeout(seconds: float) -> Iterator[None]:
    """Set the default socket timeout for the duration (urllib and torch.hub inherit it)."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _resolve_host(url: str, timeout: float) -> None:
    """Resolve the URL's host within ``timeout`` (DNS lookups ignore socket timeouts and can hang)."""
    host = urllib.parse.urlparse(url).hostname or ""
    outcome: list[BaseException | None] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, 443)
            outcome.append(None)
        except BaseException as error:  # noqa: BLE001 - reported to the caller
            outcome.append(error)

    thread = threading.Thread(target=lookup, daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise TimeoutError(f"DNS lookup of {host} took longer than {timeout:.0f} s")
    if outcome[0] is not None:
        raise outcome[0]


def download(spec: WeightsFile, directory: str | Path | None = None, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``spec`` into ``directory`` (default: the torch.hub cache) and verify it.

    ``torch.hub.download_url_to_file`` writes to a temporary file, checks the sha256 prefix, then renames, so an
    interrupted download never leaves a partial file under the final name.

    Args:
        spec: the registry entry.
        directory: destination folder (created). Default: :func:`cache_dir`.
        timeout: socket timeout in seconds (no data for this long aborts the download).

    Returns:
        The downloaded file.

    Raises:
        OSError, TimeoutError, urllib.error.URLError, http.client.HTTPException: network or disk failure.
        RuntimeError: the download's hash prefix was wrong (raised by torch.hub).
        WeightsChecksumError: the full sha256 was wrong.
    """
    directory = Path(directory) if directory is not None else cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / spec.filename
    _resolve_host(spec.url, timeout)
    with socket_timeout(timeout):
        torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=spec.sha256_prefix, progress=False)
    try:
        return verify(spec, target)
    except WeightsChecksumError:
        target.unlink(missing_ok=True)
        raise


def unavailable_message(spec: WeightsFile, looked: list[str], reason: str) -> str:
    """Return the text of :class:`WeightsUnavailableError` for ``spec``."""
    places = "\n".join(f"  - {place}" for place in looked)
    return (
        f"Pretrained file {spec.filename} ({spec.used_by}) is not available.\n"
        f"Looked in:\n{places}\n"
        f"Download from {spec.url} failed: {reason}\n"
        f"On a machine with internet access run:\n"
        f"  {FETCH_COMMAND} --only {spec.name}\n"
        f"copy DIR to this machine (or use shared storage), then either\n"
        f"  export TORCH_HOME=DIR          (the file goes to DIR/hub/checkpoints/{spec.filename})\n"
        f"or pass the file itself: {spec.config_key} DIR/hub/checkpoints/{spec.filename}"
    )


def resolve_weights(name: str, path: str | Path | None = None, allow_download: bool = True) -> Path:
    """Find pretrained file ``name`` locally, downloading it into the torch.hub cache only as a last resort.

    Args:
        name: registry key, one of :data:`WEIGHTS` (``"inception"``, ``"alexnet"``, ``"vgg16"``, ``"vgg19"``,
            ``"squeezenet1_1"``).
        path: an explicit local file; wins over everything else and must exist. A file carrying the registry's
            file name must match its checksum; a file with another name whose content differs is taken as a
            deliberate custom weight file (a warning records its sha256).
        allow_download: try the download when the file is not cached. Default: True.

    Returns:
        The path of a verified file.

    Raises:
        WeightsFileNotFoundError: ``path`` was given and does not exist (a ``FileNotFoundError``).
        WeightsChecksumError: a cached file or a file with the registry name has the wrong content.
        WeightsUnavailableError: not cached and the download failed (offline); the message says how to fix it.
    """
    spec = get_spec(name)
    if path is not None:
        explicit = Path(os.path.expanduser(str(path)))
        if not explicit.is_file():
            raise WeightsFileNotFoundError(
                f"{spec.config_key} points to {explicit}, which does not exist (expected {spec.filename}, "
                f"from {spec.url}; `{FETCH_COMMAND} --only {name}` downloads it)"
            )
        if matches(spec, explicit):
            return explicit
        if explicit.name == spec.filename:
            return verify(spec, explicit)  # raises: it claims to be the registered file
        warnings.warn(
            f"Using {explicit} as custom {name} weights (sha256 {_cached_sha256(explicit)}, not the registered "
            f"{spec.filename}); metrics computed with it are not comparable with published numbers.",
            stacklevel=2,
        )
        return explicit
    cached = cache_dir() / spec.filename
    if cached.is_file():
        return verify(spec, cached)
    looked = [f"{cached}  (TORCH_HOME={os.environ.get('TORCH_HOME', '<unset>')})"]
    if not allow_download:
        raise WeightsUnavailableError(unavailable_message(spec, looked, "downloads disabled"))
    try:
        return download(spec, cached.parent)
    except WeightsChecksumError:
        raise
    except Exception as error:  # noqa: BLE001 - any network/disk failure becomes one clear error
        raise WeightsUnavailableError(unavailable_message(spec, looked, f"{type(error).__name__}: {error}")) from error


RANDOM = "random"
"""The ``vgg_weights`` value that asks for a calibrated random-weight stand-in (CPU demos and tests only)."""


def loss_network_state(
    arch: str, weights: str | None, key: str = "--model.init_args.vgg_weights"
) -> tuple[dict[str, Tensor], Path | None]:
    """Resolve a method's ``vgg_weights`` (None / a file / ``"random"``) to a VGG state dict: the one resolver.

    Args:
        arch: ``"vgg16"`` or ``"vgg19"`` (a registry key).
        weights: None (the torch.hub cache, then a download: :func:`resolve_weights`), a local torchvision file,
            or :data:`RANDOM`: the calibrated stand-in :func:`~.standins.random_vgg_state` (``arch``,
            seed 0; a pure function of ``arch``, so every rank and every reload builds the same loss network),
            with a warning: for CPU demos and tests only.
        key: The option that sets ``weights``, named by the warning.

    Returns:
        ``(state dict, the file it was read from or None for the stand-in)``.
    """
    if weights == RANDOM:
        warnings.warn(
            f"{key} random: the {arch} loss network has RANDOM weights (a calibrated stand-in, "
            "lit_translate.pretrained.standins.random_vgg_state), so perceptual and style losses optimise something "
            "else than the paper's. "
            f"For CPU demos and tests only; for real training pass {key} PATH (the real {get_spec(arch).filename}) "
            "or leave it unset to use the torch.hub cache.",
            UserWarning,
            stacklevel=3,
        )
        return random_vgg_state(arch), None
    path = resolve_weights(arch, weights)
    return read_state_file(path, arch), path


def loss_network(
    arch: str, layers: tuple[str, ...], weights: str | None, key: str = "--model.init_args.vgg_weights"
) -> VGGFeatures:
    """Build the frozen :class:`~lit_translate.nets.VGGFeatures` of a method's ``vgg_weights`` (see above)."""
    state, path = loss_network_state(arch, weights, key)
    net = VGGFeatures(arch, layers, state)
    net.weights_path = path
    return net


def fetch(names: list[str] | None = None, directory: str | Path | None = None) -> list[tuple[str, Path, str]]:
    """Download registry files into ``<directory>/hub/checkpoints`` (the layout ``TORCH_HOME`` expects).

    Args:
        names: registry keys; None = all.
        directory: a future ``TORCH_HOME``; None = the current torch home.

    Returns:
        ``(name, path, action)`` per file, action ``"present"`` (already there and verified) or
        ``"downloaded"``.

    Raises:
        WeightsUnavailableError: a download failed (the ones before it are kept).
        WeightsChecksumError: a present file has the wrong content.
    """
    home = Path(directory).expanduser() if directory is not None else Path(torch.hub.get_dir()).parent
    target_dir = home / "hub" / "checkpoints"
    done: list[tuple[str, Path, str]] = []
    for name in names or list(WEIGHTS):
        spec = get_spec(name)
        target = target_dir / spec.filename
        if target.is_file():
            done.append((name, verify(spec, target), "present"))
            continue
        try:
            done.append((name, download(spec, target_dir), "downloaded"))
        except WeightsChecksumError:
            raise
        except Exception as error:  # noqa: BLE001
            raise WeightsUnavailableError(
                unavailable_message(spec, [str(target)], f"{type(error).__name__}: {error}")
            ) from error
    return done


def export_hint(directory: str | Path) -> str:
    """Return the shell line that points torch.hub at ``directory``."""
    return f"export TORCH_HOME={shlex.quote(str(Path(directory).expanduser().resolve()))}"


VGGFeatures.locate_weights = staticmethod(loss_network_state)  # nets stay plain torch: the registry plugs in here

__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "FETCH_COMMAND",
    "LPIPS_BACKBONES",
    "LPIPS_LINEAR_SHA256",
    "RANDOM",
    "WEIGHTS",
    "WeightsChecksumError",
    "WeightsFile",
    "WeightsFileNotFoundError",
    "WeightsUnavailableError",
    "cache_dir",
    "describe_file",
    "download",
    "fetch",
    "file_sha256",
    "loss_network",
    "loss_network_state",
    "resolve_weights",
    "verify",
]
