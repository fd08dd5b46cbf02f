"""Speed options (``--speed.*``) change how the networks run, never what they compute or what a checkpoint holds."""

from __future__ import annotations

import pytest
import torch
from conftest import PIX2PIX_DEMO, run_cli, tiered, tiny_args

from lit_translate.callbacks import SpeedOptions
from lit_translate.callbacks.speed import networks


def fit(demo, run, *extra: str):
    torch.manual_seed(0)
    cli = run_cli(["-c", str(demo), *tiny_args(run, steps=2), "--trainer.deterministic", "true", *extra])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli


@pytest.mark.parametrize("demo", tiered())
def test_channels_last_and_compiled_networks_train_with_unchanged_checkpoint_keys(demo, tmp_path):
    eager = fit(demo, tmp_path / "eager")
    fast = fit(
        demo,
        tmp_path / "fast",
        *("--speed.channels_last", "true", "--speed.compile", "true", "--speed.compile_backend", "eager"),
    )
    assert fast.trainer.global_step == eager.trainer.global_step
    assert list(fast.model.state_dict()) == list(eager.model.state_dict()), "keys gained _orig_mod. or changed"
    saved = torch.load(tmp_path / "fast" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert list(saved) == list(eager.model.state_dict())
    convs = [m for net in networks(fast.model).values() for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convs)
    losses = {k: v for k, v in fast.trainer.logged_metrics.items() if k.startswith("train/")}
    assert losses and all(torch.isfinite(v).all() for v in losses.values()), losses


def test_channels_last_computes_what_the_default_layout_computes(tmp_path):
    """The same weights and input in NHWC give the NCHW output to float32 rounding (a layout, not a new model).

    (Comparing two training runs instead would measure Adam's amplification of rounding on near-zero gradients.)
    """
    cli = fit(PIX2PIX_DEMO, tmp_path / "run")
    generator = cli.model.generator.eval()
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        expected = generator(x)
        generator.to(memory_format=torch.channels_last)
        actual = generator(x.contiguous(memory_format=torch.channels_last))
    assert torch.allclose(expected, actual, atol=1e-5), (expected - actual).abs().max()


def test_frozen_buffer_only_networks_are_left_alone():
    module = torch.nn.Module()
    module.trained = torch.nn.Conv2d(3, 3, 3)
    module.loss_net = torch.nn.Module()
    module.loss_net.register_buffer("weight", torch.zeros(3), persistent=False)
    assert list(networks(module)) == ["trained"]


def test_defaults_touch_nothing_on_cpu():
    options = SpeedOptions()
    assert not options.channels_last and not options.compile
