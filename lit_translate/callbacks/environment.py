"""A loud warning when a recipe made for GPUs trains on CPU under SLURM, torchrun or a container.

``accelerator: auto`` quietly falls back to CPU when no GPU is visible: a SLURM job without ``--gpus``/``--gres``,
``docker run`` without ``--gpus all`` (or with an NVIDIA driver too old for the image), Apptainer without ``--nv``.
The paper recipes say ``environment: {expect_gpu: true}``; the CPU demos do not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.utilities import rank_zero_warn
from typing_extensions import override

CONTAINER_MARKERS = (Path("/.dockerenv"), Path("/run/.containerenv"))
"""Files Docker and Podman create inside every container."""

HINTS = {
    "SLURM": "request GPUs (#SBATCH --gpus-per-node=N or --gres=gpu:N) and check `srun nvidia-smi` on the node",
    "torchrun": "check that the node has GPUs and CUDA_VISIBLE_DEVICES is not empty (`nvidia-smi`)",
    "a container": "run it with `docker run --gpus all` (NVIDIA Container Toolkit) on a host whose NVIDIA driver "
    "is >= 580 (CUDA 13.0 image and torch cu130 wheels); `apptainer run --nv` for Apptainer",
}


def launcher(environ: Mapping[str, str] | None = None) -> str | None:
    """Return where this process runs: ``"SLURM"``, ``"torchrun"``, ``"a container"`` or None (none of these).

    SLURM: ``SLURM_JOB_ID``; torchrun (or another distributed launcher): ``TORCHELASTIC_RUN_ID`` or
    ``LOCAL_RANK``; a container: ``/.dockerenv`` (Docker), ``/run/.containerenv`` (Podman) or
    ``APPTAINER_CONTAINER``/``SINGULARITY_CONTAINER``.
    """
    environ = os.environ if environ is None else environ
    if environ.get("SLURM_JOB_ID"):
        return "SLURM"
    if environ.get("TORCHELASTIC_RUN_ID") or environ.get("LOCAL_RANK"):
        return "torchrun"
    if any(marker.exists() for marker in CONTAINER_MARKERS):
        return "a container"
    if environ.get("APPTAINER_CONTAINER") or environ.get("SINGULARITY_CONTAINER"):
        return "a container"
    return None


def gpu_warning(expect_gpu: bool, on_cpu: bool, environ: Mapping[str, str] | None = None) -> str | None:
    """Return the warning for a GPU recipe that runs on CPU under a cluster launcher or a container, or None."""
    where = launcher(environ)
    if not (expect_gpu and on_cpu and where):
        return None
    environ = os.environ if environ is None else environ
    visible = environ.get("CUDA_VISIBLE_DEVICES", "(unset)")
    return (
        f"\n{'!' * 100}\nTHIS RECIPE IS MADE FOR GPUs BUT TRAINS ON CPU, under {where}: "
        f"torch.cuda.is_available() is {torch.cuda.is_available()}, CUDA_VISIBLE_DEVICES={visible}.\n"
        f"Fix: {HINTS[where]}. Meant to run on CPU? Pass --trainer.accelerator cpu.\n{'!' * 100}"
    )


class EnvironmentCheck(Callback):
    """Warn loudly, before the first step of ``fit``, when a GPU recipe trains on CPU on a cluster or in a container.

    Only ``accelerator: auto`` falling back to CPU is reported: ``--trainer.accelerator cpu`` is a deliberate
    choice, and ``gpu`` without a GPU is already an error.

    Args:
        expect_gpu: the recipe is made for GPUs (the paper recipes set it; the CPU demos do not). Outside SLURM,
            torchrun and containers a CPU run is assumed deliberate and nothing is said. Default: False.
    """

    def __init__(self, expect_gpu: bool = False) -> None:
        self.expect_gpu = expect_gpu

    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        # An explicit `--trainer.accelerator cpu` is a choice, not a silent fallback (RunTrainer records the request).
        requested = getattr(trainer, "accelerator_requested", "auto")
        on_cpu = requested == "auto" and isinstance(trainer.accelerator, CPUAccelerator)
        message = gpu_warning(self.expect_gpu, on_cpu)
        if message:
            rank_zero_warn(message)


__all__ = ["EnvironmentCheck", "gpu_warning", "launcher"]
