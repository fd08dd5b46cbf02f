"""A resumed run is the same run: SIGKILL after a checkpoint, resume with --ckpt_path last, compare bit for bit.

Every demo recipe (so every method; Pix2Pix's in the fast tier, the others in the slow tier) is run three times
in subprocesses: uninterrupted, killed right after a mid-epoch checkpoint, killed right after an end-of-epoch
checkpoint; each killed run is resumed and must end with the uninterrupted run's weights, optimizer and
scheduler states, per-rank RNG states and image pools, and the same logged losses at the same steps.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import CONFIGS, ROOT, tiered, tiny_args
from faults import fault_env

STEPS_PER_EPOCH = 8  # synthetic_size 16, batch 2
EPOCHS = 2
COMPARED = ("state_dict", "optimizer_states", "lr_schedulers", "rank_states", "global_step", "epoch", "MixedPrecision")
# fp16 with a GradScaler on CPU (Lightning turns precision="16-mixed" into bf16 on CPU, which has no scaler); a
# small growth interval makes the scale change during the run. A resume that loses the scaler state ends with other
# weights (checked by deleting "MixedPrecision" from the checkpoint before resuming: weights then differed by 6e-4).
FP16_SCALER = (
    '{"class_path": "lightning.pytorch.plugins.precision.MixedPrecision", "init_args": {"precision": "16-mixed", '
    '"device": "cpu", "scaler": {"class_path": "torch.amp.GradScaler", "init_args": {"device": "cpu", '
    '"init_scale": 1024, "growth_interval": 2}}}}'
)


def fit(recipe: Path, run: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "lit_translate",
        "fit",
        "-c",
        str(recipe),
        *tiny_args(run, steps=STEPS_PER_EPOCH, epochs=EPOCHS),
        "--data.num_workers",
        "2",
        "--trainer.deterministic",
        "true",
        "--trainer.log_every_n_steps",
        "1",
        "--checkpoint.every_n_epochs",
        "1",
        *extra,
    ]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=fault_env(), timeout=600)


def assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape, where
        assert torch.equal(a, b), f"{where} differs (max abs diff {(a.float() - b.float()).abs().max()})"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def logged_losses(run: Path) -> dict[int, dict[str, str]]:
    """Every training row's logged losses ``{step: {"train/<prefix>_<term>": value}}``.

    All networks' terms, not only G's: a method that steps an optimizer every few iterations (StarGAN's G every
    n_critic) logs that optimizer's terms at those steps only, and every step has some.
    """
    with open(run / "metrics.csv") as f:
        rows = [
            {k: v for k, v in row.items() if k.startswith("train/") and v} | {"step": row["step"]}
            for row in csv.DictReader(f)
        ]
    rows = [row for row in rows if len(row) > 1]
    steps = [int(row["step"]) for row in rows]
    assert len(steps) == len(set(steps)), f"logged steps repeat: {steps}"
    return {int(row.pop("step")): row for row in rows}


@pytest.fixture(scope="module", params=tiered())
def reference(request, tmp_path_factory) -> tuple[Path, Path]:
    """The uninterrupted run of a demo recipe: ``(recipe, run dir)``."""
    run = tmp_path_factory.mktemp("uninterrupted") / "run"
    out = fit(request.param, run, "--checkpoint.every_n_train_steps", "3")
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return request.param, run


@pytest.mark.parametrize(
    ("kill_at", "every_n_train_steps"),
    [(12, "3"), (STEPS_PER_EPOCH, "0")],
    ids=["mid-epoch", "end-of-epoch"],
)
def test_killed_run_resumes_bit_exactly(reference, tmp_path, kill_at, every_n_train_steps):
    recipe, ref_run = reference
    run = tmp_path / "run"
    interval = ("--checkpoint.every_n_train_steps", every_n_train_steps)
    killed = fit(
        recipe,
        run,
        *interval,
        "--trainer.callbacks+=faults.KillAtStep",
        f"--trainer.callbacks.init_args.step={kill_at}",
    )
    assert killed.returncode == -9, (killed.stdout + killed.stderr)[-4000:]
    at_kill = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert at_kill["global_step"] == kill_at

    resumed = fit(recipe, run, *interval, "--ckpt_path", "last")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    assert "not resumable" not in resumed.stderr

    expected = torch.load(ref_run / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["global_step"] == STEPS_PER_EPOCH * EPOCHS
    for key in COMPARED:
        assert_same(expected.get(key), actual.get(key), key)
    ref_losses, losses = logged_losses(ref_run), logged_losses(run)
    assert sorted(losses) == list(range(STEPS_PER_EPOCH * EPOCHS)), "logged steps have gaps or repeats"
    assert losses == ref_losses


def test_preempted_run_checkpoints_requeues_and_resumes_bit_exactly(reference, tmp_path):
    """SLURM's warning signal (SIGUSR1): checkpoint after the current iteration, `scontrol requeue`, exit 0."""
    recipe, ref_run = reference
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "scontrol.calls"
    scontrol = bin_dir / "scontrol"
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    run = tmp_path / "run"
    env = fault_env(SLURM_JOB_ID="4242", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    args = [
        sys.executable,
        "-m",
        "lit_translate",
        "fit",
        "-c",
        str(recipe),
        *tiny_args(run, steps=STEPS_PER_EPOCH, epochs=EPOCHS),
        "--data.num_workers",
        "2",
        "--trainer.deterministic",
        "true",
        "--trainer.log_every_n_steps",
        "1",
        "--checkpoint.every_n_epochs",
        "1",
    ]
    warned = subprocess.run(
        [*args, "--trainer.callbacks+=faults.SignalAtStep", "--trainer.callbacks.init_args.step=10"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    assert warned.returncode == 0, (warned.stdout + warned.stderr)[-4000:]
    assert calls.read_text().split() == ["requeue", "4242"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 11

    resumed = fit(recipe, run, "--ckpt_path", "last")  # what the requeued job runs
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    expected = torch.load(ref_run / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    for key in COMPARED:
        assert_same(expected.get(key), actual.get(key), key)
    assert logged_losses(run) == logged_losses(ref_run)


@pytest.mark.slow  # two minutes of fp16 autocast on CPU
def test_fp16_run_with_a_gradscaler_resumes_bit_exactly(tmp_path):
    """The GradScaler state (scale, growth tracker) is checkpointed and restored with everything else.

    Pix2pix only: the scaler belongs to Lightning's precision plugin, not to the method; fp16 on a CPU is slow,
    so the run is 2 epochs of 3 iterations, killed after the checkpoint of iteration 4.
    """
    recipe = CONFIGS / "pix2pix" / "demo.yaml"
    small = ("--trainer.limit_train_batches", "3", "--checkpoint.every_n_train_steps", "2")
    plugin = ("--trainer.plugins", FP16_SCALER, *small)
    ref_run, run = tmp_path / "uninterrupted", tmp_path / "run"
    uninterrupted = fit(recipe, ref_run, *plugin)
    assert uninterrupted.returncode == 0, (uninterrupted.stdout + uninterrupted.stderr)[-4000:]
    killed = fit(recipe, run, *plugin, "--trainer.callbacks+=faults.KillAtStep", "--trainer.callbacks.init_args.step=4")
    assert killed.returncode == -9, (killed.stdout + killed.stderr)[-4000:]
    assert "MixedPrecision" in torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    resumed = fit(recipe, run, *plugin, "--ckpt_path", "last")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]

    expected = torch.load(ref_run / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert expected["global_step"] == 6
    assert expected["MixedPrecision"]["scale"] != 1024.0, "the scale never changed: the test would prove nothing"
    for key in COMPARED:
        assert_same(expected.get(key), actual.get(key), key)
    assert logged_losses(run) == logged_losses(ref_run)
