"""Tests for lit_translate.nets: reference parameter counts, shapes, gradients, init, spectral norm."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from lit_translate.nets import (
    PatchDiscriminator,
    PixelDiscriminator,
    ResnetBlock,
    ResnetGenerator,
    UnetGenerator,
    UnetSkipConnectionBlock,
    conv_bias_for_norm,
    get_norm_layer,
    get_padding_layer,
    init_weights,
)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- reference parameter counts


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (lambda: UnetGenerator(3, 3, num_downs=8, ngf=64, norm="batch"), 54_413_955),
        (lambda: UnetGenerator(3, 3, num_downs=7, ngf=64, norm="batch"), 41_828_995),
        (lambda: ResnetGenerator(3, 3, ngf=64, n_blocks=9, norm="instance"), 11_378_179),
        (lambda: ResnetGenerator(3, 3, ngf=64, n_blocks=6, norm="instance"), 7_837_699),
        (lambda: PatchDiscriminator(6, ndf=64, n_layers=3, norm="batch"), 2_768_705),
        (lambda: PatchDiscriminator(3, ndf=64, n_layers=3, norm="instance"), 2_764_737),
    ],
    ids=["unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks", "patch_6ch_batch", "patch_3ch_instance"],
)
def test_parameter_counts_match_reference(factory: Callable[[], nn.Module], expected: int) -> None:
    assert count_params(factory()) == expected


def test_reference_state_dict_layout() -> None:
    unet_keys = UnetGenerator(num_downs=5, ngf=4).state_dict().keys()
    assert {"model.model.0.weight", "model.model.1.model.1.weight", "model.model.3.bias"} <= set(unet_keys)
    resnet_keys = ResnetGenerator(ngf=4, n_blocks=1).state_dict().keys()
    assert {"model.1.weight", "model.10.conv_block.1.weight", "model.10.conv_block.5.weight"} <= set(resnet_keys)
    assert "model.11.weight" in PatchDiscriminator(ndf=4).state_dict()
    assert "net.5.weight" in PixelDiscriminator(ndf=4).state_dict()


def test_unet_dropout_only_in_intermediate_blocks() -> None:
    def n_dropout(net: nn.Module) -> int:
        return sum(isinstance(m, nn.Dropout) for m in net.modules())

    assert n_dropout(UnetGenerator(num_downs=8, ngf=4)) == 3
    assert n_dropout(UnetGenerator(num_downs=5, ngf=4)) == 0
    assert n_dropout(UnetGenerator(num_downs=8, ngf=4, use_dropout=False)) == 0
    assert n_dropout(ResnetGenerator(ngf=4, n_blocks=2, use_dropout=True)) == 2


@pytest.mark.parametrize(("norm", "expect_bias"), [("batch", False), ("instance", True), ("none", True)])
def test_conv_bias_rule(norm: str, expect_bias: bool) -> None:
    assert conv_bias_for_norm(norm) is expect_bias
    convs = [m for m in PatchDiscriminator(ndf=4, norm=norm).modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].bias is not None and convs[-1].bias is not None
    assert all((conv.bias is not None) is expect_bias for conv in convs[1:-1])
    block_convs = [m for m in ResnetBlock(8, norm=norm).modules() if isinstance(m, nn.Conv2d)]
    assert all((conv.bias is not None) is expect_bias for conv in block_convs)


def test_norm_layers() -> None:
    batch = get_norm_layer("batch")(5)
    assert isinstance(batch, nn.BatchNorm2d) and batch.affine and batch.track_running_stats
    instance = get_norm_layer("instance")(5)
    assert isinstance(instance, nn.InstanceNorm2d) and not instance.affine and not instance.track_running_stats
    assert isinstance(get_norm_layer("none")(5), nn.Identity)
    assert get_padding_layer("reflect") is nn.ReflectionPad2d
    assert get_padding_layer("replicate") is nn.ReplicationPad2d
    assert get_padding_layer("zero") is None


# ---------------------------------------------------------------- shapes and ranges


@pytest.mark.parametrize(
    ("net", "in_shape", "out_shape"),
    [
        (UnetGenerator(3, 3, num_downs=5, ngf=8), (2, 3, 32, 32), (2, 3, 32, 32)),
        (UnetGenerator(1, 3, num_downs=5, ngf=8, norm="instance"), (2, 1, 64, 32), (2, 3, 64, 32)),
        (ResnetGenerator(3, 3, ngf=8, n_blocks=2), (2, 3, 32, 32), (2, 3, 32, 32)),
        (ResnetGenerator(1, 3, ngf=8, n_blocks=2, padding_type="zero"), (1, 1, 20, 36), (1, 3, 20, 36)),
        (ResnetGenerator(3, 1, ngf=8, n_blocks=1, padding_type="replicate"), (1, 3, 16, 16), (1, 1, 16, 16)),
        (PatchDiscriminator(6, ndf=8, n_layers=3), (2, 6, 64, 64), (2, 1, 6, 6)),
        (PatchDiscriminator(4, ndf=8, n_layers=2, norm="instance"), (2, 4, 32, 48), (2, 1, 6, 10)),
        (
            PatchDiscriminator(6, ndf=8, n_layers=1, norm="none", spectral_norm=True),
            (1, 6, 32, 32),
            (1, 1, 14, 14),
        ),
        (PixelDiscriminator(6, ndf=8), (2, 6, 17, 23), (2, 1, 17, 23)),
        (PixelDiscriminator(2, ndf=8, norm="instance"), (1, 2, 8, 8), (1, 1, 8, 8)),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, nn.Module) else None,
)
def test_output_shapes(net: nn.Module, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        out = net(torch.rand(in_shape) * 2 - 1)
    assert out.shape == out_shape
    assert torch.isfinite(out).all()


def test_unet_matches_reference_in_place_leaky_relu() -> None:
    """The reference's in-place LeakyReLU also changes the skip tensor; the parent's ReLU hides it."""
    torch.manual_seed(0)
    net = UnetGenerator(2, 3, num_downs=5, ngf=4, norm="instance").eval()
    reference = copy.deepcopy(net)
    for module in reference.modules():
        if isinstance(module, (nn.LeakyReLU, nn.ReLU)):
            module.inplace = True
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    "net",
    [UnetGenerator(num_downs=5, ngf=8, init_gain=1.0), ResnetGenerator(ngf=8, n_blocks=2, init_gain=1.0)],
)
def test_generator_output_range(net: nn.Module) -> None:
    torch.manual_seed(0)
    with torch.no_grad():
        out = net(torch.randn(2, 3, 32, 32) * 5)
    assert out.abs().max() <= 1.0
    assert out.abs().max() > 0.5


def test_size_divisor() -> None:
    unet = UnetGenerator(num_downs=6, ngf=4)
    assert unet.size_divisor == 64
    assert ResnetGenerator(ngf=4, n_blocks=1).size_divisor == 4
    with pytest.raises(ValueError, match="divisible by 64; got 64x32"):
        unet(torch.zeros(1, 3, 64, 32))
    with pytest.raises(ValueError, match="divisible by 4"):
        ResnetGenerator(ngf=4, n_blocks=1)(torch.zeros(1, 3, 18, 16))


# ---------------------------------------------------------------- gradients

NORMS = ["batch", "instance", "none"]
SMALL_NETS: dict[str, tuple[Callable[[str], nn.Module], tuple[int, ...]]] = {
    "unet": (lambda norm: UnetGenerator(2, 3, num_downs=5, ngf=4, norm=norm), (2, 2, 32, 32)),
    "resnet": (
        lambda norm: ResnetGenerator(2, 3, ngf=4, n_blocks=2, norm=norm, use_dropout=True),
        (2, 2, 16, 16),
    ),
    "patch": (lambda norm: PatchDiscriminator(5, ndf=4, n_layers=3, norm=norm), (2, 5, 32, 32)),
    "patch_sn": (lambda norm: PatchDiscriminator(5, ndf=4, norm=norm, spectral_norm=True), (2, 5, 32, 32)),
    "pixel": (lambda norm: PixelDiscriminator(5, ndf=4, norm=norm), (2, 5, 8, 8)),
}


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", list(SMALL_NETS))
def test_every_parameter_gets_a_finite_gradient(name: str, norm: str) -> None:
    torch.manual_seed(0)
    factory, shape = SMALL_NETS[name]
    net = factory(norm).train()
    out = net(torch.rand(shape) * 2 - 1)
    (out * torch.randn_like(out)).mean().backward()
    params = dict(net.named_parameters())
    assert params
    for param_name, param in params.items():
        assert param.grad is not None, param_name
        assert torch.isfinite(param.grad).all(), param_name
    assert any(param.grad.abs().sum() > 0 for param in params.values())


# ---------------------------------------------------------------- initialisation


def _init_probe() -> nn.Module:
    return nn.Sequential(nn.Conv2d(64, 128, 3), nn.BatchNorm2d(4096), nn.Linear(256, 512), nn.InstanceNorm2d(3))


def test_init_normal_statistics() -> None:
    torch.manual_seed(0)
    conv, bn, linear, _ = init_weights(_init_probe(), "normal", 0.05)
    for layer in (conv, linear):
        assert layer.weight.std().item() == pytest.approx(0.05, rel=0.03)
        assert abs(layer.weight.mean().item()) < 0.005
        assert torch.count_nonzero(layer.bias) == 0
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.005)
    assert bn.weight.std().item() == pytest.approx(0.05, rel=0.05)
    assert torch.count_nonzero(bn.bias) == 0


@pytest.mark.parametrize("gain", [0.02, 1.0])
def test_init_xavier_kaiming_orthogonal_statistics(gain: float) -> None:
    torch.manual_seed(0)
    conv, _, linear, _ = init_weights(_init_probe(), "xavier", gain)
    assert conv.weight.std().item() == pytest.approx(gain * math.sqrt(2 / (64 * 9 + 128 * 9)), rel=0.03)
    assert linear.weight.std().item() == pytest.approx(gain * math.sqrt(2 / (256 + 512)), rel=0.03)
    conv, _, linear, _ = init_weights(_init_probe(), "kaiming", gain)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.03)
    assert linear.weight.std().item() == pytest.approx(math.sqrt(2 / 256), rel=0.03)
    conv, _, linear, _ = init_weights(_init_probe(), "orthogonal", gain)
    flat = conv.weight.flatten(1)
    torch.testing.assert_close(flat @ flat.T, gain**2 * torch.eye(128), atol=1e-4 * max(gain**2, 1), rtol=0)
    torch.testing.assert_close(linear.weight.T @ linear.weight, gain**2 * torch.eye(256), atol=1e-4, rtol=0)


def test_init_leaves_other_layers_alone_and_handles_spectral_norm() -> None:
    probe = nn.Sequential(nn.InstanceNorm2d(3, affine=True), nn.BatchNorm2d(3, affine=False))
    init_weights(probe, "normal", 0.5)
    assert torch.equal(probe[0].weight, torch.ones(3))
    net = PatchDiscriminator(ndf=4, norm="none", spectral_norm=True)
    init_weights(net, "normal", 3.0)
    original = net.model[0].parametrizations.weight.original
    assert original.std().item() == pytest.approx(3.0, rel=0.2)


@pytest.mark.parametrize("name", list(SMALL_NETS))
def test_seeded_construction_is_deterministic(name: str) -> None:
    factory, _ = SMALL_NETS[name]
    torch.manual_seed(123)
    first = factory("batch").state_dict()
    torch.manual_seed(123)
    second = factory("batch").state_dict()
    torch.manual_seed(7)
    other = factory("batch").state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert any(not torch.equal(first[key], other[key]) for key in first if key.endswith("weight"))


def test_constructors_use_init_args() -> None:
    torch.manual_seed(0)
    net = ResnetGenerator(ngf=16, n_blocks=1, init_type="normal", init_gain=0.3)
    assert net.model[1].weight.std().item() == pytest.approx(0.3, rel=0.1)
    assert torch.count_nonzero(net.model[1].bias) == 0
    net = PixelDiscriminator(ndf=64, init_type="kaiming")
    assert net.net[2].weight.std().item() == pytest.approx(math.sqrt(2 / 64), rel=0.1)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("factory", "argument", "bad"),
    [
        (lambda: get_norm_layer("layer"), "norm", "layer"),
        (lambda: UnetGenerator(num_downs=5, ngf=4, norm="group"), "norm", "group"),
        (lambda: ResnetGenerator(ngf=4, norm="spectral"), "norm", "spectral"),
        (lambda: PatchDiscriminator(ndf=4, norm="Batch"), "norm", "Batch"),
        (lambda: PixelDiscriminator(ndf=4, norm="bn"), "norm", "bn"),
        (lambda: ResnetGenerator(ngf=4, n_blocks=0, padding_type="circular"), "padding_type", "circular"),
        (lambda: ResnetBlock(4, padding_type="zeros"), "padding_type", "zeros"),
        (lambda: init_weights(nn.Linear(2, 2), "uniform"), "init_type", "uniform"),
        (lambda: UnetGenerator(num_downs=5, ngf=4, init_type="he"), "init_type", "he"),
        (lambda: PatchDiscriminator(ndf=4, init_type="xavier_uniform"), "init_type", "xavier_uniform"),
    ],
)
def test_unknown_strings_raise(factory: Callable[[], object], argument: str, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"{argument}='{bad}'.*allowed values") as info:
        factory()
    assert "'" in str(info.value).split("allowed values")[1]


def test_invalid_sizes_raise() -> None:
    with pytest.raises(ValueError, match="num_downs >= 5; got num_downs=4"):
        UnetGenerator(num_downs=4)
    with pytest.raises(ValueError, match="n_layers >= 1"):
        PatchDiscriminator(n_layers=0)
    with pytest.raises(ValueError, match="n_blocks >= 0"):
        ResnetGenerator(n_blocks=-1)
    with pytest.raises(ValueError, match="innermost"):
        UnetSkipConnectionBlock(4, 8, innermost=True, submodule=nn.Identity())


# ---------------------------------------------------------------- spectral norm


def test_spectral_norm_parametrizes_every_conv_and_normalises() -> None:
    torch.manual_seed(0)
    net = PatchDiscriminator(6, ndf=8, n_layers=3, norm="none", spectral_norm=True).train()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 5
    assert all(parametrize.is_parametrized(conv, "weight") for conv in convs)
    assert not parametrize.is_parametrized(PatchDiscriminator(ndf=4).model[0], "weight")
    with torch.no_grad():
        for _ in range(20):
            net(torch.randn(1, 6, 32, 32))
    for conv in convs:
        sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=0.05)


def test_spectral_norm_with_other_norm_is_allowed() -> None:
    net = PatchDiscriminator(6, ndf=4, norm="batch", spectral_norm=True)
    assert any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert count_params(net) == count_params(PatchDiscriminator(6, ndf=4, norm="batch"))
