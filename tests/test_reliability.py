"""Divergence guard and crash-safe checkpoint writes."""

from __future__ import annotations

import csv
import subprocess
import sys
import textwrap

import pytest
import torch
from conftest import CONFIGS, ROOT, tiny_args
from faults import fault_env

from lit_translate.callbacks.checkpoint import AtomicCheckpointIO
from lit_translate.cli import main

PIX2PIX = CONFIGS / "pix2pix" / "demo.yaml"


def fit_with_nan(run, *extra: str) -> None:
    main(
        [
            "fit",
            "-c",
            str(PIX2PIX),
            *tiny_args(run, steps=6),
            "--trainer.log_every_n_steps",
            "1",
            "--checkpoint.every_n_train_steps",
            "1",
            "--trainer.callbacks+=faults.NaNAtStep",
            "--trainer.callbacks.init_args.step=3",
            *extra,
        ]
    )


def all_finite(state_dict: dict) -> bool:
    return all(torch.isfinite(v).all() for v in state_dict.values() if v.is_floating_point())


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(FloatingPointError, match=r"non-finite d loss or gradient at step 3 .*train/d_real=nan"):
        fit_with_nan(run)
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3 and all_finite(last["state_dict"])
    assert not list((run / "checkpoints").glob("*step=0000004*"))


def test_skip_policy_drops_the_bad_steps_and_finishes(tmp_path):
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="optimizer step skipped"):
        fit_with_nan(run, "--model.init_args.on_nonfinite", "skip")
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 5  # 6 batches, one skipped
    assert all_finite(last["state_dict"])  # BatchNorm running statistics included: rolled back on the skip
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(row.get("train/d_skipped") == "1.0" for row in rows)
    assert any(row.get("train/g_skipped") == "1.0" for row in rows)
    val = [float(row["val/l1"]) for row in rows if row.get("val/l1")]
    assert val and all(v == v for v in val), f"validation is NaN after the skipped step: {val}"


def test_skip_policy_gives_up_after_max_skipped_steps(tmp_path):
    with pytest.raises(FloatingPointError, match="after 2 skipped steps in a row"):
        fit_with_nan(
            tmp_path / "run",
            "--model.init_args.on_nonfinite",
            "skip",
            "--model.init_args.max_skipped_steps",
            "2",
            "--trainer.callbacks.init_args.sticky",
            "true",
        )


def test_checkpoint_with_nonfinite_weights_is_refused_and_the_old_one_kept(tmp_path):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    with pytest.raises(FloatingPointError, match=r"refusing to write checkpoint .*last.ckpt.*: non-finite values in w"):
        io.save_checkpoint({"state_dict": {"w": torch.tensor([1.0, float("nan"), 0.0])}, "global_step": 2}, path)
    assert torch.load(path, weights_only=True)["global_step"] == 1


KILLED_WRITE = textwrap.dedent("""
    import io, os, signal, sys
    import torch
    from lit_translate.callbacks.checkpoint import AtomicCheckpointIO

    path = sys.argv[1]
    writer = AtomicCheckpointIO()
    writer.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    real_save = torch.save

    def save_half_then_die(obj, f, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer)
        f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)

    torch.save = save_half_then_die
    writer.save_checkpoint({"state_dict": {"w": torch.zeros(1_000_000)}, "global_step": 2}, path)
""")


def test_checkpoint_write_killed_midway_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "checkpoints" / "last.ckpt"
    out = subprocess.run(
        [sys.executable, "-c", KILLED_WRITE, str(path)],
        cwd=ROOT,
        env=fault_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == -9, out.stderr[-2000:]
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["global_step"] == 1 and torch.equal(checkpoint["state_dict"]["w"], torch.ones(3))
    leftovers = [p.name for p in path.parent.iterdir() if p.name != "last.ckpt"]
    assert len(leftovers) == 1 and ".tmp-" in leftovers[0], leftovers  # removed by the next run's setup
