"""EMA warm-up (issue 21 item 8): short runs with an EMA show their training; off, the average is as before.

With ``ema_warmup`` the n-th update (0-based) uses the decay ``min(decay, (1 + n) / (10 + n))``; without it every
update uses ``decay`` (BasicSR), bit-exactly. The SR demos turn it on, the paper recipes keep it off.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch
import yaml
from conftest import CONFIGS
from torch import nn

from lit_translate.methods import SRResNetMethod
from lit_translate.methods.parts.ema import ModelEMA
from lit_translate.nets import MSRResNet


def walk(net: nn.Module, steps: int) -> Iterator[list[torch.Tensor]]:
    """Move ``net``'s parameters ``steps`` times, yielding their values after each move."""
    generator = torch.Generator().manual_seed(0)
    for _ in range(steps):
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
        yield [p.detach().clone() for p in net.parameters()]


def test_warmup_follows_min_decay_one_plus_n_over_ten_plus_n():
    net = nn.Linear(3, 2)
    ema = ModelEMA(net, decay=0.99, warmup=True)
    expected = [p.detach().clone() for p in net.parameters()]
    decays = []
    for n, live in enumerate(walk(net, 6)):
        decay = min(0.99, (1 + n) / (10 + n))
        decays.append(ema.current_decay())
        ema.update(net)
        expected = [decay * e + (1 - decay) * p for e, p in zip(expected, live)]
    assert decays == pytest.approx([0.1, 2 / 11, 3 / 12, 4 / 13, 5 / 14, 6 / 15])
    for got, want in zip(ema.averaged.parameters(), expected):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert ModelEMA(net, decay=0.5, warmup=True).current_decay() == 0.1
    late = ModelEMA(net, decay=0.5, warmup=True)
    late.num_updates.fill_(100)
    assert late.current_decay() == 0.5, "the warm-up never exceeds the configured decay"


def test_without_warmup_every_update_is_the_plain_decay_bit_for_bit():
    net = nn.Linear(3, 2)
    ema = ModelEMA(net, decay=0.999)
    expected = [p.detach().clone() for p in net.parameters()]
    for live in walk(net, 3):
        ema.update(net)
        expected = [torch.lerp(e, p, 1.0 - 0.999) for e, p in zip(expected, live)]
    for got, want in zip(ema.averaged.parameters(), expected):
        assert torch.equal(got, want)


def test_a_resumed_average_continues_the_warmup_schedule():
    net = nn.Linear(3, 2)
    ema = ModelEMA(net, decay=0.999, warmup=True)
    for _ in walk(net, 5):
        ema.update(net)
    resumed = ModelEMA(nn.Linear(3, 2), decay=0.999, warmup=True)
    resumed.load_state_dict(ema.state_dict())
    assert int(resumed.num_updates) == 5 and resumed.current_decay() == pytest.approx(6 / 15)
    ema.update(net)
    resumed.update(net)
    for a, b in zip(ema.averaged.parameters(), resumed.averaged.parameters()):
        assert torch.equal(a, b)


def test_a_few_srresnet_steps_move_the_warmed_up_average_to_the_trained_weights():
    """4 updates at decay 0.99: without warm-up the average is 96 % the initial weights, with it 0.1 %."""
    for warmup, initial_share in ((False, 0.99**4), (True, 0.1 * 2 / 11 * 3 / 12 * 4 / 13)):
        torch.manual_seed(0)
        model = SRResNetMethod(MSRResNet(num_feat=8, num_block=1, scale=2), ema_decay=0.99, ema_warmup=warmup)
        start = [p.detach().clone() for p in model.generator.parameters()]
        for _ in walk(model.generator, 4):
            model.update_averages("g")
        live = list(model.generator.parameters())
        for ema, p0, p in zip(model.generator_ema.averaged.parameters(), start, live):
            # After 4 updates the average is initial_share * p0 + (a mix of the live values); p0 dominates when
            # initial_share is large. Compare the distance to the start with the distance to the live weights.
            to_start, to_live = (ema - p0).abs().sum(), (ema - p).abs().sum()
            assert (to_start > to_live) == warmup, (warmup, float(initial_share), float(to_start), float(to_live))


@pytest.mark.parametrize("method", ["srresnet", "srgan"])
def test_the_demos_warm_up_and_the_paper_recipes_do_not(method):
    def model_args(name: str) -> dict:
        return yaml.safe_load((CONFIGS / method / name).read_text())["model"]["init_args"]

    assert model_args("demo.yaml")["ema_warmup"] is True
    recipe = model_args("div2k_x4.yaml")
    assert recipe["ema_decay"] == 0.999 and not recipe.get("ema_warmup", False)


def test_a_bad_decay_is_an_input_error_naming_the_key():
    from lit_translate.errors import InputError

    with pytest.raises(InputError, match=r"decay=1\.5 \(model\.init_args\.ema_decay\)"):
        ModelEMA(nn.Linear(2, 2), decay=1.5)
