"""A fit that fails before training leaves no run behind, its retry just works; start over; only fit logs.

Issue 21, items 1, 2 and 9: a failed set-up (bad data, a missing pretrained file, a config the model refuses)
must not block the corrected command, ``make demo ARGS="--overwrite true"`` starts over, and ``test``,
``predict`` and failed fits add no TensorBoard file to the run directory.
"""

from __future__ import annotations

import re
import shlex
import subprocess

import numpy as np
import pytest
import torch
from conftest import PIX2PIX_DEMO, ROOT, tiny_args, write_image
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_translate.cli import main
from lit_translate.errors import InputError


class FailBeforeTraining(Callback):
    """Raise an :class:`InputError` in the sanity check: after every set-up hook, before the first step."""

    def on_sanity_check_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        raise InputError("injected: the model refuses this configuration")


FAIL = ["--trainer.callbacks+=test_retry.FailBeforeTraining", "--trainer.num_sanity_val_steps", "1"]


def fit_args(run, *extra: str, steps: int = 2, epochs: int = 1) -> list[str]:
    return ["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=steps, epochs=epochs), *extra]


def files(run) -> list[str]:
    return sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()) if run.exists() else []


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def fails(args: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2


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


def test_a_fit_that_fails_in_set_up_leaves_no_run_and_the_corrected_command_just_works(tmp_path, bad_data):
    run = tmp_path / "run"
    fails(fit_args(run, "--data.root", str(bad_data)))  # the data module's set-up
    assert files(run) == []
    fails(fit_args(run, *FAIL))  # after the loggers' and the model's set-up, before the first step
    assert files(run) == []
    main(fit_args(run))  # the corrected command: no "already holds a run"
    assert step_of(run / "checkpoints" / "last.ckpt") == 2
    assert len(list(run.glob("events.out.tfevents.*"))) == 1


def test_a_resume_that_fails_in_set_up_changes_nothing_of_the_run(tmp_path):
    run = tmp_path / "run"
    main(fit_args(run))
    before = {name: (run / name).read_bytes() for name in files(run)}
    fails(fit_args(run, *FAIL, "--ckpt_path", "last", "--trainer.max_epochs", "2"))
    assert {name: (run / name).read_bytes() for name in files(run)} == before  # config.yaml kept, no new log
    main(fit_args(run, "--ckpt_path", "last", "--trainer.max_epochs", "2"))
    assert step_of(run / "checkpoints" / "last.ckpt") == 4


def test_a_directory_with_a_run_that_trained_is_still_refused(tmp_path, capsys):
    """Nothing of a real run is lost: a run that trained but has no checkpoint yet is refused, not resumed."""
    run = tmp_path / "run"
    main(fit_args(run, "--trainer.log_every_n_steps", "1", "--trainer.enable_checkpointing", "false"))
    assert not (run / "checkpoints").exists() and (run / "metrics.csv").is_file()
    fails(fit_args(run))
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith(f"error: {run} already holds a run (config.yaml, metrics.csv")
    assert "it has no checkpoint to resume" in line and "--overwrite true" in line


def demo_command(*make_args: str) -> list[str]:
    """The ``lit-translate`` arguments that ``make demo`` runs (``make -n``: printed, not run)."""
    out = subprocess.run(["make", "-n", "demo", *make_args], capture_output=True, text=True, cwd=ROOT, check=True)
    line = next(line for line in out.stdout.splitlines() if "lit-translate fit" in line)
    return shlex.split(line.split("lit-translate", 1)[1])


def test_make_demo_with_overwrite_starts_over_as_the_readme_says(tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert 'make demo ARGS="--overwrite true"' in readme
    demo = demo_command("ARGS=--overwrite true")
    assert demo[:3] == ["fit", "-c", "configs/pix2pix/demo.yaml"] and demo[-2:] == ["--overwrite", "true"]
    run = tmp_path / "run"
    tiny = tiny_args(run, steps=2)
    main([*demo_command(), *tiny])  # make demo
    main([*demo_command(), *tiny, "--trainer.max_epochs", "2"])  # make demo again: continues
    assert step_of(run / "checkpoints" / "last.ckpt") == 4
    main([*demo[:-2], *tiny, *demo[-2:]])  # make demo ARGS="--overwrite true": starts over
    assert step_of(run / "checkpoints" / "last.ckpt") == 2
    assert len(list(run.glob("events.out.tfevents.*"))) == 1


def test_test_and_predict_add_no_tensorboard_file_to_the_run(tmp_path):
    run = tmp_path / "run"
    main(fit_args(run))
    ckpt = str(run / "checkpoints" / "last.ckpt")
    events = sorted(run.glob("events.out.tfevents.*"))
    cpu = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.enable_progress_bar", "false"]
    main(["test", "--ckpt_path", ckpt, *cpu, "--trainer.limit_test_batches", "1", "--data.num_workers", "0"])
    write_image(tmp_path / "in" / "a.png", np.zeros((16, 16, 3), dtype=np.uint8))
    predict = ["--data.init_args.predict_dir", str(tmp_path / "in"), "--predict_writer.output_dir"]
    main(["predict", "--ckpt_path", ckpt, *cpu, *predict, str(tmp_path / "out")])
    assert (tmp_path / "out" / "a.png").is_file() and any((run / "eval").iterdir())
    assert sorted(run.glob("events.out.tfevents.*")) == events


def test_the_readme_random_vgg_one_liner_writes_where_git_ignores_it():
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"torch\.save\(r\('vgg16'\), '([^']+)'\)", readme)
    assert match, "the README's random-VGG one-liner moved"
    path = match[1]
    assert f"--model.init_args.vgg_weights {path}" in readme
    ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
    assert ignored.returncode == 0, f"{path} (the README's random-VGG file) is not ignored by git"
