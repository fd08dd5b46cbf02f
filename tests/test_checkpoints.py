"""Checkpoint intervals: epochs, iterations and wall time combine, in manual optimization."""

from __future__ import annotations

import torch
from conftest import PIX2PIX_DEMO, tiny_args

from lit_translate.cli import main


def periodic(run) -> list[int]:
    steps = [torch.load(p, weights_only=True)["global_step"] for p in (run / "checkpoints").glob("epoch=*.ckpt")]
    return sorted(steps)


def test_train_time_interval_saves_by_wall_time_together_with_a_step_interval(tmp_path):
    """A zero time interval is due after every iteration; it combines with every_n_train_steps (Lightning alone
    rejects the combination, and its manual-optimization branch never saves by time)."""
    run = tmp_path / "run"
    main(
        [
            "fit",
            "-c",
            str(PIX2PIX_DEMO),
            *tiny_args(run, steps=4),
            "--checkpoint.every_n_epochs",
            "0",
            "--checkpoint.every_n_train_steps",
            "3",
            "--checkpoint.train_time_interval",
            "00:00:00:00",
            "--checkpoint.keep_periodic",
            "-1",  # every periodic checkpoint kept, to count the saves (retention: test_checkpoint_retention.py)
        ]
    )
    assert periodic(run) == [1, 2, 3, 4]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
