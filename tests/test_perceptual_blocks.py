"""Building blocks of the perceptual-loss methods (Johnson et al. 2016): nets, frozen VGG, losses, stand-in weights.

Nothing here touches the network: an autouse fixture makes every connection and DNS lookup fail and points
TORCH_HOME at an empty folder. VGG weights are random, calibrated stand-ins written to files by the tests.
"""

from __future__ import annotations

import socket
import time

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
import torchvision
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from lit_translate.losses import feature_loss, gram_matrix, style_loss, total_variation
from lit_translate.nets import PerceptualSRNet, TransformerNet, VGGFeatures, frozen_buffer_names, vgg_layer_names
from lit_translate.nets.transformer import UpsampleConvLayer
from lit_translate.standins import random_vgg_state
from lit_translate.weights import FETCH_COMMAND, WEIGHTS, WeightsUnavailableError

pytestmark = pytest.mark.filterwarnings("ignore:Using .* as custom vgg1[69] weights:UserWarning")

STYLE_LAYERS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")  # pytorch/examples' loss taps
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the test suite")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every connection, DNS lookup and torch.hub download fails; the torch.hub cache is an empty folder."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture(scope="module")
def vgg_files(tmp_path_factory):
    """Calibrated random VGG-16 and VGG-19 state dicts, saved under non-registry names."""
    folder = tmp_path_factory.mktemp("vgg")
    files = {}
    for arch in ("vgg16", "vgg19"):
        files[arch] = folder / f"random_{arch}.pth"
        torch.save(random_vgg_state(arch), files[arch])
    return files


def images(n=2, size=32, seed=0):
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


class Translator(nn.Module):
    """A transform net with its loss network, as a perceptual-loss method will hold them."""

    def __init__(self, vgg_file, layers=STYLE_LAYERS):
        super().__init__()
        self.net = TransformerNet()
        self.vgg = VGGFeatures("vgg16", layers, weights=str(vgg_file))


# ------------------------------------------------------------------------------------------ TransformerNet
def reference_keys():
    """State-dict keys of pytorch/examples' TransformerNet, in order."""
    pairs = [("conv1", "in1"), ("conv2", "in2"), ("conv3", "in3")]
    pairs += [(f"res{i}.conv{j}", f"res{i}.in{j}") for i in range(1, 6) for j in (1, 2)]
    pairs += [("deconv1", "in4"), ("deconv2", "in5"), ("deconv3", None)]
    modules = [name for conv, norm in pairs for name in (f"{conv}.conv2d", norm) if name]
    return [f"{module}.{kind}" for module in modules for kind in ("weight", "bias")]


def reference_forward(state, pixels):
    """pytorch/examples TransformerNet.forward, written with functional ops on its state_dict keys (0-255 in/out)."""

    def conv(name, h, stride=1):
        weight = state[f"{name}.conv2d.weight"]
        pad = weight.shape[-1] // 2
        return F.conv2d(F.pad(h, (pad,) * 4, mode="reflect"), weight, state[f"{name}.conv2d.bias"], stride)

    def norm(name, h):
        return F.instance_norm(h, weight=state[f"{name}.weight"], bias=state[f"{name}.bias"])

    h = F.relu(norm("in1", conv("conv1", pixels)))
    h = F.relu(norm("in2", conv("conv2", h, 2)))
    h = F.relu(norm("in3", conv("conv3", h, 2)))
    for i in range(1, 6):
        inner = F.relu(norm(f"res{i}.in1", conv(f"res{i}.conv1", h)))
        h = h + norm(f"res{i}.in2", conv(f"res{i}.conv2", inner))
    h = F.relu(norm("in4", conv("deconv1", F.interpolate(h, scale_factor=2, mode="nearest"))))
    h = F.relu(norm("in5", conv("deconv2", F.interpolate(h, scale_factor=2, mode="nearest"))))
    return conv("deconv3", h)


@pytest.mark.parametrize("upsample", ["nearest", "deconv"])
def test_transformer_net_parameter_count(upsample):
    net = TransformerNet(upsample=upsample)
    assert sum(p.numel() for p in net.parameters()) == 1_679_235
    assert net.size_divisor == 4 and net.scale == 1
    if upsample == "nearest":
        assert list(net.state_dict()) == reference_keys()


@pytest.mark.parametrize("upsample", ["nearest", "deconv"])
def test_transformer_net_keeps_the_size_of_multiples_of_4(upsample):
    net = TransformerNet(upsample=upsample)
    for shape in [(2, 3, 12, 20), (1, 3, 32, 32)]:
        assert net(torch.zeros(shape)).shape == shape
    with pytest.raises(ValueError, match="divisible by 4; got 10x12"):
        net(torch.zeros(1, 3, 10, 12))


def test_transformer_net_computes_the_reference_function_on_0_255():
    torch.manual_seed(0)
    net = TransformerNet()
    with torch.no_grad():
        for name, param in net.named_parameters():  # non-trivial norm scales and shifts, so they are checked too
            is_norm_scale = param.dim() == 1 and name.endswith("weight")
            param.copy_(1 + 0.2 * torch.randn_like(param) if is_norm_scale else 0.05 * torch.randn_like(param))
    x = images(2, 16)
    x[:, :, 0, 0], x[:, :, 0, 1] = -1.0, 1.0
    seen = {}
    net.conv1.conv2d.register_forward_hook(lambda m, inputs, out: seen.update(lo=inputs[0].min(), hi=inputs[0].max()))
    with torch.no_grad():
        ours = net(x)
        pixels = reference_forward(net.state_dict(), 127.5 * (x + 1))
    assert float(seen["lo"]) == 0.0 and float(seen["hi"]) == 255.0  # the reference layers see 0-255 pixels
    assert pixels.std() > 1  # a non-trivial output in pixel units
    torch.testing.assert_close(127.5 * (ours + 1), pixels, rtol=1e-4, atol=1e-3)


def test_deconv_upsampling_doubles_the_size():
    layer = UpsampleConvLayer(4, 2, kernel_size=3, mode="deconv")
    assert isinstance(layer.conv_transpose, nn.ConvTranspose2d)
    assert layer(torch.zeros(1, 4, 5, 7)).shape == (1, 2, 10, 14)
    with pytest.raises(ValueError, match="upsample must be one of 'nearest', 'deconv'"):
        TransformerNet(upsample="bilinear")


# ----------------------------------------------------------------------------------------- PerceptualSRNet
@pytest.mark.parametrize(("scale", "count", "stages"), [(4, 401_859, 2), (8, 438_915, 3)])
def test_sr_net_parameters_and_shapes(scale, count, stages):
    net = PerceptualSRNet(scale=scale)
    assert sum(p.numel() for p in net.parameters()) == count
    assert len(net.upsampler) == stages and len(net.body) == 4
    assert net.scale == scale and net.size_divisor == 1
    out = net(images(2, 9)[..., :7])
    assert out.shape == (2, 3, 9 * scale, 7 * scale)
    assert out.abs().max() < 1  # tanh: the paper's scaled tanh in [-1, 1] units


def test_sr_net_rejects_other_scales():
    for bad in (2, "4", 4.0):
        with pytest.raises(ValueError, match="scale must be one of 4, 8"):
            PerceptualSRNet(scale=bad)
    with pytest.raises(ValueError, match="norm must be one of"):
        PerceptualSRNet(norm="instance")


# -------------------------------------------------------------------------------------------- VGGFeatures
def test_layer_names_follow_torchvision_indices():
    vgg = torchvision.models.vgg
    for arch, cfg, count in [("vgg16", "D", 31), ("vgg19", "E", 37)]:
        names = vgg_layer_names(arch)
        layers = vgg.make_layers(vgg.cfgs[cfg])
        assert len(names) == len(layers) == count
        kinds = {nn.Conv2d: "conv", nn.ReLU: "relu", nn.MaxPool2d: "pool"}
        assert [kinds[type(layer)] for layer in layers] == [name[:4] for name in names]
    assert [vgg_layer_names("vgg16")[i] for i in (3, 8, 15, 22)] == list(STYLE_LAYERS)  # reference slice ends
    assert vgg_layer_names("vgg19")[34] == "conv5_4" and "conv5_4" not in vgg_layer_names("vgg16")


def test_taps_in_requested_order_and_nothing_after_the_deepest(vgg_files):
    vgg = VGGFeatures("vgg16", ("relu3_3", "relu1_2"), weights=str(vgg_files["vgg16"]))
    assert list(vgg.features._modules) == list(vgg_layer_names("vgg16")[:16])
    out = vgg(images(2, 32))
    assert list(out) == ["relu3_3", "relu1_2"]
    assert out["relu3_3"].shape == (2, 256, 8, 8) and out["relu1_2"].shape == (2, 64, 32, 32)
    deep = VGGFeatures("vgg19", ["conv5_4", "relu1_1", "conv1_1"], weights=str(vgg_files["vgg19"]))
    assert len(deep.features) == 35 and isinstance(deep.features[-1], nn.Conv2d)
    out = deep(images(1, 32))
    assert out["conv5_4"].shape == (1, 512, 2, 2)
    assert out["conv1_1"].min() < 0  # a conv tap is not clamped by the ReLU after it (no in-place ReLU)
    torch.testing.assert_close(out["relu1_1"], out["conv1_1"].relu())
    assert deep.weights_path == vgg_files["vgg19"]


def test_bad_layer_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown \['conv5_4'\].*valid vgg16 layers.*'conv5_3'"):
        VGGFeatures("vgg16", ["relu2_2", "conv5_4"])
    with pytest.raises(ValueError, match="empty or repeated"):
        VGGFeatures("vgg16", [])
    with pytest.raises(ValueError, match="empty or repeated"):
        VGGFeatures("vgg16", ["relu2_2", "relu2_2"])
    with pytest.raises(ValueError, match="arch must be one of 'vgg16', 'vgg19'"):
        VGGFeatures("vgg11")


def test_imagenet_normalisation_by_hand(vgg_files):
    vgg = VGGFeatures("vgg16", "conv1_1", weights=str(vgg_files["vgg16"]))
    state = torch.load(vgg_files["vgg16"], weights_only=True)
    x = images(2, 8)
    before = x.clone()
    reference_input = (127.5 * (x + 1) / 255 - IMAGENET_MEAN) / IMAGENET_STD  # normalize_batch on 0-255 pixels
    expected = F.conv2d(reference_input, state["features.0.weight"], state["features.0.bias"], padding=1)
    torch.testing.assert_close(vgg(x)["conv1_1"], expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(x, before)  # never normalised in place


def test_vgg_weights_are_never_parameters_nor_saved(vgg_files):
    model = Translator(vgg_files["vgg16"])
    assert list(model.vgg.parameters()) == []
    assert sum(p.numel() for p in model.parameters()) == 1_679_235
    assert not [key for key in model.state_dict() if key.startswith("vgg")]
    buffers = dict(model.vgg.named_buffers())
    assert "features.conv4_3.weight" in buffers and not any(b.requires_grad for b in buffers.values())
    assert model.vgg.frozen_buffers == tuple(buffers)


def test_vgg_follows_the_parent_but_never_runs_below_float32(vgg_files):
    model = Translator(vgg_files["vgg16"], layers=["relu2_2"])
    model.to(torch.float64)
    assert model.vgg.features.conv1_1.weight.dtype == torch.float64 and model.vgg.mean.dtype == torch.float64
    assert model.vgg(images(1, 8).double())["relu2_2"].dtype == torch.float64
    model.half()
    assert model.net.conv1.conv2d.weight.dtype == torch.float16
    assert {b.dtype for b in model.vgg.buffers()} == {torch.float32}
    assert model.vgg(images(1, 8).half())["relu2_2"].dtype == torch.float32
    model.to("meta")
    assert {b.device.type for b in model.vgg.buffers()} == {"meta"}


def test_vgg_stays_in_eval_mode(vgg_files):
    model = Translator(vgg_files["vgg16"], layers=["relu1_1"])
    model.train()
    assert model.net.training and not any(m.training for m in model.vgg.modules())
    model.vgg.train(True)
    assert not model.vgg.training


def test_vgg_runs_in_float32_under_autocast(vgg_files):
    vgg = VGGFeatures("vgg16", ["relu2_2"], weights=str(vgg_files["vgg16"]))
    x = images(2, 16).bfloat16()  # what a transform net under bf16 autocast produces
    plain = vgg(x)["relu2_2"]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert nn.Conv2d(3, 4, 3)(torch.zeros(1, 3, 4, 4)).dtype == torch.bfloat16  # autocast is really on
        mixed = vgg(x)["relu2_2"]
    assert mixed.dtype == torch.float32 and torch.equal(mixed, plain)


def test_gradients_reach_the_input_but_nothing_in_vgg(vgg_files):
    vgg = VGGFeatures("vgg16", STYLE_LAYERS, weights=str(vgg_files["vgg16"]))
    x = images(1, 16).requires_grad_(True)
    sum(f.square().mean() for f in vgg(x).values()).backward()
    assert x.grad is not None and x.grad.abs().sum() > 0 and torch.isfinite(x.grad).all()
    assert all(b.grad is None and not b.requires_grad for b in vgg.buffers())


def test_transform_net_trains_through_the_loss_network_only(vgg_files):
    torch.manual_seed(0)
    model = Translator(vgg_files["vgg16"])
    content, style = images(2, 32, seed=1), images(1, 32, seed=2)
    with torch.no_grad():
        target_grams = {name: gram_matrix(f) for name, f in model.vgg(style).items()}
        target_content = model.vgg(content)["relu2_2"]
    output = model.net(content)
    features = model.vgg(output)
    loss = (
        1e5 * feature_loss(features["relu2_2"], target_content)
        + 1e10 * style_loss(features, target_grams)
        + total_variation(output)
    )
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.net.parameters())
    assert sum(float(p.grad.abs().sum()) for p in model.net.parameters()) > 0
    assert all(b.grad is None for b in model.vgg.buffers())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert sum(p.numel() for group in opt.param_groups for p in group["params"]) == 1_679_235


def test_frozen_buffer_names_keep_vgg_out_of_ddp(vgg_files, tmp_path):
    model = Translator(vgg_files["vgg16"], layers=["relu2_2"])
    names = frozen_buffer_names(model)
    assert names == [f"vgg.{name}" for name in model.vgg.frozen_buffers]
    assert len(names) == 2 * 4 + 2  # 4 convs up to relu2_2 (weight, bias) + mean and std
    vgg_buffers = {id(b) for b in model.vgg.buffers()}
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        plain = DistributedDataParallel(model)
        assert vgg_buffers <= {id(b) for b in plain.modules_buffers}  # DDP would broadcast them every forward
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(model, names)
        ignoring = DistributedDataParallel(model)
        assert not vgg_buffers & {id(b) for b in ignoring.modules_buffers}
    finally:
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------- stand-in and weights
@pytest.mark.parametrize(("arch", "cfg"), [("vgg16", "D"), ("vgg19", "E")])
def test_standin_has_the_torchvision_layout_and_sane_features_at_every_tap(vgg_files, arch, cfg):
    state = torch.load(vgg_files[arch], weights_only=True)
    vgg = torchvision.models.vgg
    expected = {f"features.{k}": v.shape for k, v in vgg.make_layers(vgg.cfgs[cfg]).state_dict().items()}
    assert {k: v.shape for k, v in state.items()} == expected
    names = vgg_layer_names(arch)
    loss_net = VGGFeatures(arch, names, weights=str(vgg_files[arch]))
    smooth = F.interpolate(images(1, 4, seed=3), size=(32, 32), mode="bilinear")
    for x in (images(2, 32), smooth):
        stds = {name: float(f.std()) for name, f in loss_net(x).items()}
        assert list(stds) == list(names)
        assert all(0.2 < std < 5 for std in stds.values()), stds  # neither vanishing nor exploding


def test_wrong_file_names_the_file(vgg_files, tmp_path):
    with pytest.raises(ValueError, match=r"random_vgg16\.pth is not a torchvision vgg19 state dict.*features\.16"):
        VGGFeatures("vgg19", ["relu3_4"], weights=str(vgg_files["vgg16"]))
    not_a_dict = tmp_path / "list.pth"
    torch.save([1, 2], not_a_dict)
    with pytest.raises(ValueError, match=r"list\.pth holds a list"):
        VGGFeatures("vgg16", weights=str(not_a_dict))
    with pytest.raises(FileNotFoundError, match=r"--model.init_args.vgg_weights.*missing\.pth"):
        VGGFeatures("vgg19", weights=str(tmp_path / "missing.pth"))


def test_offline_without_weights_raises_a_clear_error(tmp_path):
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        VGGFeatures("vgg19", ["relu2_2"])
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth") in message
    assert f"{FETCH_COMMAND} --only vgg19" in message and "--model.init_args.vgg_weights" in message
    with pytest.raises(WeightsUnavailableError, match="vgg16-397923af.pth") as info:
        VGGFeatures("vgg16")
    assert "--model.init_args.vgg_weights" in str(info.value) and "--metrics.lpips_backbone_weights" in str(info.value)
    assert WEIGHTS["vgg19"].url == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    assert "perceptual" in WEIGHTS["vgg16"].used_by and "LPIPS" in WEIGHTS["vgg16"].used_by


# ------------------------------------------------------------------------------------------------ losses
def test_gram_matrix_by_hand():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # (1, 2, 1, 2): F = [[1, 2], [3, 4]], C*H*W = 4
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4
    torch.testing.assert_close(gram_matrix(features), expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gram_matrix(features.bfloat16()).dtype == torch.float32
    assert gram_matrix(torch.zeros(3, 5, 2, 2)).shape == (3, 5, 5)


def test_feature_loss_by_hand():
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([0.0, 4.0])
    assert float(feature_loss(a, b)) == pytest.approx((1 + 4) / 2)
    assert float(feature_loss(a, b, "l1")) == pytest.approx((1 + 2) / 2)
    assert feature_loss(a.bfloat16(), b.bfloat16()).dtype == torch.float32
    with pytest.raises(ValueError, match="one shape"):
        feature_loss(a, b[:1])
    with pytest.raises(ValueError, match="criterion must be one of 'mse', 'l1'"):
        feature_loss(a, b, "huber")


def test_style_loss_by_hand_with_a_broadcast_target():
    sample = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])  # gram [[1.25, 2.75], [2.75, 6.25]]
    features = {"a": torch.stack([sample, torch.zeros_like(sample)])}  # second sample: gram 0
    target = torch.eye(2)
    expected = ((0.25**2 + 2 * 2.75**2 + 5.25**2) + 2.0) / 8  # mean over N * C * C = 8 entries
    assert float(style_loss(features, {"a": target})) == pytest.approx(expected)
    assert float(style_loss(features, {"a": target[None]})) == pytest.approx(expected)
    assert float(style_loss(features, {"a": target}, {"a": 2.0})) == pytest.approx(2 * expected)
    last_batch = {"a": features["a"][:1]}  # a smaller last batch uses the same target
    assert float(style_loss(last_batch, {"a": target})) == pytest.approx((0.25**2 + 2 * 2.75**2 + 5.25**2) / 4)
    two_layers = {"a": features["a"], "b": features["a"]}
    assert float(style_loss(two_layers, {"a": target, "b": target})) == pytest.approx(2 * expected)
    with pytest.raises(ValueError, match=r"lack the style layers \['c'\]"):
        style_loss(features, {"c": target})
    with pytest.raises(ValueError, match="layer_weights keys"):
        style_loss(features, {"a": target}, {"b": 1.0})
    with pytest.raises(ValueError, match="does not fit"):
        style_loss(features, {"a": torch.eye(3)})


def test_total_variation_by_hand():
    x = torch.tensor([[[[1.0, 2.0, 4.0], [0.0, 0.0, 0.0]]]])  # (1, 1, 2, 3)
    # vertical differences -1, -2, -4 (3 pairs); horizontal 1, 2, 0, 0 (4 pairs)
    assert float(total_variation(x)) == pytest.approx((1 + 4 + 16) / 3 + (1 + 4) / 4)
    assert float(total_variation(x, "l1")) == pytest.approx((1 + 2 + 4) / 3 + (1 + 2) / 4)
    assert float(total_variation(torch.full((2, 3, 4, 4), 0.5))) == 0.0
    assert total_variation(x.bfloat16()).dtype == torch.float32
