"""One run per directory: --ckpt_path last/auto, a second fit refused, --overwrite, non-resumable checkpoints."""

from __future__ import annotations

import csv

import pytest
import torch
from conftest import PIX2PIX_DEMO, tiny_args

from lit_translate.callbacks.checkpoint import NOT_RESUMABLE
from lit_translate.cli import main


def fit_args(run, *extra: str, steps: int = 2, epochs: int = 1) -> list[str]:
    return ["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=steps, epochs=epochs), *extra]


def error_line(capsys, args: list[str]) -> str:
    """Run the command, expect exit status 2 and return its one-line error."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines and lines[-1].startswith("error: "), lines
    return lines[-1]


def step_of(path) -> int:
    return torch.load(path, weights_only=True)["global_step"]


def test_a_second_fit_into_a_run_directory_is_refused_and_changes_nothing(tmp_path, capsys):
    run = tmp_path / "run"
    main(fit_args(run))
    before = {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()}
    line = error_line(capsys, fit_args(run, "--trainer.max_epochs", "2"))
    assert f"{run} already holds a run" in line
    assert "--ckpt_path last" in line and "--trainer.default_root_dir" in line and "--overwrite true" in line
    assert {p.name: p.stat().st_mtime_ns for p in run.rglob("*") if p.is_file()} == before


def test_overwrite_starts_a_clean_run_in_the_same_directory(tmp_path):
    run = tmp_path / "run"
    main(fit_args(run, "--trainer.log_every_n_steps", "1", steps=3))
    main(fit_args(run, "--trainer.log_every_n_steps", "1", "--overwrite", "true"))
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["last.ckpt"], checkpoints  # no last-v1.ckpt next to the old run's
    assert step_of(run / "checkpoints" / "last.ckpt") == 2
    assert len(list(run.glob("events.out.tfevents.*"))) == 1
    assert "overwrite: false" in (run / "config.yaml").read_text()  # an action, not a property of the run
    with open(run / "metrics.csv") as f:
        steps = {int(row["step"]) for row in csv.DictReader(f) if row.get("train/g_total")}
    assert steps == {0, 1}, f"logged steps {steps}: the earlier run's step 2 is still in metrics.csv"


def test_ckpt_path_last_with_nothing_to_resume_says_where_it_looked(tmp_path, capsys):
    line = error_line(capsys, fit_args(tmp_path / "run", "--ckpt_path", "last"))
    assert f"--ckpt_path last: nothing to resume, {tmp_path / 'run' / 'checkpoints'} does not exist" in line
    assert "--ckpt_path auto" in line
    assert "no such checkpoint file" in error_line(capsys, fit_args(tmp_path / "x", "--ckpt_path", "nope.ckpt"))


def test_ckpt_path_auto_starts_then_resumes(tmp_path):
    """What a job script submitted and requeued with the same command needs."""
    run = tmp_path / "run"
    main(fit_args(run, "--ckpt_path", "auto"))
    assert step_of(run / "checkpoints" / "last.ckpt") == 2
    main(fit_args(run, "--ckpt_path", "auto", "--trainer.max_epochs", "2"))
    assert step_of(run / "checkpoints" / "last.ckpt") == 4
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]


def test_a_checkpoint_marked_not_resumable_is_refused_naming_the_file(tmp_path, capsys):
    run = tmp_path / "run"
    main(fit_args(run))
    marked = run / "checkpoints" / "exception-epoch=000-step=0000001.ckpt"
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    checkpoint[NOT_RESUMABLE] = "written when training raised RuntimeError inside iteration 1"
    torch.save(checkpoint, marked)
    line = error_line(capsys, fit_args(run, "--ckpt_path", str(marked), "--trainer.max_epochs", "2"))
    assert f"--ckpt_path {marked}: this checkpoint cannot resume training exactly" in line
    assert "inside iteration 1" in line and "--ckpt_path last" in line
