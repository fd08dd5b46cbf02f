"""``lit-translate wandb-sync RUN_DIR``: upload a run's offline W&B folders as one continuous W&B run.

An offline fit writes ``RUN_DIR/wandb/offline-run-<time>-<id>``; every resume (``--ckpt_path``, a requeued SLURM
job) writes another folder with the same run id, whose W&B ``_step`` starts again at 0 while
``trainer/global_step`` (the iteration count, the x-axis W&B plots, see ``docs/distributed.md``) goes on. Synced
in the wrong order, or without the resume mark, a later folder replaces the history of the earlier ones
(wandb issues #5865, #3841). This command syncs each run's folders one by one in the order they were written:

- wandb >= 0.30 (``wandb sync`` without ``--append``): each folder is synced as it is; a resumed fit marks its
  folder as resuming (``resume: allow``, the lit_translate default), and W&B appends it to the run;
- older wandb (``wandb sync --append``): the first folder as it is, the later ones with ``--id ID --append``.

It reads the folders' ``.wandb`` files itself (their run record and ``trainer/global_step`` range), refuses a
later folder that is not marked as resuming (it would replace the history; ``--force`` syncs anyway), pauses
between folders of one run (W&B counts the rows it received asynchronously), and stops at the first failure.
``--dry-run`` prints the plan and the exact commands and needs no network.

Usage: ``lit-translate wandb-sync RUN_DIR [--dry-run] [--project P] [--entity E] [--pause S] [--force]``, or
``python -m lit_translate.run.wandb_sync RUN_DIR ...``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HEADER = struct.Struct("<4sHB")  # b":W&B", 0xBEE1, version 0
CHUNK = struct.Struct("<IHB")  # crc32(type + data), length, type (1 full, 2 first, 3 middle, 4 last)
BLOCK = 32768  # chunks never cross a block boundary; a tail shorter than a chunk header is padding
STEP_KEY = "trainer/global_step"


def read_records(path: str | Path) -> Iterator[object]:
    """Yield the ``wandb_internal_pb2.Record`` messages of a ``.wandb`` transaction log, in order.

    The format is LevelDB's log (wandb 0.31 has no Python reader of its own): 32 KiB blocks of chunks, each with
    a CRC-32 of its type byte and data. Reading stops at the first incomplete or corrupt chunk: the tail that a
    killed process left half written.
    """
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    if len(data) < HEADER.size or HEADER.unpack_from(data)[:2] != (b":W&B", 0xBEE1):
        raise ValueError(f"{path} is not a W&B transaction log (.wandb file)")
    pos, pending = HEADER.size, b""
    while pos + CHUNK.size <= len(data):
        left = BLOCK - pos % BLOCK
        if left < CHUNK.size:
            pos += left
            continue
        crc, length, kind = CHUNK.unpack_from(data, pos)
        chunk = data[pos + CHUNK.size : pos + CHUNK.size + length]
        if kind == 0 or len(chunk) < length or zlib.crc32(bytes([kind]) + chunk) != crc:
            return
        pos += CHUNK.size + length
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


@dataclass
class OfflineFolder:
    """What an offline W&B folder holds, read from its ``.wandb`` file.

    Attributes:
        path: the ``offline-run-<time>-<id>`` folder.
        run_id, project, entity: the W&B run it belongs to.
        start_time: when the process started (microseconds since the epoch; orders the folders of one run).
        resume: whether the run was started as resuming (``resume: allow``/``must``): W&B then appends it.
        steps: the first and last ``trainer/global_step`` logged, or None (no history).
        synced: whether ``wandb sync`` already uploaded it (a ``.wandb.synced`` marker).
    """

    path: Path
    run_id: str
    project: str
    entity: str
    start_time: int
    resume: bool
    steps: tuple[int, int] | None
    synced: bool


def scan(folder: str | Path) -> OfflineFolder:
    """Read the run record and the ``trainer/global_step`` range of an offline W&B folder."""
    folder = Path(folder)
    files = sorted(folder.glob("*.wandb"))
    if not files:
        raise ValueError(f"{folder} has no .wandb file: not a W&B run folder")
    run, first, last = None, None, None
    for record in read_records(files[0]):
        kind = record.WhichOneof("record_type")
        if kind == "run" and run is None:
            run = record.run
        elif kind == "history":
            for item in record.history.item:
                if (item.key or "/".join(item.nested_key)) == STEP_KEY:
                    step = int(json.loads(item.value_json))
                    first = step if first is None else first
                    last = step
    if run is None:
        raise ValueError(f"{files[0]} holds no run record (the process died before W&B started)")
    return OfflineFolder(
        path=folder,
        run_id=run.run_id,
        project=run.project,
        entity=run.entity,
        start_time=run.start_time.ToMicroseconds(),
        resume=run.resume,
        steps=None if first is None else (first, last),
        synced=files[0].with_suffix(".wandb.synced").exists(),
    )


def offline_folders(run_dir: str | Path) -> list[OfflineFolder]:
    """Return the offline W&B folders of a run directory (or of a ``wandb/`` folder), by run id, then start time."""
    run_dir = Path(run_dir)
    wandb_dir = run_dir / "wandb" if (run_dir / "wandb").is_dir() else run_dir
    folders = [scan(path) for path in sorted(wandb_dir.glob("offline-run-*")) if path.is_dir()]
    return sorted(folders, key=lambda folder: (folder.run_id, folder.start_time))


def supports_append() -> bool:
    """Whether the installed ``wandb sync`` has ``--append`` (the legacy sync, wandb < 0.30)."""
    from wandb.cli import cli

    return any("--append" in option.opts for option in cli.sync.params)


def wandb_command() -> list[str]:
    """Return the command that runs the wandb CLI of this Python environment."""
    return [sys.executable, "-m", "wandb"]


def plan(folders: list[OfflineFolder], append: bool, options: list[str]) -> list[tuple[OfflineFolder, list[str]]]:
    """Return ``(folder, wandb sync command)`` for each folder not yet synced, in the order to run them.

    Args:
        folders: :func:`offline_folders` output (sorted by run id, then start time).
        append: the legacy ``--append`` sync (see :func:`supports_append`).
        options: extra ``wandb sync`` options (``--project P``, ``--entity E``).
    """
    steps = []
    for index, folder in enumerate(folders):
        if folder.synced:
            continue
        later = index > 0 and folders[index - 1].run_id == folder.run_id
        extra = ["--id", folder.run_id, "--append"] if append and later else []
        steps.append((folder, [*wandb_command(), "sync", *options, *extra, str(folder.path)]))
    return steps


def describe(folders: list[OfflineFolder], append: bool) -> tuple[list[str], list[str]]:
    """Return the plan's lines and its problems (later folders that would replace the earlier history)."""
    lines, problems = [], []
    for index, folder in enumerate(folders):
        later = index > 0 and folders[index - 1].run_id == folder.run_id
        if not later:
            lines.append(f"W&B run {folder.run_id} (project {folder.project or '?'}):")
        steps = "no history" if folder.steps is None else f"{STEP_KEY} {folder.steps[0]}..{folder.steps[1]}"
        role = "appends to the run" if later else "creates or continues the run"
        lines.append(f"  {folder.path.name}  {steps}  {'already synced' if folder.synced else role}")
        previous = folders[index - 1] if later else None
        if previous and previous.steps and folder.steps and folder.steps[0] <= previous.steps[1]:
            lines.append(
                f"    note: iterations {folder.steps[0]}..{previous.steps[1]} were logged again after a resume from "
                "an earlier checkpoint (W&B shows both; metrics.csv keeps only the resumed ones)"
            )
        if later and not folder.synced and not folder.resume and not append:
            problems.append(
                f"{folder.path} was not started as a resumed W&B run (resume: allow): syncing it would replace "
                f"the history of {folder.run_id} synced before it. Pass --force to sync it anyway."
            )
    return lines, problems


def main(argv: list[str] | None = None) -> int:
    """Run ``wandb-sync``; return the exit status."""
    parser = argparse.ArgumentParser(prog="lit-translate wandb-sync", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="the run directory (trainer.default_root_dir) or its wandb/")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the commands, sync nothing")
    parser.add_argument("--project", "-p", help="upload into this W&B project instead of the recorded one")
    parser.add_argument("--entity", "-e", help="upload into this W&B entity instead of the recorded one")
    parser.add_argument("--pause", type=float, default=10.0, help="seconds between folders of one run (10)")
    parser.add_argument("--force", action="store_true", help="sync folders that would replace earlier history")
    args = parser.parse_args(argv)
    if not args.run_dir.is_dir():
        parser.error(f"{args.run_dir} is not a directory")
    folders = offline_folders(args.run_dir)
    if not folders:
        print(f"No offline W&B folders in {args.run_dir} (looked for {args.run_dir}/wandb/offline-run-*).")
        return 0
    append = supports_append()
    options = [*(["--project", args.project] if args.project else []), *(["-e", args.entity] if args.entity else [])]
    lines, problems = describe(folders, append)
    print("\n".join(lines))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems and not args.force:
        return 2
    return run(plan(folders, append, options), args.dry_run, args.pause)


def run(steps: list[tuple[OfflineFolder, list[str]]], dry_run: bool, pause: float) -> int:
    """Print and (unless ``dry_run``) run the sync commands in order; stop at the first failure."""
    if not steps:
        print("Nothing to sync: every folder is already synced.")
        return 0
    previous = None
    for folder, command in steps:
        print(f"$ {shlex.join(command)}", flush=True)
        if dry_run:
            continue
        if previous is not None and previous.run_id == folder.run_id:
            time.sleep(pause)  # W&B counts the received rows asynchronously; the next folder appends after them
        status = subprocess.run(command, check=False).returncode
        if status == 0 and not any(folder.path.glob("*.wandb.synced")):
            status = 1  # e.g. not logged in: wandb sync says so and exits 0
            print(f"error: {folder.path} was not marked as synced by wandb (logged in? `wandb login`)", file=sys.stderr)
        if status != 0:
            print(f"error: wandb sync failed ({status}) for {folder.path}; later folders not synced", file=sys.stderr)
            return status
        previous = folder
    return 0


__all__ = ["OfflineFolder", "main", "offline_folders", "plan", "read_records", "scan", "supports_append"]

if __name__ == "__main__":
    raise SystemExit(main())
