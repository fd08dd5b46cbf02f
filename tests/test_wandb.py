"""W&B runs (offline): resume into the run of the restored checkpoint, one continuous history, full config, CSV.

Everything here runs with ``WANDB_MODE=offline`` (``conftest.offline_wandb``) and reads what W&B wrote with
:func:`lit_translate.wandb_sync.read_records`: no network, no account.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import wandb
from conftest import CONFIGS, PIX2PIX_DEMO, tiny_args
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger, WandbLogger

from lit_translate import wandb_sync
from lit_translate.callbacks import RunCheckpoint
from lit_translate.cli import main
from lit_translate.loggers import WANDB_CONFIG_FILE, RunCSVLogger, resume_wandb_run
from lit_translate.trainer import RunTrainer, run_loggers
from lit_translate.wandb_sync import OfflineFolder, describe, offline_folders, plan, read_records

WANDB_YAML = str(CONFIGS / "trainer" / "wandb.yaml")


def history(folder: Path) -> list[dict]:
    """The history rows of an offline W&B folder, values decoded."""
    rows = []
    for record in read_records(next(folder.glob("*.wandb"))):
        if record.WhichOneof("record_type") == "history":
            rows.append({i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item})
    return rows


def run_config(folder: Path) -> dict:
    """The W&B run config an offline folder records (later updates win)."""
    config = {}
    for record in read_records(next(folder.glob("*.wandb"))):
        if record.WhichOneof("record_type") == "config":
            config.update({i.key: json.loads(i.value_json) for i in record.config.update})
    return config


def x_axis(folder: Path) -> str | None:
    """The step metric W&B plots every metric against ("*" glob), as the folder defines it."""
    for record in read_records(next(folder.glob("*.wandb"))):
        if record.WhichOneof("record_type") == "metric" and record.metric.glob_name == "*":
            return record.metric.step_metric
    return None


def end_wandb_service() -> None:
    """End the run and stop W&B's service process, as the end of a real fit's process does.

    ``wandb.finish()`` alone can return before the service has written the ``.wandb`` file (it writes
    asynchronously), so a test reading the file at once could find only its header; ``teardown`` waits for the
    service to exit, which closes the file.
    """
    wandb.finish()
    wandb.teardown()


def test_offline_resume_writes_one_continuous_run_that_wandb_sync_appends(tmp_path, capsys):
    """Fit, resume: same id, both folders marked resumable, iterations continue, full config, CSV, lr/G + lr/D.

    The checkpoints live outside the run directory (``--checkpoint.dirpath``): the W&B id must come from the
    checkpoint Lightning restores, not from ``<run dir>/checkpoints/last.ckpt``.
    """
    run = tmp_path / "run"
    base = ["fit", "-c", WANDB_YAML, "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=3), "--samples.num_samples", "0"]
    base += ["--trainer.log_every_n_steps", "1", "--checkpoint.dirpath", str(tmp_path / "ckpts")]
    main(base)
    end_wandb_service()
    main([*base, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    end_wandb_service()

    folders = offline_folders(run)
    assert len(folders) == 2 and folders[0].run_id == folders[1].run_id, [f.path.name for f in folders]
    assert all(folder.resume for folder in folders), "a folder not marked as resuming replaces the history on sync"
    steps = [[row["trainer/global_step"] for row in history(f.path) if "train/g_total" in row] for f in folders]
    assert steps == [[0, 1, 2], [3, 4, 5]], f"iterations must continue across the resume: {steps}"
    assert [x_axis(f.path) for f in folders] == ["trainer/global_step"] * 2
    assert [folder.steps for folder in folders] == [(0, 2), (3, 5)]

    config = run_config(folders[1].path)
    assert {"trainer", "model", "data", "checkpoint", "metrics", "samples"} <= set(config), sorted(config)
    assert config["trainer"]["max_epochs"] == 2 and config["ckpt_path"] == "last"
    attached = [folder.path / "files" / WANDB_CONFIG_FILE for folder in folders]
    assert ["max_epochs: 1" in p.read_text() for p in attached] == [True, False], "each folder keeps its config"

    with open(run / "metrics.csv") as f:
        columns = set(next(csv.reader(f)))
    assert {"lr/G", "lr/D"} <= columns and not any(c.startswith("lr-") for c in columns), sorted(columns)
    lrs = {row.get("lr/G") for row in history(folders[0].path)} - {None}
    assert lrs, "the learning rates go to W&B too"

    commands = [command for _, command in plan(folders, append=False, options=[])]
    assert [c[-1] for c in commands] == [str(f.path) for f in folders] and not any("--append" in c for c in commands)
    assert wandb_sync.main([str(run), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.count("-m wandb sync") == 2 and "3..5" in out


def fake_checkpoint(path: Path, run_id: str, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"callbacks": {"RunCheckpoint{}": {"wandb_run_id": run_id}}}, path)
    os.utime(path, (mtime, mtime))
    return path


@pytest.fixture
def wandb_trainer(tmp_path):
    """A RunTrainer with a W&B logger whose run has not started, and checkpoints from four W&B runs."""
    ckpts = tmp_path / "elsewhere"
    fake_checkpoint(ckpts / "last.ckpt", "older", 1_000_000)
    fake_checkpoint(ckpts / "last-v1.ckpt", "newest", 2_000_000)  # Lightning's "last" is the newest last*.ckpt
    fake_checkpoint(tmp_path / "hpc_ckpt_2.ckpt", "hpc", 1_000_000)
    fake_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", "wrong", 3_000_000)  # not what fit restores
    logger = WandbLogger(save_dir=str(tmp_path))
    trainer = RunTrainer(
        default_root_dir=str(tmp_path),
        logger=logger,
        callbacks=[RunCheckpoint(dirpath=str(ckpts))],
        accelerator="cpu",
        enable_progress_bar=False,
    )
    return SimpleNamespace(trainer=trainer, logger=logger, root=tmp_path)


@pytest.mark.parametrize(
    ("ckpt_path", "expected"), [("last", "newest"), ("hpc", "hpc"), ("hpc_ckpt_2.ckpt", "hpc"), (None, None)]
)
def test_fit_resumes_the_wandb_run_of_the_checkpoint_lightning_restores(wandb_trainer, ckpt_path, expected):
    if ckpt_path and ckpt_path.endswith(".ckpt"):
        ckpt_path = str(wandb_trainer.root / ckpt_path)
    assert resume_wandb_run(wandb_trainer.trainer, ckpt_path) == expected
    assert wandb_trainer.logger.version == expected
    assert wandb_trainer.logger._experiment is None, "the W&B run must not start before fit"


def test_an_explicit_wandb_id_is_kept(tmp_path):
    fake_checkpoint(tmp_path / "c" / "last.ckpt", "from-ckpt", 1_000_000)
    logger = WandbLogger(save_dir=str(tmp_path), id="mine")
    trainer = RunTrainer(
        default_root_dir=str(tmp_path), logger=logger, callbacks=[RunCheckpoint(dirpath=str(tmp_path / "c"))]
    )
    assert resume_wandb_run(trainer, "last") is None and logger.version == "mine"


def test_a_wandb_only_config_still_writes_metrics_csv(tmp_path):
    wandb_logger = WandbLogger(save_dir=str(tmp_path))
    loggers = run_loggers(wandb_logger, str(tmp_path))
    assert loggers[0] is wandb_logger and isinstance(loggers[1], RunCSVLogger) and len(loggers) == 2
    assert not loggers[1].resume_truncates, "outside fit the CSV logger only appends"
    csv_logger = CSVLogger(str(tmp_path))
    assert run_loggers([wandb_logger, csv_logger], str(tmp_path)) == [wandb_logger, csv_logger]
    assert run_loggers(False, str(tmp_path)) is False
    default = run_loggers(None, str(tmp_path))
    assert [type(one) for one in default] == [TensorBoardLogger, RunCSVLogger]


def test_reader_reads_records_across_blocks_and_stops_at_a_torn_tail(tmp_path):
    """The .wandb reader against a file wandb wrote itself: > 32 KiB (chunks split over blocks), then truncated."""
    run = wandb.init(project="t", dir=str(tmp_path), mode="offline")
    for step in range(400):
        run.log({"loss": step / 7, "text": "x" * 200})  # ~90 KiB: several blocks, FIRST/MIDDLE/LAST chunks
    run.finish()
    path = next(tmp_path.glob("wandb/offline-run-*/*.wandb"))
    assert path.stat().st_size > 3 * wandb_sync.BLOCK
    losses = [row["loss"] for row in history(path.parent)]
    assert losses == [step / 7 for step in range(400)]
    torn = tmp_path / "torn" / path.name
    torn.parent.mkdir()
    torn.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    partial = [r for r in read_records(torn) if r.WhichOneof("record_type") == "history"]
    assert 0 < len(partial) < 400
    with pytest.raises(ValueError, match="not a W&B transaction log"):
        list(read_records(PIX2PIX_DEMO))


def folder(name: str, run_id: str, start: int, resume: bool = True, steps=(0, 9), synced: bool = False):
    return OfflineFolder(Path(f"wandb/{name}"), run_id, "p", "", start, resume, steps, synced)


def test_plan_syncs_each_runs_folders_oldest_first_and_appends_with_legacy_wandb():
    folders = [folder("a1", "a", 1), folder("a2", "a", 2, steps=(10, 19)), folder("b1", "b", 1)]
    new = plan(folders, append=False, options=["--project", "q"])
    assert [c[-1] for _, c in new] == ["wandb/a1", "wandb/a2", "wandb/b1"]
    assert all(c[:4] == [sys.executable, "-m", "wandb", "sync"] and "--append" not in c for _, c in new)
    legacy = plan(folders, append=True, options=[])
    assert [c[4:-1] for _, c in legacy] == [[], ["--id", "a", "--append"], []]
    synced = [folder("a1", "a", 1, synced=True), folder("a2", "a", 2, steps=(10, 19))]
    assert [c[-1] for _, c in plan(synced, append=False, options=[])] == ["wandb/a2"]


def test_describe_refuses_a_later_folder_that_would_replace_the_history_and_notes_overlaps():
    lines, problems = describe([folder("a1", "a", 1), folder("a2", "a", 2, resume=False, steps=(5, 12))], False)
    assert len(problems) == 1 and "a2" in problems[0] and "--force" in problems[0]
    assert any("iterations 5..9 were logged again" in line for line in lines)
    assert describe([folder("a1", "a", 1, resume=False), folder("a2", "a", 2, steps=(10, 12))], False)[1] == []


def test_sync_stops_when_a_folder_is_not_marked_synced(tmp_path, monkeypatch, capsys):
    """wandb sync exits 0 when it cannot log in: the next folder must wait for the .wandb.synced marker."""
    calls = []

    def fake_run(command, check):
        calls.append(command[-1])
        if len(calls) == 1:  # the first upload succeeds and wandb marks the file as synced
            (Path(command[-1]) / "run-a.wandb.synced").touch()
        return SimpleNamespace(returncode=0)

    monkeypatch.setattr(wandb_sync.subprocess, "run", fake_run)
    steps = []
    for index, name in enumerate(("a1", "a2", "a3")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "run-a.wandb").write_bytes(b"")
        steps.append(
            (
                OfflineFolder(tmp_path / name, "a", "p", "", index, True, None, False),
                ["wandb", "sync", str(tmp_path / name)],
            )
        )
    assert wandb_sync.run(steps, dry_run=False, pause=0) == 1
    assert calls == [str(tmp_path / "a1"), str(tmp_path / "a2")], "a3 must not be synced before a2 is"
    assert "a2 was not marked as synced" in capsys.readouterr().err


def test_build_schedulers_names_the_learning_rates_by_network():
    from lit_translate.methods.base import TranslationModule

    module = TranslationModule()
    optimizers = [torch.optim.Adam([torch.nn.Parameter(torch.ones(1))]) for _ in range(2)]

    def factory(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda epoch: 1.0)

    named = module.build_schedulers(factory, optimizers, names=("G", "D"))
    assert [(c["name"], c["interval"]) for c in named] == [("lr/G", "epoch"), ("lr/D", "epoch")]
    assert [c["scheduler"].optimizer for c in named] == optimizers
    stepped = module.build_schedulers(factory, optimizers, "step", names=("G", "D"))
    assert [(c["name"], c["interval"]) for c in stepped] == [("lr/G", "step"), ("lr/D", "step")]
    assert not any(isinstance(s, dict) for s in module.build_schedulers(factory, optimizers)), "unnamed: unchanged"
    with pytest.raises(ValueError, match="1 names"):
        module.build_schedulers(factory, optimizers, names=("G",))
