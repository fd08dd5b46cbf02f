"""Shared fixtures: config discovery, CLI helpers, offline W&B, tiny image folders."""

from __future__ import annotations

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks PyPI on import
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see lit_translate/__init__.py
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
TRAINER_CONFIGS = sorted((CONFIGS / "trainer").glob("*.yaml"))
RECIPES = sorted(p for p in CONFIGS.glob("*/*.yaml") if p.parent.name != "trainer")
TESTS = ROOT / "tests"
# Every method's CPU demo, plus the template method that lives in the tests (docs/architecture.md): the shared
# harness (test_methods, test_resume, test_ddp) runs on each, so a new method is tested by adding its demo.yaml.
DEMOS = sorted(CONFIGS.glob("*/demo.yaml")) + sorted((TESTS / "configs").glob("*/demo.yaml"))
PIX2PIX_DEMO = CONFIGS / "pix2pix" / "demo.yaml"

# One intra-op thread per pytest-xdist worker (make test runs one worker per core), else up to 2.
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, os.cpu_count() or 1)))


def config_id(path: Path) -> str:
    return f"{path.parent.name}/{path.stem}"


def tiered(demos: list[Path] = DEMOS) -> list[Any]:
    """Parameters for the per-demo subprocess tests (resume after SIGKILL, 2-process DDP): Pix2Pix's demo runs in
    the fast tier (``make test``), every other demo in the ``slow`` tier, which ``.ci/run`` also runs.

    Each of these launches several CLI subprocesses per demo: with every method in the fast tier, ``make test``
    would outgrow its 15 minutes. The in-process harness (``tests/test_methods.py``) covers every demo in both tiers.
    """
    return [pytest.param(d, id=config_id(d), marks=() if d == PIX2PIX_DEMO else pytest.mark.slow) for d in demos]


def tiny_args(root: Path, steps: int = 3, epochs: int = 1) -> list[str]:
    """Overrides that shrink any demo recipe to a few CPU iterations in ``root``."""
    return [
        "--trainer.default_root_dir",
        str(root),
        "--trainer.accelerator",
        "cpu",
        "--trainer.devices",
        "1",
        "--trainer.max_epochs",
        str(epochs),
        "--trainer.limit_train_batches",
        str(steps),
        "--trainer.limit_val_batches",
        "1",
        "--trainer.num_sanity_val_steps",
        "0",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--data.num_workers",
        "0",
        "--data.batch_size",
        "2",
        "--data.val_batch_size",
        "2",
        "--data.synthetic_size",
        "16",
        "--samples.num_samples",
        "2",
        # Inception / LPIPS backbones cannot be downloaded in tests; PSNR and SSIM still run.
        "--metrics.fid",
        "false",
        "--metrics.kid",
        "false",
        "--metrics.lpips",
        "false",
    ]


def run_cli(args: list[str], run: bool = False):
    from lit_translate.cli import TranslateCLI

    return TranslateCLI(args=args, run=run)


@pytest.fixture(autouse=True)
def plain_argv(monkeypatch):
    """The CLI under test gets its arguments explicitly, not pytest's."""
    monkeypatch.setattr(sys, "argv", ["lit-translate"])


@pytest.fixture(autouse=True)
def offline_wandb(monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    yield
    if "wandb" in sys.modules:
        import wandb

        wandb.finish()


def write_image(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


@pytest.fixture
def aligned_dataset(tmp_path) -> Path:
    """A tiny pix2pix aligned dataset: 64x32 A|B images in train/ val/ test/."""
    rng = np.random.default_rng(0)
    root = tmp_path / "aligned"
    for split, count in [("train", 6), ("val", 3), ("test", 3)]:
        for i in range(count):
            a = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            write_image(root / split / f"{i}.png", np.concatenate([a, 255 - a], axis=1))
    return root
