"""Ctrl-C exits right after its checkpoint: no validation pass and no sample grid after it (issue 21 item 6).

Lightning validates when a fit is asked to stop (for early stopping); after a signal the checkpoint is written
and that pass (minutes with FID, past SLURM's 90 s warning) must not run. In-process: the run sends itself one
SIGINT after a given iteration, which :class:`~lit_translate.callbacks.preemption.Interrupts` turns into a stop.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
import torch
from conftest import PIX2PIX_DEMO, run_cli, tiny_args
from lightning.pytorch import Callback

from lit_translate import compat
from lit_translate.callbacks import Preemption
from lit_translate.errors import InputError


class SigintAtStep(Callback):
    """Send this process one SIGINT after iteration ``step``; record the steps at which validation starts."""

    def __init__(self, step: int) -> None:
        self.step, self.validations, self.sent = step, [], False

    def on_train_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.step and not self.sent:
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)

    def on_validation_start(self, trainer: Any, pl_module: Any) -> None:
        self.validations.append(trainer.global_step)


def test_ctrl_c_mid_epoch_writes_the_checkpoint_and_runs_no_validation_after_it(tmp_path):
    run = tmp_path / "run"
    cli = run_cli(["-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=6, epochs=2), "--trainer.log_every_n_steps", "1"])
    probe = SigintAtStep(step=2)
    cli.trainer.callbacks.insert(0, probe)  # before Preemption: it stops at the end of this same iteration
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert probe.sent
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert cli.trainer.global_step == 2
    assert probe.validations == [], f"validation ran after the interrupt checkpoint at steps {probe.validations}"
    assert not list((run / "samples").glob("*.png")), "a sample grid was written after the interrupt"


def test_skip_next_validation_sets_the_flag_lightning_reads():
    from lightning.pytorch import Trainer

    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert trainer.fit_loop.epoch_loop._skip_next_val is False
    compat.skip_next_validation(trainer)
    assert trainer.fit_loop.epoch_loop._skip_next_val is True


def test_an_unknown_signal_is_an_input_error_naming_the_key():
    with pytest.raises(InputError, match=r"'SIGFOO' \(--preemption\.signal_name"):
        Preemption(signal_name="SIGFOO")
