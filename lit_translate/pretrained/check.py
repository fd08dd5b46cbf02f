"""Every pretrained file a run needs, checked together before the first step: one error names all missing files.

A run's pretrained files come from several places: the method's loss network (``vgg_weights``), the metrics
callback's networks (InceptionV3 for FID/KID, the LPIPS backbone). Each declares what it will load as a list of
:class:`Need` (``pretrained_needs``: ``module.pretrained_needs(stage)``, ``callback.pretrained_needs(trainer,
module, stage)``); :func:`check_run` gathers them all and resolves each one (:func:`~lit_translate.pretrained.weights.
resolve_weights`: the given file, the torch.hub cache, a download) before anything is built. One problem is
raised as it is; several become one :class:`MissingPretrainedFilesError` listing every file with the key that
passes it and the folder it goes into, so an offline user fetches everything in one go instead of one file per
attempt. ``TranslationModule.prepare_data`` calls it (Lightning: before the data set-up and any ``setup`` hook).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lit_translate.errors import InputError
from lit_translate.pretrained.weights import (
    FETCH_COMMAND,
    RANDOM,
    WEIGHTS,
    WeightsChecksumError,
    WeightsFileNotFoundError,
    WeightsUnavailableError,
    cache_dir,
    get_spec,
    resolve_weights,
)

VGG_KEY = "--model.init_args.vgg_weights"


@dataclass(frozen=True)
class Need:
    """One pretrained file that a run will load.

    Attributes:
        name: The registry key (``"vgg19"``, ``"alexnet"``, ``"inception"``, ...), or another name for a file of
            the user's own that is in no registry (``"segmenter"``): it must exist; nothing is downloaded.
        path: The file the configuration gives; None = the torch.hub cache (or a download).
        key: The option that passes a local file (``--model.init_args.vgg_weights``).
    """

    name: str
    path: str | None
    key: str


class MissingPretrainedFilesError(WeightsUnavailableError, InputError):
    """Several pretrained files a run needs are missing (or damaged): all of them, named in one error."""


def vgg_needs(arch: str, weights: str | None, key: str = VGG_KEY) -> list[Need]:
    """Return what a loss network of ``arch`` with ``vgg_weights`` = ``weights`` loads (nothing for ``"random"``)."""
    return [] if weights == RANDOM else [Need(arch, weights, key)]


def run_needs(trainer: Any, module: Any, stage: str) -> list[Need]:
    """Gather the needs of ``module`` and of every callback of ``trainer`` that declares ``pretrained_needs``."""
    needs = list(module.pretrained_needs(stage)) if hasattr(module, "pretrained_needs") else []
    for callback in getattr(trainer, "callbacks", []):
        if hasattr(callback, "pretrained_needs"):
            needs += callback.pretrained_needs(trainer, module, stage)
    return needs


def check_needs(needs: Iterable[Need]) -> None:
    """Resolve every need (downloading what is missing when online); raise one error naming every failure.

    Raises:
        WeightsUnavailableError, FileNotFoundError, WeightsChecksumError: exactly one file is missing or damaged
            (its own error, which says how to fix it).
        MissingPretrainedFilesError: several are (one line per file, then how to fetch them all).
    """
    failures: list[tuple[Need, Exception]] = []
    for need in dict.fromkeys(needs):  # the same file for two roles is checked (and listed) once
        try:
            resolve_weights(need.name, need.path) if need.name in WEIGHTS else require_own_file(need)
        except (WeightsUnavailableError, FileNotFoundError, WeightsChecksumError) as error:
            failures.append((need, error))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise MissingPretrainedFilesError(missing_message(failures))


def require_own_file(need: Need) -> None:
    """Check that a file of the user's own (no registry entry, so no cache and no download) exists.

    Raises:
        WeightsFileNotFoundError: it does not (the message names the key and the fix).
    """
    path = os.path.expanduser(need.path or "")
    if not os.path.isfile(path):
        raise WeightsFileNotFoundError(
            f"{need.key} points to {path or '(nothing)'}, which does not exist (the {need.name}: a file of your own, "
            f"which cannot be downloaded); give an existing file or drop {need.key}"
        )


def check_run(trainer: Any, module: Any, stage: str) -> None:
    """Check every pretrained file of the run (:func:`run_needs`) before the first step (:func:`check_needs`)."""
    check_needs(run_needs(trainer, module, stage))


def missing_message(failures: list[tuple[Need, Exception]]) -> str:
    """Return the text of :class:`MissingPretrainedFilesError`: each file, where it goes, the key that passes it."""
    folder = cache_dir()
    lines = [
        f"{len(failures)} pretrained files this run needs are not available (nothing was trained). Put each into "
        f"{folder} (TORCH_HOME={os.environ.get('TORCH_HOME', '<unset>')}), or pass it with its key:"
    ]
    for need, error in failures:
        if need.name not in WEIGHTS:
            lines.append(f"  - {need.path} ({need.name}, a file of your own): does not exist; {need.key} FILE")
            continue
        spec = get_spec(need.name)
        if isinstance(error, WeightsUnavailableError):
            problem = "not in the cache, and the download failed"
        else:
            problem = f"{type(error).__name__}: {str(error).splitlines()[0]}"
        lines.append(f"  - {spec.filename} ({spec.used_by}): {problem}; {need.key} FILE; source {spec.url}")
    names = ",".join(need.name for need, _ in failures if need.name in WEIGHTS)
    if names:
        lines.append(
            f"On a machine with internet access run `{FETCH_COMMAND} --only {names}`, copy DIR here and "
            "`export TORCH_HOME=DIR` (the files go to DIR/hub/checkpoints/)."
        )
    if any(need.key == VGG_KEY for need, _ in failures):
        lines.append(f"For a CPU demo only, `{VGG_KEY} random` uses a random-weight VGG stand-in instead.")
    return "\n".join(lines)


__all__ = [
    "VGG_KEY",
    "MissingPretrainedFilesError",
    "Need",
    "check_needs",
    "check_run",
    "require_own_file",
    "run_needs",
    "vgg_needs",
]
