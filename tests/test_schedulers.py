from __future__ import annotations

import pytest
import torch
from conftest import DEMOS, config_id, run_cli, tiny_args
from lightning.pytorch import Callback

from lit_translate.schedulers import LinearDecayLR


def lrs_over(n_epochs: int, n_decay: int, epochs: int) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LinearDecayLR(opt, n_epochs=n_epochs, n_epochs_decay=n_decay)
    values = []
    for _ in range(epochs):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


def test_linear_decay_matches_reference_formula():
    # reference: 1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1), epoch_count = 1
    assert lrs_over(2, 3, 6) == pytest.approx([1, 1, 0.75, 0.5, 0.25, 0])
    assert lrs_over(100, 100, 200)[99] == 1.0 and lrs_over(100, 100, 200)[100] == pytest.approx(100 / 101)


def test_linear_decay_state_round_trip():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = LinearDecayLR(opt, 1, 4)
    for _ in range(3):
        sched.step()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = LinearDecayLR(opt2, 1, 4)
    sched2.load_state_dict(sched.state_dict())
    assert sched2.get_last_lr() == sched.get_last_lr()


class RecordLR(Callback):
    def __init__(self):
        self.lrs = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.lrs.append([opt.param_groups[0]["lr"] for opt in trainer.optimizers])


# The demos whose schedule is the reference's per-epoch linear policy (other methods use per-iteration schedules).
LINEAR_DECAY_DEMOS = [demo for demo in DEMOS if "lit_translate.schedulers.LinearDecayLR" in demo.read_text()]


@pytest.mark.parametrize("demo", LINEAR_DECAY_DEMOS, ids=config_id)
def test_lr_at_epoch_boundaries_in_training(demo, tmp_path):
    args = [
        "-c",
        str(demo),
        *tiny_args(tmp_path, steps=2, epochs=4),
        "--model.init_args.lr_scheduler.init_args.n_epochs",
        "1",
        "--model.init_args.lr_scheduler.init_args.n_epochs_decay",
        "3",
    ]
    cli = run_cli(args)
    record = RecordLR()
    cli.trainer.callbacks.append(record)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    base = record.lrs[0]  # one per optimizer: TTUR methods (SPADE) start G and D at different rates
    for epoch, (lrs, factor) in enumerate(zip(record.lrs, (1.0, 0.75, 0.5, 0.25))):
        assert lrs == pytest.approx([lr * factor for lr in base]), f"epoch {epoch}: {lrs}"
    assert len(record.lrs) == 4
