"""``lit-translate predict``: sub-folders, name clashes, several targets, checkpoints outside their run (item 12).

A tiny Pix2Pix run is trained once for the module; CycleGAN (two targets) predicts from its demo config with
random weights, which is enough to test where the images go.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import CONFIGS, PIX2PIX_DEMO, tiny_args, write_image
from lightning.pytorch import Trainer
from PIL import Image

from lit_translate.callbacks import TranslationWriter
from lit_translate.cli import main
from lit_translate.data import PairedDataModule
from lit_translate.methods import Pix2Pix
from lit_translate.methods.base import TranslationModule

RNG = np.random.default_rng(12)
CPU = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("predict") / "run"
    main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(run, steps=1)])
    return run / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def model(checkpoint) -> Pix2Pix:
    return Pix2Pix.load_from_checkpoint(checkpoint, map_location="cpu")


def run_writer(model: TranslationModule, inputs: Path, out: Path, **writer) -> None:
    """What ``lit-translate predict`` runs, without the command-line parsing (the CLI is tested below)."""
    trainer = Trainer(
        accelerator="cpu",
        logger=False,
        callbacks=[TranslationWriter(str(out), **writer)],
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.predict(
        model, datamodule=PairedDataModule(predict_dir=str(inputs), num_workers=0), return_predictions=False
    )


def images(folder: Path, names: dict[str, tuple[int, int]]) -> Path:
    for name, (h, w) in names.items():
        write_image(folder / name, RNG.integers(0, 256, (h, w, 3), dtype=np.uint8))
    return folder


def predict(ckpt: Path | str | None, inputs: Path, out: Path, *extra: str, config: Path | None = None) -> None:
    start = ["predict", "--ckpt_path", str(ckpt)] if config is None else ["predict", "-c", str(config)]
    main([*start, "--data.init_args.predict_dir", str(inputs), "--predict_writer.output_dir", str(out), *CPU, *extra])


def written(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*.png"))


@pytest.fixture
def count_steps(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = TranslationModule.predict_step
    monkeypatch.setattr(TranslationModule, "predict_step", lambda self, b, i: calls.append(i) or real(self, b, i))
    return calls


def test_sub_folders_are_translated_into_the_same_sub_folders(checkpoint, tmp_path):
    names = {"top.png": (20, 24), "a/one.jpg": (16, 30), "a/b/two.png": (9, 13), ".hidden/skip.png": (8, 8)}
    out = tmp_path / "out"
    predict(checkpoint, images(tmp_path / "in", names), out)  # the command, from the run's config.yaml
    assert written(out) == ["a/b/two.png", "a/one.png", "top.png"]
    assert Image.open(out / "a" / "one.png").size == (30, 16)


def test_two_inputs_with_one_output_name_are_refused_before_any_inference(model, tmp_path, count_steps):
    inputs = images(tmp_path / "in", {f"{i:02d}.png": (8, 8) for i in range(11)} | {"photo.webp": (8, 8)})
    images(inputs, {"photo.tif": (8, 8), "sub/x.jpg": (8, 8), "sub/x.png": (8, 8)})
    out = tmp_path / "out"
    clashes = r"photo\.tif and photo\.webp -> photo\.png, sub/x\.jpg and sub/x\.png -> sub/x\.png"
    with pytest.raises(ValueError, match=rf"2 output name\(s\) .* several inputs .*: {clashes}; rename"):
        run_writer(model, inputs, out, overwrite=True)  # overwrite would silently drop one
    assert count_steps == [] and written(out) == []


def test_existing_outputs_are_refused_before_any_inference(model, tmp_path, count_steps):
    inputs = images(tmp_path / "in", {"a.png": (8, 8), "b.png": (8, 8)})
    out = tmp_path / "out"
    write_image(out / "b.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(
        FileExistsError, match=r"1 of the 2 outputs already exist .*out/b\.png; pass --predict_writer\.overwrite true"
    ):
        run_writer(model, inputs, out)
    assert count_steps == [] and written(out) == ["b.png"]
    run_writer(model, inputs, out, overwrite=True)
    assert written(out) == ["a.png", "b.png"] and Image.open(out / "b.png").size == (8, 8)


def test_a_checkpoint_copied_out_of_its_run_predicts_from_its_stored_arguments(checkpoint, model, tmp_path):
    alone = tmp_path / "models" / "pix2pix.ckpt"
    alone.parent.mkdir()
    shutil.copy(checkpoint, alone)
    (tmp_path / "config.yaml").write_text("junk: [")  # next to the copy's folder: not its run's, never read
    inputs = images(tmp_path / "in", {"x.png": (12, 20)})
    predict(alone, inputs, tmp_path / "out")
    x = torch.from_numpy(np.asarray(Image.open(inputs / "x.png"), np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    expected = ((model.translate_any_size(x)[0] + 1) * 127.5).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "out" / "x.png")), expected)


def test_a_missing_checkpoint_is_one_line_naming_it(tmp_path):
    missing = tmp_path / "nope" / "last.ckpt"
    for command in ("predict", "validate", "test"):  # exits with this line on stderr, before anything is built
        with pytest.raises(SystemExit) as info:
            main([command, "--ckpt_path", str(missing), "--data.init_args.predict_dir", str(tmp_path)])
        assert str(info.value) == f"error: checkpoint {missing} (--ckpt_path) does not exist"
    with pytest.raises(
        SystemExit, match=r"^error: --ckpt_path last needs the run's config: add -c RUN_DIR/config\.yaml"
    ):
        main(["predict", "--ckpt_path", "last"])


CYCLEGAN_DEMO = CONFIGS / "cyclegan" / "demo.yaml"


def test_several_targets_go_into_one_folder_each_and_direction_stays_an_alias(tmp_path):
    inputs = images(tmp_path / "in", {"a.png": (16, 16), "s/b.png": (12, 20)})
    both = ["--predict_writer.targets", "[AtoB, BtoA]", "--data.init_args.num_workers", "0"]
    predict(None, inputs, tmp_path / "both", *both, config=CYCLEGAN_DEMO)
    assert written(tmp_path / "both") == ["AtoB/a.png", "AtoB/s/b.png", "BtoA/a.png", "BtoA/s/b.png"]
    one = ["--predict_writer.direction", "BtoA", "--data.init_args.num_workers", "0"]
    predict(None, inputs, tmp_path / "one", *one, config=CYCLEGAN_DEMO)
    assert written(tmp_path / "one") == ["a.png", "s/b.png"]
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "one" / "a.png")), np.asarray(Image.open(tmp_path / "both" / "BtoA" / "a.png"))
    )


def test_default_predict_targets_is_the_first_target():
    model = Pix2Pix.__new__(Pix2Pix)
    assert Pix2Pix.default_predict_targets.fget(model) == ("AtoB",)


def test_an_output_folder_inside_the_inputs_is_refused_once_it_holds_images(model, tmp_path, count_steps):
    inputs = images(tmp_path / "in", {"a.png": (8, 8)})
    run_writer(model, inputs, inputs / "translated")  # first run: fine
    with pytest.raises(
        ValueError, match=r"1 input image\(s\) lie inside --predict_writer\.output_dir .*translated/a\.png"
    ):
        run_writer(model, inputs, inputs / "translated", overwrite=True)  # would translate its own outputs
    assert count_steps == [0]
