"""StarGAN as a user meets it (issue 21 items 3 and 7) and the predict writer's input errors.

One tiny StarGAN run on a folder-per-domain dataset (AFHQ's layout, 48 px images, 3 domains) is fitted for the
module through ``lit-translate fit``; ``test --data.test_split val`` must report the ``val`` split, predict can
resize its outputs back to the input size, and a fit never warns "lr_scheduler.step() before optimizer.step()".
User errors before step 0 are :class:`~lit_translate.errors.InputError` naming the keys.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import CONFIGS, run_cli, tiny_args, write_image
from lightning.pytorch import Trainer
from PIL import Image

from lit_translate.callbacks import TranslationWriter
from lit_translate.callbacks.writer import OutputsExistError
from lit_translate.cli import main
from lit_translate.data import DomainFolderDataModule
from lit_translate.errors import InputError
from lit_translate.methods import StarGAN

DEMO = CONFIGS / "stargan" / "demo.yaml"
DOMAINS = ("cat", "dog", "wild")
SCHEDULER_WARNING = "Detected call of `lr_scheduler.step()` before `optimizer.step()`"


def domain_folders(root: Path, size: int = 48) -> Path:
    rng = np.random.default_rng(5)
    for split in ("train", "val", "test"):
        for domain in DOMAINS:
            for index in range(2):
                write_image(root / split / domain / f"{index}.png", rng.integers(0, 256, (size, size, 3), np.uint8))
    return root


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> tuple[Path, Path, list[str]]:
    """Fit 3 iterations (one G step at n_critic 2) with the demo recipe on a 3-domain folder; record warnings."""
    tmp = tmp_path_factory.mktemp("stargan_usability")
    data, run = domain_folders(tmp / "data"), tmp / "run"
    args = [*tiny_args(run, steps=3), "--data.root", str(data)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        main(["fit", "-c", str(DEMO), *args])
    return run / "checkpoints" / "last.ckpt", data, [str(w.message) for w in caught]


def test_a_stargan_fit_does_not_warn_about_the_scheduler_order(fitted):
    ckpt, _, messages = fitted
    assert ckpt.is_file()
    assert not [m for m in messages if SCHEDULER_WARNING in m], "the scheduler-order warning is back"


def test_test_on_another_split_reports_that_split(fitted):
    ckpt, _, _ = fitted
    run = ckpt.parent.parent
    main(["test", "--ckpt_path", str(ckpt), "--data.test_split", "val"])
    (report,) = sorted((run / "eval").glob("test-step*"))
    assert json.loads((report / "metrics.json").read_text())["split"] == "val"
    text = (report / "report.md").read_text()
    assert "| split | val |" in text and "val split" in text and "test split" not in text


def test_predict_writes_the_training_size_or_resizes_back_to_each_input(fitted, tmp_path):
    ckpt, _, _ = fitted
    source = tmp_path / "in"
    write_image(source / "wide.png", np.full((40, 64, 3), 128, np.uint8))
    for resize, expected in (("false", (32, 32)), ("true", (64, 40))):
        out = tmp_path / f"out_{resize}"
        main(
            ["predict", "--ckpt_path", str(ckpt), "--data.init_args.predict_dir", str(source)]
            + ["--predict_writer.output_dir", str(out), "--predict_writer.resize_to_input", resize]
        )
        sizes = {Image.open(p).size for p in out.rglob("*.png")}
        assert sizes == {expected}, (resize, sizes)
        assert sorted(p.parent.name for p in out.rglob("*.png")) == sorted(DOMAINS)


def test_a_c_dim_mismatch_names_both_nets_keys_before_step_0(tmp_path):
    wrong = ["--model.init_args.generator.init_args.c_dim", "5", "--model.init_args.discriminator.init_args.c_dim", "4"]
    cli = run_cli(["-c", str(DEMO), *tiny_args(tmp_path / "run", steps=1), *wrong])
    with pytest.raises(InputError) as info:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    message = str(info.value)
    assert "\n" not in message and cli.trainer.global_step == 0
    assert "model.init_args.generator.init_args.c_dim is 5 (set c_dim: 3)" in message, message
    assert "model.init_args.discriminator.init_args.c_dim is 4 (set c_dim: 3)" in message, message


def test_unknown_targets_and_existing_outputs_are_input_errors(fitted, tmp_path):
    ckpt, data, _ = fitted
    model = StarGAN.load_from_checkpoint(ckpt, map_location="cpu")
    source = data / "test" / "cat"

    def predict(**writer) -> None:
        trainer = Trainer(
            accelerator="cpu",
            logger=False,
            callbacks=[TranslationWriter(**writer)],
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        datamodule = DomainFolderDataModule(image_size=32, predict_dir=str(source), num_workers=0)
        trainer.predict(model, datamodule=datamodule, return_predictions=False)

    with pytest.raises(InputError, match=r"--predict_writer\.targets must be one of 'cat', 'dog', 'wild'; got 'fox'"):
        predict(output_dir=str(tmp_path / "a"), targets=["fox"])
    with pytest.raises(InputError, match=r"--predict_writer\.output_dir"):
        predict()
    predict(output_dir=str(tmp_path / "b"), targets=["dog"])
    with pytest.raises(OutputsExistError, match=r"2 of the 2 outputs already exist") as info:
        predict(output_dir=str(tmp_path / "b"), targets=["dog"])
    assert isinstance(info.value, InputError) and isinstance(info.value, FileExistsError)
    with pytest.raises(InputError, match=r"unknown target domain 'fox'"):
        model.resolve_target("fox")


def test_the_report_names_the_datamodules_split_for_each_stage():
    from types import SimpleNamespace

    from lit_translate.evaluation.report import _split_name

    def trainer(splits: dict | None, has_val: bool = True, root: str | None = "data") -> SimpleNamespace:
        datamodule = SimpleNamespace(splits=splits, root=root, has_split=lambda split: has_val)
        return SimpleNamespace(datamodule=datamodule if splits is not None else None)

    assert _split_name(trainer({"test": "val", "val": None}), "test") == "val"
    assert _split_name(trainer({"test": "test", "val": None}), "val") == "val"
    assert _split_name(trainer({"test": "test", "val": None}, has_val=False), "val") == "test"  # the fallback
    assert _split_name(trainer({"test": "test", "val": None}, root=None), "val") == "val"  # synthetic data
    assert _split_name(trainer(None), "test") == "test"  # no DataModule
