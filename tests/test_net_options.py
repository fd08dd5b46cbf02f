"""Spectral norm and self-attention as options of the nets (issue 24 item 3).

Off (the default), every modified net is the net of ``main`` before the options existed: the fingerprints below were
computed with the code of commit 6ed51d9 (``/work/main``, by the script in this file's ``fingerprint``): the
``state_dict`` keys and shapes, the global RNG's next draws after construction (the same random numbers consumed),
the parameter values and the outputs on a fixed input, all under ``torch.manual_seed(0)``.
"""

from __future__ import annotations

import hashlib

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lit_translate.nets import (
    GlobalGenerator,
    LocalEnhancer,
    MSRResNet,
    PatchDiscriminator,
    PixelDiscriminator,
    ResnetGenerator,
    RRDBNet,
    SRResNet,
    StarGANDiscriminator,
    StarGANGenerator,
    UnetGenerator,
    VGGStyleDiscriminator,
)
from lit_translate.nets.attention import SelfAttention

CASES = {
    "GlobalGenerator": (
        lambda **kw: GlobalGenerator(3, 3, ngf=4, n_downsampling=2, n_blocks=1, **kw),
        (2, 3, 16, 16),
    ),
    "LocalEnhancer": (
        lambda **kw: LocalEnhancer(3, 3, ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1, **kw),
        (2, 3, 32, 32),
    ),
    "UnetGenerator": (lambda **kw: UnetGenerator(3, 3, num_downs=5, ngf=8, **kw), (2, 3, 32, 32)),
    "ResnetGenerator": (lambda **kw: ResnetGenerator(3, 3, ngf=8, n_blocks=2, **kw), (2, 3, 16, 16)),
    "PatchDiscriminator": (lambda **kw: PatchDiscriminator(6, ndf=8, n_layers=3, **kw), (2, 6, 32, 32)),
    "PatchDiscriminatorSN": (
        lambda **kw: PatchDiscriminator(6, ndf=8, n_layers=3, norm="none", spectral_norm=True, **kw),
        (2, 6, 32, 32),
    ),
    "PixelDiscriminator": (lambda **kw: PixelDiscriminator(6, ndf=8, **kw), (2, 6, 8, 8)),
    "StarGANGenerator": (lambda **kw: StarGANGenerator(c_dim=2, conv_dim=8, repeat_num=1, **kw), (2, 3, 16, 16)),
    "StarGANDiscriminator": (
        lambda **kw: StarGANDiscriminator(image_size=16, c_dim=2, conv_dim=8, repeat_num=2, **kw),
        (2, 3, 16, 16),
    ),
    "MSRResNet": (lambda **kw: MSRResNet(num_feat=8, num_block=1, scale=2, **kw), (2, 3, 8, 8)),
    "RRDBNet": (lambda **kw: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4, **kw), (2, 3, 8, 8)),
    "SRResNet": (lambda **kw: SRResNet(num_feat=8, num_block=1, scale=2, **kw), (2, 3, 8, 8)),
    "VGGStyleDiscriminator": (lambda **kw: VGGStyleDiscriminator(num_feat=4, input_size=128, **kw), (2, 3, 128, 128)),
}

# name: (sha256 of the state_dict keys and shapes [:16], RNG draws after construction, sum |state|, sum out, sum |out|)
MAIN = {
    "GlobalGenerator": ("966b0da9b532a4d0", [0.7173114, 0.9865887, 0.3024799], 138.867334, -122.237541, 222.789748),
    "LocalEnhancer": ("ec5dc1374ab0f52b", [0.944427, 0.4924947, 0.5035801], 541.250582, 19.063244, 939.827966),
    "UnetGenerator": ("2a6fd634bda4b196", [0.1099348, 0.4594312, 0.9596616], 4621.604393, 79.830359, 378.571505),
    "ResnetGenerator": ("e654460c9c196f81", [0.2522365, 0.8216585, 0.9328396], 806.332531, -33.652969, 335.521773),
    "PatchDiscriminator": ("896991f3d8a57e81", [0.0010902, 0.0052686, 0.319289], 926.174939, -0.265412, 1.809855),
    "PatchDiscriminatorSN": ("45a169771e1fd0ee", [0.493712, 0.9549467, 0.6810369], 803.48769, -0.121649, 0.152605),
    "PixelDiscriminator": ("bda18d729d0f1476", [0.3177546, 0.7810773, 0.2159055], 33.430844, -0.350781, 1.392418),
    "StarGANGenerator": ("8b3bd69c50399c1e", [0.6611024, 0.4989137, 0.8096154], 1600.468006, -100.223037, 393.329222),
    "StarGANDiscriminator": ("1e86b2c09f104336", [0.2980265, 0.5355487, 0.6694296], 140.581381, -0.70711, 1.333897),
    "MSRResNet": ("7ce87f641de81cc7", [0.585134, 0.30825, 0.4830121], 62.739734, 17.366374, 475.721168),
    "RRDBNet": ("8c71e5703c4225f0", [0.9084311, 0.8801435, 0.3015676], 270.566364, -6802.621037, 6802.621037),
    "SRResNet": ("5d0b85846106b5b4", [0.8591884, 0.883331, 0.3359822], 388.139768, 37.355624, 231.249445),
    "VGGStyleDiscriminator": ("f93f14c13be8aa69", [0.2445886, 0.1024331, 0.3945275], 2958.583103, 0.011294, 0.095496),
}


def _run(name: str, net: nn.Module, shape: tuple[int, ...]) -> torch.Tensor:
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1)) * 2 - 1
    args = (x, torch.ones(shape[0], 2)) if name == "StarGANGenerator" else (x,)
    out = net(*args)
    return out[0] if isinstance(out, tuple) else out


def fingerprint(name: str) -> tuple:
    """The net's fingerprint (see the module docstring), built with the options left at their defaults."""
    build, shape = CASES[name]
    torch.manual_seed(0)
    net = build()
    draws = torch.rand(3).tolist()
    keys = "\n".join(f"{k}:{tuple(v.shape)}" for k, v in net.state_dict().items())
    with torch.no_grad():
        out = _run(name, net, shape).double()
    state = sum(p.double().abs().sum().item() for p in net.state_dict().values() if p.is_floating_point())
    return hashlib.sha256(keys.encode()).hexdigest()[:16], draws, state, out.sum().item(), out.abs().sum().item()


@pytest.mark.parametrize("name", sorted(CASES))
def test_options_off_keep_the_nets_of_main(name):
    keys, draws, state, out_sum, out_abs = fingerprint(name)
    want_keys, want_draws, want_state, want_sum, want_abs = MAIN[name]
    assert keys == want_keys, "state_dict keys or shapes changed"
    assert draws == pytest.approx(want_draws, abs=1e-6), "construction consumed other random numbers"
    assert state == pytest.approx(want_state, rel=1e-6)
    assert out_sum == pytest.approx(want_sum, rel=1e-5, abs=1e-5)
    assert out_abs == pytest.approx(want_abs, rel=1e-5)


def _weight_matrix(layer: nn.Module) -> torch.Tensor:
    weight = layer.weight.detach()
    if isinstance(layer, nn.ConvTranspose2d):
        weight = weight.transpose(0, 1)
    return weight.flatten(1)


@pytest.mark.parametrize("name", sorted(n for n in CASES if n != "PatchDiscriminatorSN"))
def test_spectral_norm_option_normalises_every_weight(name):
    build, shape = CASES[name]
    torch.manual_seed(0)
    net = build(spectral_norm=True)
    layers = [m for m in net.modules() if parametrize.is_parametrized(m, "weight")]
    weighted = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert layers and len(layers) == len(weighted), "every conv / linear layer is spectrally normalised"
    state = net.state_dict()
    assert any(k.endswith("._u") for k in state) and any(k.endswith("._v") for k in state), "u, v in checkpoints"
    assert not any(n.endswith(("_u", "_v")) for n, _ in net.named_parameters()), "u, v are not trained"
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-4)
    for _ in range(60):  # one power iteration per training forward (and 15 at construction)
        optimizer.zero_grad()
        _run(name, net, (1, *shape[1:])).float().square().mean().backward()
        optimizer.step()
    net.eval()
    sigmas = [torch.linalg.matrix_norm(_weight_matrix(m), ord=2).item() for m in layers]
    assert sigmas == pytest.approx([1.0] * len(sigmas), abs=0.1), sigmas


def test_spectral_norm_state_round_trip_is_exact():
    torch.manual_seed(0)
    net = ResnetGenerator(3, 3, ngf=8, n_blocks=1, spectral_norm=True)
    x = torch.rand(2, 3, 16, 16)
    net(x)  # one power iteration moves u and v
    copy = ResnetGenerator(3, 3, ngf=8, n_blocks=1, spectral_norm=True)
    copy.load_state_dict(net.state_dict())
    assert torch.equal(net(x), copy(x)), "the restored u, v give the same next step"


def test_self_attention_starts_as_identity_and_counts():
    torch.manual_seed(0)
    block = SelfAttention(16)
    x = torch.randn(2, 16, 5, 5)
    assert block.gamma.item() == 0.0 and torch.equal(block(x), x)
    assert sum(p.numel() for p in block.parameters()) == 2 * (16 * 2 + 2) + 16 * 16 + 16 + 1
    attention = block.attention(x)
    assert attention.shape == (2, 25, 25) and torch.allclose(attention.sum(-1), torch.ones(2, 25))
    with pytest.raises(ValueError, match="channels >= 8"):
        SelfAttention(4)


ATTENTION = {
    "UnetGenerator": (lambda: UnetGenerator(3, 3, num_downs=5, ngf=8, attention_at=[3, 4]), (2, 3, 32, 32), 2),
    "ResnetGenerator": (lambda: ResnetGenerator(3, 3, ngf=8, n_blocks=1, attention_at=[2, 3]), (2, 3, 16, 16), 2),
    "PatchDiscriminator": (lambda: PatchDiscriminator(6, ndf=8, n_layers=3, attention_at=[2, 4]), (2, 6, 32, 32), 2),
}


@pytest.mark.parametrize("name", sorted(ATTENTION))
def test_attention_at_inserts_blocks_whose_gamma_moves(name):
    build, shape, count = ATTENTION[name]
    torch.manual_seed(0)
    net = build()
    blocks = [m for m in net.modules() if isinstance(m, SelfAttention)]
    assert len(blocks) == count and all(b.gamma.item() == 0.0 for b in blocks)
    x = torch.rand(shape) * 2 - 1
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    net(x).square().mean().backward()
    optimizer.step()
    assert all(b.gamma.item() != 0.0 for b in blocks), "gamma learns from the first step"
    assert net(x).shape[0] == shape[0]


def test_attention_resolutions_are_as_documented():
    seen = []
    net = ResnetGenerator(3, 3, ngf=8, n_blocks=1, attention_at=[1, 2, 3, 4])
    hooks = [
        m.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
        for m in net.modules()
        if isinstance(m, SelfAttention)
    ]
    net(torch.rand(1, 3, 16, 16))
    assert seen == [8, 4, 8, 16]
    seen.clear()
    unet = UnetGenerator(3, 3, num_downs=5, ngf=8, attention_at=[1, 2, 3, 4])
    for m in unet.modules():
        if isinstance(m, SelfAttention):
            hooks.append(m.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])))
    unet(torch.rand(1, 3, 32, 32))
    assert seen == [2, 4, 8, 16]  # H / 2 ** (num_downs - i), innermost first
    seen.clear()
    patch = PatchDiscriminator(6, ndf=8, n_layers=3, attention_at=[1, 2, 3, 4])
    for m in patch.modules():
        if isinstance(m, SelfAttention):
            hooks.append(m.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1])))
    patch(torch.rand(1, 6, 32, 32))
    assert seen == [16, 8, 4, 3]
    assert len(patch.features(torch.rand(1, 6, 32, 32))) == 3 + 2


@pytest.mark.parametrize(
    "build",
    [
        lambda: ResnetGenerator(attention_at=[5]),
        lambda: UnetGenerator(num_downs=5, attention_at=[5]),
        lambda: PatchDiscriminator(n_layers=3, attention_at=[0]),
    ],
)
def test_attention_at_out_of_range_names_the_net(build):
    with pytest.raises(ValueError, match="attention_at must list positions between 1 and"):
        build()
