"""Behaviour every method must have, discovered from ``configs/<method>/demo.yaml``.

Adding ``configs/<new method>/demo.yaml`` puts a new method under all of these tests.
"""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import DEMOS, config_id, run_cli, tiny_args

from lit_translate.methods.base import TranslationModule


def child_params(module: torch.nn.Module) -> dict[str, list[torch.Tensor]]:
    return {
        name: [p.detach().clone() for p in child.parameters()]
        for name, child in module.named_children()
        if any(True for _ in child.parameters())
    }


@pytest.fixture(scope="module", params=DEMOS, ids=config_id)
def trained(request, tmp_path_factory):
    """Fit a demo recipe for 3 iterations; return (cli, initial parameters per network, run dir)."""
    tmp_path = tmp_path_factory.mktemp(config_id(request.param).replace("/", "_"))
    cli = run_cli(["-c", str(request.param), *tiny_args(tmp_path / "run", steps=3)])
    before = child_params(cli.model)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, before, tmp_path / "run"


def test_every_network_changes_and_losses_are_finite(trained):
    cli, before, _ = trained
    after = child_params(cli.model)
    assert set(before) == set(after) and len(before) >= 2
    for name, params in before.items():
        changed = any(not torch.equal(p0, p1) for p0, p1 in zip(params, after[name]))
        assert changed, f"network {name} did not change after 3 iterations"
    losses = {k: v for k, v in cli.trainer.logged_metrics.items() if k.startswith("train/")}
    assert any(k.startswith("train/g_") for k in losses) and any(k.startswith("train/d_") for k in losses)
    for key, value in losses.items():
        assert torch.isfinite(value).all(), f"{key} is not finite: {value}"


def test_global_step_counts_iterations(trained):
    cli, _, _ = trained
    # 3 batches with two optimizers each: Lightning alone would report 6 (issue #17958).
    assert cli.trainer.global_step == 3


def test_checkpoint_round_trip_reproduces_translate(trained):
    cli, _, run = trained
    path = run / "checkpoints" / "last.ckpt"
    assert path.is_file()
    ckpt = torch.load(path, weights_only=True, map_location="cpu")  # no pickled objects in checkpoints
    assert ckpt["global_step"] == 3
    model = cli.model
    loaded = type(model).load_from_checkpoint(path, map_location="cpu")
    assert isinstance(loaded, TranslationModule)
    batch = next(iter(cli.datamodule.val_dataloader()))
    for direction in model.directions:
        torch.manual_seed(0)
        expected = model.translate(batch["A"], direction)
        torch.manual_seed(0)
        actual = loaded.translate(batch["A"], direction)
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_inference_does_not_change_the_model(trained):
    cli, _, _ = trained
    model = cli.model
    state = copy.deepcopy(model.state_dict())
    batch = next(iter(cli.datamodule.val_dataloader()))
    for mode in ("train", "eval"):
        model.inference_mode = mode
        out = model.translate(batch["A"], model.directions[0])
        assert out.shape[-2:] == batch["A"].shape[-2:] and out.abs().max() <= 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"translate() changed {key}"


def test_validation_translates_each_batch_once_for_losses_and_metrics(trained, monkeypatch):
    """validation_step's translation is the one the metrics see: evaluation_pairs runs once per batch."""
    from lit_translate.evaluation import TranslationMetrics

    cli, _, _ = trained
    model, calls = cli.model, []
    original = model.evaluation_pairs

    def counted(batch):
        pairs = original(batch)
        calls.append(pairs)
        return pairs

    monkeypatch.setattr(model, "evaluation_pairs", counted)
    cli.trainer.validate(model, datamodule=cli.datamodule, verbose=False)
    (metrics,) = [cb for cb in cli.trainer.callbacks if isinstance(cb, TranslationMetrics)]
    batches = cli.trainer.num_val_batches[0]
    assert len(calls) == batches >= 1
    translated = {tag: sum(pairs[tag][0].shape[0] for pairs in calls) for tag in calls[0]}
    assert metrics.num_images == translated, "the metrics did not get the step's images"
    assert any(k.startswith("val/") for k in cli.trainer.callback_metrics)


def test_sample_grid_and_run_files(trained):
    cli, _, run = trained
    assert (run / "config.yaml").is_file()
    assert (run / "samples" / "latest.png").is_file()
    assert (run / "metrics.csv").is_file()


@pytest.mark.parametrize("demo", DEMOS, ids=config_id)
def test_bf16_mixed_precision_trains(demo, tmp_path):
    cli = run_cli(["-c", str(demo), *tiny_args(tmp_path / "run", steps=2), "--trainer.precision", "bf16-mixed"])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 2
    losses = {k: v for k, v in cli.trainer.logged_metrics.items() if k.startswith("train/")}
    assert losses and all(torch.isfinite(v).all() for v in losses.values()), losses
    assert all(p.dtype == torch.float32 for p in cli.model.parameters()), "mixed precision keeps fp32 weights"
