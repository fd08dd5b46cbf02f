"""The README's commands on a finished run, without ``-c``, for every demo (so no method can break them again).

``lit-translate predict --ckpt_path RUN/checkpoints/last.ckpt --data.init_args.predict_dir IN
--predict_writer.output_dir OUT`` and ``lit-translate test --ckpt_path RUN/checkpoints/last.ckpt``: the run's
``config.yaml`` rebuilds the model and the data, and LightningCLI re-applies the checkpoint's hyper-parameters
(the StarGAN demo once failed here: the label names it learnt clashed with the DataModule's ``domains``).
Run in-process through ``lit_translate.cli.main`` (the exit status is its ``SystemExit``), with loggers on as a
user has them, on the tiny run that ``tests/test_methods.py``'s ``trained`` fixture fits for each demo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from conftest import write_image
from test_methods import trained  # noqa: F401  (the fitted run of each demo: a fixture, used by name)

from lit_translate.cli import main


def inputs(folder: Path, count: int = 2, size: int = 32, datamodule: object = None) -> Path:
    """Write predict inputs: RGB images, or grayscale class ids where the DataModule's ``A`` is a label map."""
    rng = np.random.default_rng(3)
    label_map = getattr(datamodule, "batch_kinds", {}).get("A") == "label_map"
    shape, high = ((size, size), getattr(datamodule, "label_nc", 1)) if label_map else ((size, size, 3), 256)
    for index in range(count):
        write_image(folder / f"in{index}.png", rng.integers(0, high, shape, dtype=np.uint8))
    return folder


def run_command(args: list[str]) -> None:
    """Run ``lit-translate ARGS`` in-process; fail with the exit status if it exits with one."""
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"lit-translate {' '.join(args)} exited with {exc.code}"


def test_predict_from_last_checkpoint_without_config(trained, tmp_path):  # noqa: F811
    cli, _, run, _ = trained
    source, out = inputs(tmp_path / "in", datamodule=cli.datamodule), tmp_path / "out"
    ckpt = run / "checkpoints" / "last.ckpt"
    run_command(
        ["predict", "--ckpt_path", str(ckpt), "--data.init_args.predict_dir", str(source)]
        + ["--predict_writer.output_dir", str(out)]
    )
    written = sorted(out.rglob("*.png"))
    targets = cli.model.default_predict_targets
    assert len(written) == 2 * len(targets), f"expected every input into {targets}: {written}"


def test_test_from_last_checkpoint_without_config(trained):  # noqa: F811
    _, _, run, steps = trained
    before = set((run / "eval").glob("*")) if (run / "eval").is_dir() else set()
    run_command(["test", "--ckpt_path", str(run / "checkpoints" / "last.ckpt")])
    reports = sorted(set((run / "eval").glob("test-step*")) - before)
    assert len(reports) == 1 and (reports[0] / "metrics.json").is_file(), reports
    assert f"step{steps:07d}" in reports[0].name
