"""Distributed launch and failure behaviour: torchrun, per-rank seeds, DDP = single process, prompt failure."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import torch
from conftest import CONFIGS, ROOT, run_cli, tiny_args
from faults import fault_env

DDP = CONFIGS / "trainer" / "ddp.yaml"
PIX2PIX = CONFIGS / "pix2pix" / "demo.yaml"
INSTANCE_NORM_NO_DROPOUT = [
    "--model.init_args.generator.init_args.norm",
    "instance",
    "--model.init_args.generator.init_args.use_dropout",
    "false",
    "--model.init_args.discriminator.init_args.norm",
    "instance",
]


def lit_translate(*args: str, launcher: tuple[str, ...] = (), timeout: int = 300) -> subprocess.CompletedProcess:
    command = [*launcher] if launcher else [sys.executable, "-m", "lit_translate"]
    return subprocess.run([*command, *args], capture_output=True, text=True, cwd=ROOT, env=fault_env(), timeout=timeout)


def test_torchrun_two_processes_train_in_sync_with_per_rank_seeds(tmp_path):
    """The documented torchrun command (docs/distributed.md), on CPU with 2 processes."""
    probe = tmp_path / "probe.json"
    torchrun = (
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "lit_translate",
    )
    out = lit_translate(
        "fit",
        "-c",
        str(DDP),
        "-c",
        str(PIX2PIX),
        *tiny_args(tmp_path / "run", steps=3),
        "--trainer.devices",
        "2",
        "--trainer.callbacks+=faults.RankProbe",
        f"--trainer.callbacks.init_args.path={probe}",
        launcher=torchrun,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    assert "DDP check: parameters identical on all 2 ranks" in log
    draws = json.loads(probe.read_text())
    for key in ("torch", "generator", "batch"):
        assert draws[key][0] != draws[key][1], f"ranks drew the same {key} values: {draws[key]}"
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    first, second = ckpt["rank_states"]
    assert not torch.equal(first["generator"], second["generator"])


@pytest.mark.parametrize("rank", [0, 1])
def test_a_failing_rank_ends_the_job_promptly(tmp_path, rank):
    stamp = tmp_path / "raised_at"
    out = lit_translate(
        "fit",
        "-c",
        str(DDP),
        "-c",
        str(PIX2PIX),
        *tiny_args(tmp_path / "run", steps=6),
        "--trainer.devices",
        "2",
        "--trainer.callbacks+=faults.RaiseAtStep",
        "--trainer.callbacks.init_args.step=2",
        f"--trainer.callbacks.init_args.rank={rank}",
        f"--trainer.callbacks.init_args.stamp={stamp}",
        timeout=240,
    )
    after_raise = time.time() - float(stamp.read_text())
    assert out.returncode != 0
    assert f"injected failure on rank {rank}" in out.stdout + out.stderr
    assert after_raise < 60, f"the job ended {after_raise:.0f} s after rank {rank} raised"


def test_ddp_with_batch_b_equals_one_process_with_batch_2b(tmp_path):
    """Pix2pix with instance norm (per-sample) and no dropout: the same updates, up to float rounding.

    SGD with momentum rather than Adam: the conv biases in front of an InstanceNorm have a true gradient of 0,
    and Adam divides their rounding noise (~1e-9) by its own magnitude, turning it into lr-sized steps that
    differ between any two summation orders (they do not change the network's output).
    """
    sgd = '{"class_path": "torch.optim.SGD", "init_args": {"lr": 0.05, "momentum": 0.9}}'
    common = [
        "-c",
        str(PIX2PIX),
        *INSTANCE_NORM_NO_DROPOUT,
        "--model.init_args.optimizer_g",
        sgd,
        "--model.init_args.optimizer_d",
        sgd,
    ]
    ddp_args = [
        *common,
        *tiny_args(tmp_path / "ddp", steps=4),
        "--trainer.limit_val_batches",
        "0",
        "--trainer.devices",
        "2",
        "--data.batch_size",
        "2",
    ]
    single_args = [
        *common,
        *tiny_args(tmp_path / "single", steps=4),
        "--trainer.limit_val_batches",
        "0",
        "--data.batch_size",
        "4",
    ]
    ddp = lit_translate("fit", "-c", str(DDP), *ddp_args)
    assert ddp.returncode == 0, (ddp.stdout + ddp.stderr)[-4000:]
    single = lit_translate("fit", *single_args)
    assert single.returncode == 0, (single.stdout + single.stderr)[-4000:]
    a = torch.load(tmp_path / "ddp" / "checkpoints" / "last.ckpt", weights_only=True)
    b = torch.load(tmp_path / "single" / "checkpoints" / "last.ckpt", weights_only=True)
    assert a["global_step"] == b["global_step"] == 4
    floats = [k for k, v in a["state_dict"].items() if v.is_floating_point()]
    worst = max((a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max().item() for k in floats)
    assert worst <= 1e-6, f"largest parameter difference between DDP and one process: {worst:.3g}"
    initial = run_cli(single_args).model.state_dict()  # same seed, untrained
    moved = max((a["state_dict"][k].double() - initial[k].double()).abs().max().item() for k in floats)
    assert moved > 1e-4, "training did not change the weights, so the comparison above proves nothing"
