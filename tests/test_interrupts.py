"""Ctrl-C and SIGTERM: checkpoint at the next iteration boundary, stop, resume bit-exactly; a second Ctrl-C aborts.

The signals are sent to the run's whole process group (the run and its DataLoader workers), as a terminal's
Ctrl-C, ``kill -TERM -PGID`` or a batch system does, by a fault callback at a given step; each run is a
``python -m lit_translate`` subprocess in its own session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import CONFIGS, PIX2PIX_DEMO, ROOT, tiny_args
from faults import fault_env
from test_resume import COMPARED, EPOCHS, STEPS_PER_EPOCH, assert_same, logged_losses

from lit_translate.callbacks.preemption import Interrupts, Preemption, exit_status

DDP = CONFIGS / "trainer" / "ddp.yaml"


def run(run_dir: Path, *extra: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """The resume tests' pix2pix run (2 epochs x 8 iterations, 2 workers), in its own session."""
    args = [
        sys.executable,
        "-m",
        "lit_translate",
        "fit",
        "-c",
        str(PIX2PIX_DEMO),
        *tiny_args(run_dir, steps=STEPS_PER_EPOCH, epochs=EPOCHS),
        "--data.num_workers",
        "2",
        "--trainer.deterministic",
        "true",
        "--trainer.log_every_n_steps",
        "1",
        "--checkpoint.every_n_epochs",
        "1",
        *extra,
    ]
    env = fault_env()
    return subprocess.run(
        args, capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout, start_new_session=True
    )


def signal_at(step: int, signum: int = signal.SIGINT, **options: object) -> list[str]:
    args = ["--trainer.callbacks+=faults.SignalGroupAtStep", f"--trainer.callbacks.init_args.step={step}"]
    args.append(f"--trainer.callbacks.init_args.signum={int(signum)}")
    return args + [f"--trainer.callbacks.init_args.{key}={value}" for key, value in options.items()]


def last_step(run_dir: Path) -> int:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    out = run(run_dir)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return run_dir


def assert_resumes_to(reference: Path, run_dir: Path) -> None:
    resumed = run(run_dir, "--ckpt_path", "last")
    assert resumed.returncode == 0, (resumed.stdout + resumed.stderr)[-4000:]
    expected = torch.load(reference / "checkpoints" / "last.ckpt", weights_only=True)
    actual = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    assert actual["global_step"] == STEPS_PER_EPOCH * EPOCHS
    for key in COMPARED:
        assert_same(expected.get(key), actual.get(key), key)
    assert logged_losses(run_dir) == logged_losses(reference)


def test_ctrl_c_checkpoints_after_the_iteration_stops_with_130_and_resumes_bit_exactly(uninterrupted, tmp_path):
    """Ctrl-C during iteration 11 (mid-epoch, workers running): last.ckpt holds step 11, the run ends 130."""
    run_dir = tmp_path / "run"
    out = run(run_dir, *signal_at(10))
    log = out.stdout + out.stderr
    assert out.returncode == 130, log[-4000:]
    assert "Traceback" not in log and "Ctrl-C: stopping after this iteration" in log
    assert "SIGINT received: checkpointing at step 11 (now) and stopping" in log and "stopped by:       SIGINT" in log
    assert last_step(run_dir) == 11
    assert_resumes_to(uninterrupted, run_dir)


@pytest.mark.slow
def test_ctrl_c_in_the_last_iteration_of_an_epoch_resumes_bit_exactly(uninterrupted, tmp_path):
    """The stop lands on the epoch's last batch: saved after validation and the epoch-end scheduler step."""
    run_dir = tmp_path / "run"
    out = run(run_dir, *signal_at(STEPS_PER_EPOCH - 1))
    assert out.returncode == 130, (out.stdout + out.stderr)[-4000:]
    assert f"checkpointing at step {STEPS_PER_EPOCH} (at the end of this epoch)" in out.stdout + out.stderr
    assert last_step(run_dir) == STEPS_PER_EPOCH
    assert_resumes_to(uninterrupted, run_dir)


def test_sigterm_checkpoints_and_stops_with_143_instead_of_lightnings_exception(tmp_path):
    """``kill -TERM`` (scancel, docker stop): one checkpoint after the iteration, no traceback, status 143."""
    run_dir = tmp_path / "run"
    out = run(run_dir, *signal_at(5, signal.SIGTERM), "--checkpoint.save_on_exception", "true")
    log = out.stdout + out.stderr
    assert out.returncode == 143, log[-4000:]
    assert "Traceback" not in log and "SIGTERMException" not in log
    assert "SIGTERM received: checkpointing at step 6 (now) and stopping" in log
    assert last_step(run_dir) == 6
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]  # no second save


def test_second_ctrl_c_aborts_at_once_keeping_the_last_checkpoint(tmp_path):
    run_dir, stamp = tmp_path / "run", tmp_path / "second_signal"
    out = run(
        run_dir,
        *signal_at(5, times=2, after=30, stamp=stamp),
        "--checkpoint.every_n_train_steps",
        "2",
        "--checkpoint.save_on_exception",
        "true",
    )
    ended = time.time()
    log = out.stdout + out.stderr
    assert out.returncode == 130, log[-4000:]
    assert ended - float(stamp.read_text()) < 20, "the second Ctrl-C did not abort at once"  # 30 s pause otherwise
    assert "aborted by Ctrl-C; the checkpoints written before are kept" in log and "Traceback" not in log
    assert last_step(run_dir) == 4  # the periodic save before the abort; nothing written at the abort
    assert not list((run_dir / "checkpoints").glob("exception-*"))


# ------------------------------------------------------------------------------------------- in process
def test_interrupts_first_sigint_asks_to_stop_the_second_raises():
    interrupts, before = Interrupts(), signal.getsignal(signal.SIGINT)
    assert interrupts.install()
    try:
        signal.raise_signal(signal.SIGINT)  # not armed (e.g. while the data is scanned): aborts
    except KeyboardInterrupt:
        pass
    else:
        pytest.fail("an unarmed Ctrl-C must raise")
    interrupts.arm()
    signal.raise_signal(signal.SIGINT)
    assert interrupts.pending and not interrupts.aborted
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)
    assert interrupts.aborted
    interrupts.restore()
    assert signal.getsignal(signal.SIGINT) is before


def test_forked_worker_ignores_the_signals():
    """A DataLoader worker (forked) inherits the handlers and ignores them: the main process decides."""
    interrupts, callback = Interrupts(), Preemption()
    interrupts.install()
    previous = signal.signal(signal.SIGTERM, callback._handle_term)
    try:
        pid = os.fork()
        if pid == 0:  # the "worker"
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGTERM)
            os._exit(0 if not callback.terminated and interrupts.count == 0 else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupts.restore()


def test_exit_status_is_128_plus_the_signal_and_0_after_a_requeue():
    assert exit_status("SIGINT") == 130 and exit_status("SIGTERM") == 143
    callback = Preemption()
    assert callback.exit_status is None
    callback.stopped_by = "SIGUSR1"
    assert callback.exit_status == 0
    callback.stopped_by = "SIGTERM"
    assert callback.exit_status == 143
    assert Preemption(signal_name="SIGTERM").stop_signals == ("SIGINT",)  # the requeue signal requeues
    with pytest.raises(ValueError, match="unknown signal 'SIGFOO'"):
        Preemption(stop_signals=("SIGFOO",))


@pytest.mark.slow
def test_a_sigterm_to_one_ddp_rank_stops_every_rank_at_the_same_step(tmp_path):
    """Only rank 1 is signalled: the per-iteration all-reduce makes both ranks checkpoint once and stop."""
    run_dir = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "lit_translate",
        "fit",
        "-c",
        str(DDP),
        "-c",
        str(PIX2PIX_DEMO),
        *tiny_args(run_dir, steps=6),
        "--trainer.devices",
        "2",
        *signal_at(1, signal.SIGTERM, rank=1, group="false"),
    ]
    out = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, env=fault_env(), timeout=600)
    log = out.stdout + out.stderr
    assert out.returncode == 143, log[-4000:]
    assert "SIGTERM received: checkpointing at step 2 (now) and stopping" in log and "Traceback" not in log
    assert last_step(run_dir) == 2
