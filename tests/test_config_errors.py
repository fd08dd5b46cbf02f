"""Configuration mistakes end with one line naming the key (exit status 2), checked before training starts."""

from __future__ import annotations

from typing import get_args

import pytest
from conftest import CONFIGS, PIX2PIX_DEMO, tiny_args

from lit_translate.cli import main
from lit_translate.config_checks import TRACEBACK_ENV, ConfigError, explain_parse_error
from lit_translate.losses import _OBJECTIVES, GanMode
from lit_translate.nets.blocks import _NORM_LAYERS, _PADDING_LAYERS, Norm, PaddingType
from lit_translate.nets.init import _INITIALISERS, InitType

CYCLEGAN_DEMO = CONFIGS / "cyclegan" / "demo.yaml"


def error_of(capsys, tmp_path, *extra: str, recipe=PIX2PIX_DEMO) -> str:
    """Run ``fit`` with ``extra``; expect status 2, nothing trained, one line on stderr and no traceback."""
    run = tmp_path / "run"
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "-c", str(recipe), *tiny_args(run), *extra])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err[-3000:]
    assert not (run / "checkpoints").exists(), "training started"
    return lines[0]


def test_misspelt_keys_get_a_did_you_mean(capsys, tmp_path):
    line = error_of(capsys, tmp_path, "--model.init_args.lamda_l1", "10")
    assert line == "error: model.init_args.lamda_l1: unknown option 'lamda_l1' of Pix2Pix (did you mean 'lambda_l1'?)"
    line = error_of(capsys, tmp_path, "--trainer.maxepochs", "3")
    assert line == "error: unknown option --trainer.maxepochs (did you mean --trainer.max_epochs?)"
    config = tmp_path / "typo.yaml"
    config.write_text("chekpoint:\n  every_n_epochs: 3\n")
    line = error_of(capsys, tmp_path, "-c", str(config))
    assert line == "error: chekpoint.every_n_epochs: unknown key (did you mean 'checkpoint.every_n_epochs'?)"


@pytest.mark.parametrize(
    ("flag", "key", "value", "close"),
    [
        ("--model.init_args.gan_mode", "model.init_args.gan_mode", "lsgn", "lsgan"),
        ("--model.init_args.gen_ab.init_args.norm", "model.init_args.gen_ab.init_args.norm", "instanse", "instance"),
        (
            "--model.init_args.disc_a.init_args.init_type",
            "model.init_args.disc_a.init_args.init_type",
            "xavir",
            "xavier",
        ),
    ],
)
def test_an_unknown_choice_names_the_key_and_the_choices(capsys, tmp_path, flag, key, value, close):
    line = error_of(capsys, tmp_path, flag, value, recipe=CYCLEGAN_DEMO)
    assert line.startswith(f"error: {key} must be one of ")
    assert f"got {value!r} (did you mean {close!r}?)" in line


def test_an_unknown_method_class_lists_the_methods(capsys, tmp_path):
    line = error_of(capsys, tmp_path, "--model.class_path", "lit_translate.methods.Pix2Pixx")
    assert line.startswith("error: model.class_path: cannot import 'lit_translate.methods.Pix2Pixx'")
    assert "(did you mean 'lit_translate.methods.Pix2Pix'?)" in line
    listed = line.split("available methods: ", 1)[1].split(", ")
    import lit_translate.methods as methods

    expected = sorted(f"lit_translate.methods.{name}" for name in methods.__all__ if name[0].isupper())
    assert sorted(listed) == [e for e in expected if not e.endswith("TranslationModule")], listed
    line = error_of(capsys, tmp_path, "--model.class_path", "lit_translate.nets.UnetGenerator")
    assert "lit_translate.nets.UnetGenerator is not a TranslationModule; available methods:" in line


def test_a_negative_learning_rate_names_the_optimizer_key(capsys, tmp_path):
    line = error_of(capsys, tmp_path, "--model.init_args.optimizer_d.init_args.lr", "-0.0002")
    assert line == "error: model.init_args.optimizer_d.init_args.lr: Invalid learning rate: -0.0002 (Adam)"


def test_a_crop_size_the_unet_cannot_take_names_crop_size_and_the_multiple(capsys, tmp_path):
    line = error_of(capsys, tmp_path, "--data.init_args.crop_size", "48")  # the demo's U-Net: 2**6 = 64
    assert line == (
        "error: data.init_args.crop_size=48 does not fit the generator: UnetGenerator (for 'AtoB') needs height "
        "and width divisible by 64; use a multiple of 64, e.g. 64"
    )


def test_input_channels_that_do_not_match_the_generator(capsys, tmp_path):
    line = error_of(capsys, tmp_path, "--data.init_args.input_channels", "1")
    assert line.startswith("error: data.init_args.input_channels=1 does not match the generator: UnetGenerator")
    assert "takes 3-channel images (its in_channels)" in line


def test_the_traceback_is_one_environment_variable_away(monkeypatch, tmp_path):
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(ConfigError, match="did you mean 'lambda_l1'"):
        main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "run"), "--model.init_args.lamda_l1", "10"])


def test_choices_are_literal_types_that_match_the_implementations():
    """``--help`` lists the choices because the constructors are typed with these Literals."""
    assert get_args(GanMode) == tuple(_OBJECTIVES)
    assert get_args(Norm) == tuple(_NORM_LAYERS)
    assert get_args(PaddingType) == tuple(_PADDING_LAYERS)
    assert get_args(InitType) == tuple(_INITIALISERS)


def test_explain_parse_error_keeps_unknown_messages_on_one_line():
    message = 'Parser key "model":\n  Errors:\n    - Something new went wrong\n  Given value: x'
    assert explain_parse_error(message) == "model: Something new went wrong"


def test_help_names_the_project_the_methods_and_the_recipes(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    out = capsys.readouterr()
    assert exit_info.value.code == 0 and "Warning" not in out.err, out.err
    assert out.out.startswith("usage: lit-translate")
    assert "lit_translate: conditional image-to-image translation" in out.out
    assert "lit_translate.methods.Pix2Pix" in out.out and "lit_translate.methods.CycleGAN" in out.out
    assert "configs/pix2pix/facades.yaml" in out.out and "configs/cyclegan/horse2zebra.yaml" in out.out
