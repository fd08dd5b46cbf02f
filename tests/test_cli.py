"""The lit-translate command end to end: fit, resume into the same run, predict, clear errors."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import CONFIGS, ROOT, tiny_args, write_image
from PIL import Image

from lit_translate.cli import main

PIX2PIX_DEMO = CONFIGS / "pix2pix" / "demo.yaml"


def logged_steps(run) -> list[int]:
    with open(run / "metrics.csv") as f:
        return [int(row["step"]) for row in csv.DictReader(f) if row.get("train/g_total")]


def test_fit_then_resume_continues_the_same_run(tmp_path):
    run = tmp_path / "run"
    base = ["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=4, epochs=1), "--trainer.log_every_n_steps", "1"]
    main(base)
    first = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert first["global_step"] == 4
    main([*base, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    second = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert second["global_step"] == 8
    assert not any(p.name.startswith("version_") for p in run.iterdir()), "resume must not open a new run dir"
    steps = logged_steps(run)
    assert steps == sorted(steps) and len(steps) == len(set(steps)), f"logged steps repeat or go back: {steps}"
    assert "ckpt_path: last" in (run / "config.yaml").read_text()


def test_predict_writes_one_png_per_input_of_any_size(tmp_path):
    run = tmp_path / "run"
    main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=2)])
    inputs = tmp_path / "in"
    rng = np.random.default_rng(0)
    sizes = {"wide photo.jpg": (40, 100), "tiny.png": (9, 13), "gray.png": (70, 64)}
    for name, (h, w) in sizes.items():
        shape = (h, w) if name.startswith("gray") else (h, w, 3)
        write_image(inputs / name, rng.integers(0, 255, shape, dtype=np.uint8))
    out = tmp_path / "out"
    main(
        [
            "predict",
            "--ckpt_path",
            str(run / "checkpoints" / "last.ckpt"),
            "--data.init_args.predict_dir",
            str(inputs),
            "--predict_writer.output_dir",
            str(out),
            "--trainer.accelerator",
            "cpu",
            "--trainer.devices",
            "1",
            "--trainer.logger",
            "false",
        ]
    )
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{name.rsplit('.', 1)[0]}.png" for name in sizes)
    for name, (h, w) in sizes.items():
        assert Image.open(out / f"{name.rsplit('.', 1)[0]}.png").size == (w, h)


def test_missing_data_root_names_the_path(tmp_path):
    missing = tmp_path / "no_such_dataset"
    with pytest.raises((FileNotFoundError, ValueError), match="no_such_dataset"):
        main(
            [
                "fit",
                "-c",
                str(CONFIGS / "pix2pix" / "facades.yaml"),
                *tiny_args(tmp_path / "run"),
                "--data.root",
                str(missing),
            ]
        )


def test_facades_recipe_trains_on_an_aligned_folder(aligned_dataset, tmp_path):
    """The paper recipe on any aligned dataset (here 32x32 halves, upscaled by the recipe's 286 -> 256)."""
    run = tmp_path / "run"
    args = [
        "fit",
        "-c",
        str(CONFIGS / "pix2pix" / "facades.yaml"),
        "--data.root",
        str(aligned_dataset),
        *tiny_args(run, steps=2),
        "--data.batch_size",
        "1",
    ]
    main(args)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2


def test_module_entry_point_prints_help():
    out = subprocess.run(
        [sys.executable, "-m", "lit_translate", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0 and "fit" in out.stdout and "predict" in out.stdout


def test_resumed_fit_continues_the_same_wandb_run(tmp_path):
    """The W&B run id goes into the checkpoint; `--ckpt_path last` logs into the same run (offline here)."""
    run = tmp_path / "run"
    base = [
        "fit",
        "-c",
        str(CONFIGS / "trainer" / "wandb.yaml"),
        "-c",
        str(PIX2PIX_DEMO),
        *tiny_args(run, steps=2),
        "--samples.num_samples",
        "0",
    ]
    main(base)
    import wandb

    wandb.finish()
    first = [p.name for p in (run / "wandb").glob("offline-run-*")]
    assert len(first) == 1
    run_id = first[0].rsplit("-", 1)[1]
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert any(state.get("wandb_run_id") == run_id for state in ckpt["callbacks"].values())
    main([*base, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    wandb.finish()
    runs = sorted(p.name for p in (run / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(name.endswith(f"-{run_id}") for name in runs), runs
