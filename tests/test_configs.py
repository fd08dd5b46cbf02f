"""Every YAML under configs/ parses and instantiates through the CLI (recipes alone, trainer files composed)."""

from __future__ import annotations

import pytest
from conftest import DEMOS, RECIPES, TRAINER_CONFIGS, config_id, run_cli

from lit_translate.methods.base import TranslationModule


@pytest.mark.parametrize("recipe", RECIPES, ids=config_id)
def test_recipe_instantiates(recipe, tmp_path):
    cli = run_cli(["-c", str(recipe), "--trainer.default_root_dir", str(tmp_path)])
    assert isinstance(cli.model, TranslationModule)
    assert cli.trainer.checkpoint_callback is not None
    assert cli.trainer.checkpoint_callback.dirpath == str(tmp_path / "checkpoints")
    assert "#" in recipe.read_text().splitlines()[0], "a recipe starts with a header comment (paper + command)"


@pytest.mark.parametrize("trainer_config", TRAINER_CONFIGS, ids=config_id)
def test_trainer_config_composes_with_a_recipe(trainer_config, tmp_path):
    args = ["-c", str(trainer_config), "-c", str(DEMOS[0]), "--trainer.default_root_dir", str(tmp_path)]
    cli = run_cli([*args, "--trainer.accelerator", "cpu"])
    assert isinstance(cli.model, TranslationModule)


def test_later_config_files_win(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("trainer:\n  max_epochs: 3\n")
    args = ["-c", str(first), "-c", str(DEMOS[0]), "--trainer.default_root_dir", str(tmp_path)]
    demo_epochs = run_cli(args).trainer.max_epochs
    assert demo_epochs != 3
    assert run_cli([*args, "--trainer.max_epochs", "5"]).trainer.max_epochs == 5


def test_single_optimizer_flag_is_rejected(tmp_path):
    # Automatic optimizer arguments would replace the method's two optimizers with one.
    with pytest.raises(SystemExit):
        run_cli(["-c", str(DEMOS[0]), "--optimizer", "Adam", "--trainer.default_root_dir", str(tmp_path)])


@pytest.mark.parametrize("recipe", RECIPES, ids=config_id)
def test_recipes_rank_checkpoints_on_validation_metrics_only(recipe, tmp_path):
    """Never a test metric (mmagic's leak); an image metric is monitored only in epochs where it is computed."""
    from lit_translate.evaluation import TranslationMetrics
    from lit_translate.evaluation.metrics import METRIC_NAMES

    cli = run_cli(["-c", str(recipe), "--trainer.default_root_dir", str(tmp_path)])
    checkpoint = cli.trainer.checkpoint_callback
    if checkpoint.monitor is None:
        return
    assert checkpoint.monitor.startswith("val/"), f"{recipe.name} ranks checkpoints on {checkpoint.monitor}"
    if checkpoint.monitor.split("/", 1)[1].split("_")[0] in METRIC_NAMES:
        (metrics,) = [cb for cb in cli.trainer.callbacks if isinstance(cb, TranslationMetrics)]
        assert metrics.enabled and metrics.every_n_epochs == checkpoint._every_n_epochs
