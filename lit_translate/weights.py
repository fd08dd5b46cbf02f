"""Every pretrained file lit_translate uses (training losses and evaluation): source, checksum, offline lookup.

Lookup order of :func:`resolve_weights`:

1. an explicit local path (a config key such as ``--metrics.inception_weights``); it must exist;
2. the torch.hub cache, ``$TORCH_HOME/hub/checkpoints/<file name>`` (``~/.cache/torch`` without ``TORCH_HOME``);
3. a download into that cache (15 s socket timeout, checksum verified).

When all three fail, :class:`WeightsUnavailableError` says which file is missing, where it looked, the URL, and
the command that pre-fetches it on a machine with internet access:
``python -m lit_translate.evaluation fetch --dir DIR``, then ``export TORCH_HOME=DIR`` on the offline machine.

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
from dataclasses import dataclass
from pathlib import Path

import torch

from lit_translate.errors import InputError

DOWNLOAD_TIMEOUT_S = 15.0
FETCH_COMMAND = "python -m lit_translate.evaluation fetch --dir DIR"


class WeightsUnavailableError(InputError, RuntimeError):
    """A pretrained file is neither given, nor cached, nor downloadable (typically: no internet access)."""


class WeightsChecksumError(InputError, RuntimeError):
    """A pretrained file exists but its content is not the registered file (truncated, corrupted or another)."""


@dataclass(frozen=True)
class WeightsFile:
    """One pretrained file.

    Attributes:
        name: registry key (``"inception"``, ``"alexnet"``, ...).
        filename: the file name in the torch.hub cache (as the upstream URL names it).
        url: where it is downloaded from.
        sha256_prefix: the hash prefix embedded in ``filename`` (what ``torch.hub`` checks).
        sha256: the full sha256 when known, else None (only the prefix is verified).
        size: size in bytes when known.
        used_by: what needs it.
        config_key: the lit-translate option that passes a local copy.
    """

    name: str
    filename: str
    url: str
    sha256_prefix: str
    sha256: str | None
    size: int | None
    used_by: str
    config_key: str


WEIGHTS: dict[str, WeightsFile] = {
    spec.name: spec
    for spec in (
        WeightsFile(
            name="inception",
            filename="weights-inception-2015-12-05-6726825d.pth",
            url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
            "weights-inception-2015-12-05-6726825d.pth",
            sha256_prefix="6726825d",
            sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
            size=95_628_359,
            used_by="FID and KID (torch-fidelity's InceptionV3, 2048-d pool features)",
            config_key="--metrics.inception_weights",
        ),
        WeightsFile(
            name="alexnet",
            filename="alexnet-owt-7be5be79.pth",
            url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
            sha256_prefix="7be5be79",
            sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
            size=244_408_911,
            used_by="LPIPS backbone, lpips_net='alex' (torchvision AlexNet_Weights.IMAGENET1K_V1)",
            config_key="--metrics.lpips_backbone_weights",
        ),
        WeightsFile(
            name="vgg16",
            filename="vgg16-397923af.pth",
            url="https://download.pytorch.org/models/vgg16-397923af.pth",
            sha256_prefix="397923af",
            sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
            size=553_433_881,
            used_by="perceptual losses, VGGFeatures arch='vgg16', and LPIPS backbone, lpips_net='vgg' "
            "(torchvision VGG16_Weights.IMAGENET1K_V1)",
            config_key="--model.init_args.vgg_weights (losses) or --metrics.lpips_backbone_weights (LPIPS)",
        ),
        WeightsFile(
            name="vgg19",
            filename="vgg19-dcbb9e9d.pth",
            url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
            sha256_prefix="dcbb9e9d",
            sha256=None,  # no reliable full digest found; the file name's prefix is verified
            size=None,
            used_by="perceptual losses, VGGFeatures arch='vgg19' (torchvision VGG19_Weights.IMAGENET1K_V1)",
            config_key="--model.init_args.vgg_weights",
        ),
        WeightsFile(
            name="squeezenet1_1",
            filename="squeezenet1_1-b8a52dc0.pth",
            url="https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth",
            sha256_prefix="b8a52dc0",
            sha256=None,
            size=None,
            used_by="LPIPS backbone, lpips_net='squeeze' (torchvision SqueezeNet1_1_Weights.IMAGENET1K_V1)",
            config_key="--metrics.lpips_backbone_weights",
        ),
    )
}

LPIPS_BACKBONES: dict[str, str] = {"alex": "alexnet", "vgg": "vgg16", "squeeze": "squeezenet1_1"}
"""LPIPS ``net_type`` -> registry key of its ImageNet backbone."""

LPIPS_LINEAR_SHA256: dict[str, str] = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    "squeeze": "4a5350f23600cb79923ce65bb07cbf57dca461329894153e05a1346bd531cf76",
}
"""sha256 of the LPIPS v0.1 linear layers (lpips 0.1.4 ``weights/v0.1/<net>.pth``), which torchmetrics ships in
``torchmetrics/functional/image/lpips_models/``; they are checked, never downloaded."""


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
        FileNotFoundError: ``path`` was given and does not exist.
        WeightsChecksumError: a cached file or a file with the registry name has the wrong content.
        WeightsUnavailableError: not cached and the download failed (offline); the message says how to fix it.
    """
    spec = get_spec(name)
    if path is not None:
        explicit = Path(os.path.expanduser(str(path)))
        if not explicit.is_file():
            raise FileNotFoundError(
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


__all__ = [
    "DOWNLOAD_TIMEOUT_S",
    "FETCH_COMMAND",
    "LPIPS_BACKBONES",
    "LPIPS_LINEAR_SHA256",
    "WEIGHTS",
    "WeightsChecksumError",
    "WeightsFile",
    "WeightsUnavailableError",
    "cache_dir",
    "describe_file",
    "download",
    "fetch",
    "file_sha256",
    "resolve_weights",
    "verify",
]
