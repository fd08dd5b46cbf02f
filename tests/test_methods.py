"""Behaviour every method must have, discovered from ``configs/<method>/demo.yaml`` (and the test template).

Adding ``configs/<new method>/demo.yaml`` puts a new method under all of these tests. The tests ask the method
what it trains (its optimizers' parameters), logs (one ``train/<prefix>_*`` group per optimizer), translates into
(``targets``) and how large its output is (``output_scale``); nothing assumes two networks or a discriminator.
"""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest
import torch
from conftest import DEMOS, ROOT, config_id, run_cli, tiered, tiny_args

from lit_translate.methods.base import TranslationModule


def optimizer_params(model: TranslationModule) -> list[list[torch.nn.Parameter]]:
    """The parameters each optimizer trains (the method's trained networks)."""
    optimizers = model.optimizers()
    optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
    return [[p for group in opt.param_groups for p in group["params"]] for opt in optimizers]


def snapshot(model: TranslationModule) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.fixture(scope="module", params=DEMOS, ids=config_id)
def trained(request, tmp_path_factory):
    """Fit a demo recipe until every optimizer stepped (3 iterations, or one update cycle); return the results."""
    tmp_path = tmp_path_factory.mktemp(config_id(request.param).replace("/", "_"))
    probe = run_cli(["-c", str(request.param), *tiny_args(tmp_path / "probe")]).model
    steps = max(3, probe.update_cycle)
    cli = run_cli(["-c", str(request.param), *tiny_args(tmp_path / "run", steps=steps)])
    before = snapshot(cli.model)
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, before, tmp_path / "run", steps


def test_every_trained_network_changes_and_nothing_else(trained):
    cli, before, _, _ = trained
    model = cli.model
    groups = optimizer_params(model)
    assert groups and all(groups), "every method has at least one optimizer with parameters"
    trained_ids = {id(p) for group in groups for p in group}
    for index, group in enumerate(groups):
        changed = [name for name, p in model.named_parameters() if id(p) in {id(q) for q in group}]
        moved = [name for name in changed if not torch.equal(before[name], dict(model.named_parameters())[name])]
        assert moved, f"optimizer {index} trained none of its {len(changed)} parameters"
    averaged = model.averaged_parameter_names()  # EMA copies: in no optimizer, updated after each step by design
    for name, param in model.named_parameters():
        if name in averaged:
            assert id(param) not in trained_ids and not param.requires_grad, f"{name} is averaged and trained"
        elif id(param) not in trained_ids:
            assert torch.equal(before[name], param), f"{name} is in no optimizer but changed"
    moved = [name for name in averaged if not torch.equal(before[name], dict(model.named_parameters())[name])]
    assert not averaged or moved, "the EMA copies never followed the trained weights"


def test_each_optimizer_logs_finite_named_terms(trained):
    cli, _, _, _ = trained
    losses = {k: v for k, v in cli.trainer.logged_metrics.items() if k.startswith("train/")}
    prefixes = {key.split("/", 1)[1].split("_", 1)[0] for key in losses}
    assert len(prefixes) == len(optimizer_params(cli.model)), f"one train/<prefix>_* group per optimizer: {prefixes}"
    assert all(f"train/{prefix}_total" in losses for prefix in prefixes)
    for key, value in losses.items():
        assert torch.isfinite(value).all(), f"{key} is not finite: {value}"


def test_global_step_counts_iterations(trained):
    cli, _, _, steps = trained
    # Lightning alone would count every optimizer step (2 per batch for G + D, issue #17958).
    assert cli.trainer.global_step == steps


def test_checkpoint_round_trip_reproduces_translate(trained):
    cli, _, run, steps = trained
    path = run / "checkpoints" / "last.ckpt"
    assert path.is_file()
    ckpt = torch.load(path, weights_only=True, map_location="cpu")  # no pickled objects in checkpoints
    assert ckpt["global_step"] == steps
    model = cli.model
    loaded = type(model).load_from_checkpoint(path, map_location="cpu")
    assert isinstance(loaded, TranslationModule)
    batch = next(iter(cli.datamodule.val_dataloader()))
    for target in model.targets:
        torch.manual_seed(0)
        expected = model.translate(batch["A"], target)
        torch.manual_seed(0)
        actual = loaded.translate(batch["A"], target)
        torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def test_inference_does_not_change_the_model_and_has_the_declared_size(trained):
    cli, _, _, _ = trained
    model = cli.model
    state = copy.deepcopy(model.state_dict())
    batch = next(iter(cli.datamodule.val_dataloader()))
    for mode in ("train", "eval"):
        model.inference_mode = mode
        for target in model.targets:
            out = model.translate(batch["A"], target)
            scale = model.output_scale(target)
            assert out.shape[-2:] == tuple(scale * s for s in batch["A"].shape[-2:]) and out.abs().max() <= 1
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"translate() changed {key}"


def test_validation_translates_each_batch_once_for_losses_and_metrics(trained, monkeypatch):
    """validation_step's translation is the one the metrics see: evaluation_pairs runs once per batch."""
    from lit_translate.evaluation import TranslationMetrics

    cli, _, _, _ = trained
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
    cli, _, run, _ = trained
    assert (run / "config.yaml").is_file()
    assert (run / "samples" / "latest.png").is_file()
    assert (run / "metrics.csv").is_file()


@pytest.mark.parametrize("demo", tiered())  # bf16 autocast is slow on CPU: other demos in the slow tier
def test_bf16_mixed_precision_trains(demo, tmp_path):
    cli = run_cli(["-c", str(demo), *tiny_args(tmp_path / "run", steps=2), "--trainer.precision", "bf16-mixed"])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 2
    losses = {k: v for k, v in cli.trainer.logged_metrics.items() if k.startswith("train/")}
    assert losses and all(torch.isfinite(v).all() for v in losses.values()), losses
    assert all(p.dtype == torch.float32 for p in cli.model.parameters()), "mixed precision keeps fp32 weights"


def test_nets_and_losses_import_without_lightning():
    """Nets and losses are plain torch (style rule 2): importing them loads no Lightning module."""
    code = (
        "import sys, lit_translate.nets, lit_translate.losses, lit_translate.choices; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('lightning', 'pytorch_lightning')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, f"importing nets/losses loaded Lightning: {out.stdout}{out.stderr}"
