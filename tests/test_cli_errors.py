"""Every bad-input error before training ends the same way: ``error: <message>``, exit status 2, no traceback.

Issue 21, item 3: wherever an :class:`~lit_translate.errors.InputError` is raised (the config, the data
module's set-up scan, a pretrained file, a predict output folder, a model's set-up), also under DDP.
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import CONFIGS, PIX2PIX_DEMO, ROOT, tiny_args, write_image
from faults import fault_env
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_translate.cli import main
from lit_translate.data.scan import DataScanError
from lit_translate.errors import InputError
from lit_translate.pretrained.weights import WeightsChecksumError, WeightsUnavailableError
from lit_translate.run.config_checks import TRACEBACK_ENV, ConfigError


class FailInSetup(Callback):
    """Raise an :class:`InputError` from a set-up hook inside ``trainer.fit`` (as a method's checks do)."""

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        raise InputError("injected: label size 5 does not match c_dim 3; set --model.init_args.c_dim 5")


@pytest.fixture
def bad_data(tmp_path):
    """An aligned dataset whose train split has an empty PNG (the set-up scan refuses it)."""
    rng = np.random.default_rng(0)
    root = tmp_path / "bad_data"
    for split in ("train", "val"):
        for i in range(2):
            write_image(root / split / f"{i}.png", rng.integers(0, 255, (32, 64, 3), dtype=np.uint8))
    (root / "train" / "empty.png").write_bytes(b"")
    return root


def lit_translate(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "lit_translate", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=fault_env(), timeout=timeout)


def test_the_user_error_classes_are_input_errors():
    for error in (ConfigError, DataScanError, WeightsUnavailableError, WeightsChecksumError):
        assert issubclass(error, InputError), error
    assert issubclass(WeightsUnavailableError, RuntimeError)  # what callers caught before


def test_a_data_error_is_one_error_line_and_exit_status_2_as_typed(tmp_path, bad_data):
    out = lit_translate("fit", "-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "run"), "--data.root", str(bad_data))
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: 1 of the 3 files of {bad_data / 'train'} cannot be used (checked before training):"]


def test_an_input_error_inside_trainer_fit_is_one_line_and_the_traceback_is_opt_in(tmp_path, capsys, monkeypatch):
    args = [
        "fit",
        "-c",
        str(PIX2PIX_DEMO),
        *tiny_args(tmp_path / "run"),
        "--trainer.callbacks+=test_cli_errors.FailInSetup",
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines[-1] == "error: injected: label size 5 does not match c_dim 3; set --model.init_args.c_dim 5"
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(InputError, match="injected: label size 5"):
        main(args)


def test_a_missing_checkpoint_exits_with_status_2(tmp_path, capsys):
    missing = tmp_path / "nope" / "last.ckpt"
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "--ckpt_path", str(missing)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint {missing} (--ckpt_path) does not exist"


def test_under_ddp_a_data_error_prints_once_and_ends_every_rank_promptly(tmp_path, bad_data):
    start = time.monotonic()
    out = lit_translate(
        "fit",
        "-c",
        str(CONFIGS / "trainer" / "ddp.yaml"),
        "-c",
        str(PIX2PIX_DEMO),
        *tiny_args(tmp_path / "run"),
        "--trainer.devices",
        "2",
        "--data.root",
        str(bad_data),
        timeout=240,
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert [line for line in out.stderr.splitlines() if line.startswith("error: ")] == [
        f"error: 1 of the 3 files of {bad_data / 'train'} cannot be used (checked before training):"
    ]
    assert "Traceback" not in out.stderr
    assert time.monotonic() - start < 120


def test_an_input_error_in_predict_set_up_is_one_line(tmp_path, capsys):
    """As a predict output folder that exists (the writer's check, in its set-up hook)."""
    run = tmp_path / "run"
    main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=1)])
    write_image(tmp_path / "in" / "a.png", np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "predict",
                "--ckpt_path",
                str(run / "checkpoints" / "last.ckpt"),
                "--data.init_args.predict_dir",
                str(tmp_path / "in"),
                "--predict_writer.output_dir",
                str(tmp_path / "out"),
                "--trainer.callbacks+=test_cli_errors.FailInSetup",
            ]
        )
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: injected: label size 5")
    assert len(list(run.glob("events.out.tfevents.*"))) == 1 and not (tmp_path / "out").exists()
