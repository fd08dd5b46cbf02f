"""Checkpoint retention and save_on_exception: last + best + a bounded number of periodic files; exact or refused."""

from __future__ import annotations

import pytest
import torch
from conftest import PIX2PIX_DEMO, tiny_args
from test_resume import COMPARED, assert_same

from lit_translate.callbacks.checkpoint import NOT_RESUMABLE, RunCheckpoint, periodic_name_pattern
from lit_translate.cli import main


def fit(run, *extra: str, steps: int = 6, epochs: int = 1) -> None:
    main(
        [
            "fit",
            "-c",
            str(PIX2PIX_DEMO),
            *tiny_args(run, steps=steps, epochs=epochs),
            "--checkpoint.every_n_epochs",
            "0",
            "--checkpoint.every_n_train_steps",
            "1",
            *extra,
        ]
    )


def steps_in(folder) -> dict[str, int]:
    return {p.name: torch.load(p, weights_only=True)["global_step"] for p in sorted(folder.glob("*.ckpt"))}


def test_only_the_newest_periodic_checkpoints_are_kept_with_last(tmp_path):
    run = tmp_path / "run"
    fit(run, "--checkpoint.keep_periodic", "2")
    assert steps_in(run / "checkpoints") == {
        "epoch=000-step=0000005.ckpt": 5,
        "epoch=000-step=0000006.ckpt": 6,
        "last.ckpt": 6,
    }


def test_files_of_an_earlier_process_of_the_run_count(tmp_path):
    """The first process keeps every checkpoint; the resumed one, keeping 2, deletes the first one's files too."""
    run = tmp_path / "run"
    fit(run, "--checkpoint.keep_periodic", "-1", steps=3)
    assert sorted(steps_in(run / "checkpoints").values()) == [1, 2, 3, 3]
    notes = run / "checkpoints" / "my-notes.ckpt"  # not a name the callback writes: never touched
    notes.write_bytes(b"x")
    fit(run, "--checkpoint.keep_periodic", "2", "--ckpt_path", "last", steps=3, epochs=2)
    assert notes.read_bytes() == b"x"
    notes.unlink()
    assert steps_in(run / "checkpoints") == {
        "epoch=001-step=0000005.ckpt": 5,
        "epoch=001-step=0000006.ckpt": 6,
        "last.ckpt": 6,
    }


def test_the_best_checkpoint_is_never_deleted(tmp_path):
    """keep_periodic 0 with a monitor: only last.ckpt and the best epoch's checkpoint remain."""
    run = tmp_path / "run"
    main(
        [
            "fit",
            "-c",
            str(PIX2PIX_DEMO),
            *tiny_args(run, steps=2, epochs=3),
            "--checkpoint.every_n_epochs",
            "1",
            "--checkpoint.monitor",
            "val/l1",
            "--checkpoint.mode",
            "max",  # the worst L1 is the "best": an early epoch, not the newest file
            "--checkpoint.keep_periodic",
            "0",
        ]
    )
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [s for key, s in last["callbacks"].items() if key.startswith("RunCheckpoint")]
    files = sorted(p.name for p in (run / "checkpoints").glob("*.ckpt"))
    assert files == sorted(["last.ckpt", state["best_model_path"].rsplit("/", 1)[-1]]), files


def test_periodic_name_pattern_matches_what_the_callback_writes_and_nothing_else():
    pattern = periodic_name_pattern("{epoch:03d}-{step:07d}")
    assert pattern.fullmatch("epoch=004-step=0001000.ckpt") and pattern.fullmatch("epoch=004-step=0001000-v1.ckpt")
    for other in ("last.ckpt", "last-v1.ckpt", "exception-epoch=000-step=0000003.ckpt", "epoch=1.ckpt", "x.ckpt"):
        assert not pattern.fullmatch(other), other
    assert periodic_name_pattern("{epoch}-{val/l1:.3f}") is None  # sub-folders: left alone
    with pytest.raises(ValueError, match="keep_periodic must be >= -1"):
        RunCheckpoint(keep_periodic=-2)


def test_an_exception_inside_an_iteration_writes_a_marked_copy_and_leaves_last_alone(tmp_path, capsys):
    """An error inside the iteration after step 3 (today: saved as last.ckpt, which resumes an iteration off)."""
    run = tmp_path / "run"
    raise_at_3 = ["--trainer.callbacks+=faults.RaiseAtStep", "--trainer.callbacks.init_args.step=3"]
    with pytest.raises(RuntimeError, match="injected failure"):
        fit(
            run,
            *raise_at_3,
            "--trainer.callbacks.init_args.rank=0",
            "--checkpoint.every_n_train_steps",
            "2",
            "--checkpoint.save_on_exception",
            "true",
        )
    marked = run / "checkpoints" / "exception-epoch=000-step=0000003.ckpt"
    assert steps_in(run / "checkpoints") == {"epoch=000-step=0000002.ckpt": 2, marked.name: 3, "last.ckpt": 2}
    reason = torch.load(marked, weights_only=True)[NOT_RESUMABLE]
    assert "RuntimeError inside the iteration after step 3" in reason
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=6), "--ckpt_path", str(marked)])
    assert exit_info.value.code == 2 and f"--ckpt_path {marked}: this checkpoint cannot" in capsys.readouterr().err


def test_an_exception_between_iterations_saves_an_exact_last_checkpoint(tmp_path):
    """An unreadable sample met right after iteration 4: last.ckpt at step 4 resumes like an unbroken run."""
    every = ("--checkpoint.every_n_train_steps", "3", "--checkpoint.save_on_exception", "true")
    reference, run = tmp_path / "reference", tmp_path / "run"
    fit(reference, *every, "--trainer.log_every_n_steps", "1", steps=8, epochs=2)
    broken = ["--trainer.callbacks+=faults.BreakDataAfterStep", "--trainer.callbacks.init_args.step=4"]
    with pytest.raises(ValueError, match="injected failure"):
        fit(run, *every, "--trainer.log_every_n_steps", "1", *broken, steps=8, epochs=2)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert not list((run / "checkpoints").glob("exception-*"))
    fit(run, *every, "--trainer.log_every_n_steps", "1", "--ckpt_path", "last", steps=8, epochs=2)
    expected = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    for key in COMPARED:
        assert_same(expected.get(key), actual.get(key), key)
