"""Short method-specific help, a progress bar that respects max_steps, and what a finished run says.

Issue 21, item 10.
"""

from __future__ import annotations

import logging

import pytest
from conftest import PIX2PIX_DEMO, ROOT, run_cli, tiny_args

from lit_translate.cli import main


def help_text(capsys, args: list[str]) -> str:
    try:
        main(args)
    except SystemExit as exit_info:
        assert exit_info.code in (0, None)
    return capsys.readouterr().out


def test_fit_help_with_a_recipe_is_short_and_shows_the_method_and_its_nets(capsys):
    text = help_text(capsys, ["fit", "-c", str(PIX2PIX_DEMO), "--help"])
    assert len(text.splitlines()) < 150, len(text.splitlines())
    assert "method: lit_translate.methods.Pix2Pix" in text
    assert "generator              lit_translate.nets.UnetGenerator" in text
    assert "num_downs              6  (default 8)" in text  # the recipe's value and the default
    assert "lambda_l1              100.0" in text and "every_n_epochs         3" in text
    for value in ("last", "auto", "hpc"):
        assert f"  {value}   " in text, value
    assert "--help all" in text


def test_fit_help_without_a_recipe_lists_methods_and_recipes_briefly(capsys):
    text = help_text(capsys, ["fit", "--help"])
    assert len(text.splitlines()) < 80 and "configs/pix2pix/demo.yaml" in text and "--model.help METHOD" in text


def test_model_help_lists_the_method_arguments_not_every_module(capsys):
    text = help_text(capsys, ["fit", "--model.help", "Pix2Pix"])
    assert "torch.nn.Linear" not in text and len(text.splitlines()) < 40
    assert "gan_mode               vanilla" in text and "generator              (required)" in text


def test_help_all_is_lightning_cli_full_help(capsys):
    text = help_text(capsys, ["fit", "--help", "all"])
    assert len(text.splitlines()) > 500 and "--trainer.max_epochs" in text


def test_the_progress_bar_total_and_step_respect_max_steps(tmp_path):
    args = ["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "run", steps=6), "--trainer.max_steps", "2"]
    cli = run_cli([*args, "--trainer.enable_progress_bar", "true"], run=True)
    bar = cli.trainer.progress_bar_callback
    assert bar.train_progress_bar.total == 2 and bar.train_progress_bar.n == 2  # not 2/6
    assert bar.get_metrics(cli.trainer, cli.model)["step"] == "2/2"


def test_a_finished_run_says_so_and_how_to_train_longer(tmp_path, caplog):
    args = ["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "run", steps=2), "--ckpt_path", "auto"]
    main(args)
    with caplog.at_level(logging.INFO):
        main(args)  # run again (make demo twice): nothing left to train
    assert "finished:         epoch 1 of 1 (--trainer.max_epochs)" in caplog.text
    assert "train longer:     the same command plus --ckpt_path last --trainer.max_epochs 2" in caplog.text
    assert "resume with" not in caplog.text
    assert f"last checkpoint:  {tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}" in caplog.text


def test_the_readme_and_the_demo_agree_on_the_checkpoint_interval():
    readme = (ROOT / "README.md").read_text()
    assert "every_n_epochs: 3" in (ROOT / "configs" / "pix2pix" / "demo.yaml").read_text()
    assert "(every 3 epochs in the demo" in readme and "every 5 epochs)" not in readme


def test_a_finished_run_whose_learning_rate_reached_zero_says_to_start_a_longer_run(tmp_path, caplog):
    schedule = ["--model.init_args.lr_scheduler.init_args.n_epochs", "1"]
    schedule += ["--model.init_args.lr_scheduler.init_args.n_epochs_decay", "0"]  # lr 0 after epoch 0
    with caplog.at_level(logging.INFO):
        main(["fit", "-c", str(PIX2PIX_DEMO), *tiny_args(tmp_path / "run", steps=2), *schedule])
    assert "train longer:     its learning rate schedule has ended (lr 0): start a longer run" in caplog.text
    assert "--ckpt_path last --trainer.max_epochs" not in caplog.text


def test_model_help_of_an_unknown_method_is_one_error_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model.help", "Pix2Pox"])
    assert exit_info.value.code == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("error: --model.help Pix2Pox: no such method; the methods: ") and "Pix2Pix" in line
    assert "CycleGAN, " in line and "StarGAN" in line
