"""A clean run prints no warning: the command line as a user runs it, twice into the same run."""

from __future__ import annotations

import logging
import re
import subprocess
import sys
import warnings
from types import SimpleNamespace

import torch
from conftest import CONFIGS, PIX2PIX_DEMO, ROOT, run_cli, tiny_args
from faults import fault_env
from torch import nn

from lit_translate.callbacks.sync import RankSyncCheck

# How a Python warning prints ("path/to/file.py:123: message") and what Lightning adds at every start.
NOISE = re.compile(r"\.py:\d+: |Warning|💡 Tip|LeafSpec|exists and is not empty|args parameter")


def fit(run, *extra: str) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "lit_translate", "fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=2)]
    args += ["--trainer.log_every_n_steps", "1", "--trainer.enable_progress_bar", "true", *extra]
    return subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=fault_env(), timeout=600)


def test_a_demo_run_and_its_resume_print_no_warning(tmp_path):
    run = tmp_path / "run"
    for epochs in ("1", "2"):  # the second starts in a directory with checkpoints (a resume)
        out = fit(run, "--ckpt_path", "auto", "--trainer.max_epochs", epochs)
        log = out.stdout + out.stderr
        assert out.returncode == 0, log[-4000:]
        noise = [line for line in log.splitlines() if NOISE.search(line)]
        assert not noise, "\n".join(noise)
        assert "Run directory:" in log


def test_the_progress_bar_shows_the_totals_not_every_loss_term(tmp_path):
    cli = run_cli(["fit", "-c", str(CONFIGS / "cyclegan" / "demo.yaml"), *tiny_args(tmp_path / "run", steps=1)], True)
    train = sorted(k for k in cli.trainer.progress_bar_metrics if k.startswith("train/"))
    assert train == ["train/d_total", "train/g_total"]
    assert "train/g_cycle_a" in cli.trainer.logged_metrics  # every term still goes to the loggers


class _TwoRanks(nn.BatchNorm1d):
    """A module whose all_gather pretends a second rank: same parameters, other BatchNorm statistics."""

    device = torch.device("cpu")

    def __init__(self) -> None:
        super().__init__(2)
        self.calls = 0

    def all_gather(self, tensor: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.stack([tensor, tensor + (self.calls == 2)])  # the second call gathers the buffers


def test_differing_batchnorm_buffers_under_ddp_are_an_info_line_not_a_warning(caplog):
    trainer = SimpleNamespace(world_size=2)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        RankSyncCheck().on_train_end(trainer, _TwoRanks())
    assert not caught, [str(w.message) for w in caught]
    assert "buffers (BatchNorm running statistics) differ between ranks, as expected" in caplog.text
