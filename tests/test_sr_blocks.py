"""Tests for the SRResNet/SRGAN building blocks: nets, generator EMA, schedulers, SR metrics, tiled inference."""

from __future__ import annotations

import copy
import math
import pickle

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lit_translate.ema import ModelEMA
from lit_translate.evaluation.sr import crop_border, mod_crop, psnr, quantize_8bit, rgb_to_y, ssim
from lit_translate.nets import MSRResNet, RRDBNet, SRResNet, VGGStyleDiscriminator
from lit_translate.schedulers import CosineAnnealingRestartLR, StepwiseLinearDecayLR
from lit_translate.tiling import tile_starts, tiled_forward


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------- nets


@pytest.mark.parametrize(
    ("factory", "expected"),
    [
        (lambda: MSRResNet(scale=4), 1_517_571),  # BasicSR srresnet_arch, reference.md
        (lambda: MSRResNet(scale=3), 1_554_499),
        (lambda: MSRResNet(scale=2), 1_369_859),
        (lambda: VGGStyleDiscriminator(input_size=128), 14_499_401),  # BasicSR discriminator_arch, reference.md
        (lambda: VGGStyleDiscriminator(input_size=256), 21_055_049),
        (lambda: RRDBNet(scale=4), 16_697_987),  # ESRGAN RRDB_ESRGAN_x4 (64 feat, 23 blocks, growth 32)
        (lambda: SRResNet(scale=4), 1_548_547),
    ],
    ids=["msrresnet_x4", "msrresnet_x3", "msrresnet_x2", "vgg_d_128", "vgg_d_256", "rrdbnet_x4", "srresnet_x4"],
)
def test_parameter_counts(factory, expected):
    assert count_params(factory()) == expected


def test_basicsr_state_dict_names():
    # BasicSR checkpoints (params / params_ema) must load with strict=True: the names are BasicSR's.
    names = set(MSRResNet(num_block=2).state_dict())
    expected = {
        f"{layer}.{kind}"
        for layer in ("conv_first", "upconv1", "upconv2", "conv_hr", "conv_last")
        for kind in ("weight", "bias")
    }
    expected |= {f"body.{i}.conv{j}.{kind}" for i in range(2) for j in (1, 2) for kind in ("weight", "bias")}
    assert names == expected
    d_names = set(VGGStyleDiscriminator().state_dict())
    assert {"conv0_0.bias", "bn0_1.running_var", "conv4_1.weight", "bn4_1.weight", "linear2.bias"} <= d_names
    assert "bn0_0.weight" not in d_names and "conv1_0.bias" not in d_names and "conv5_0.weight" not in d_names
    assert {"body.0.rdb3.conv5.weight", "conv_body.weight", "conv_up2.bias"} <= set(RRDBNet(num_block=1).state_dict())


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_msrresnet_shape_and_bilinear_skip_in_signed_range(scale):
    net = MSRResNet(num_block=2, scale=scale).eval()
    x = torch.rand(2, 3, 7, 5) * 2 - 1
    assert net(x).shape == (2, 3, 7 * scale, 5 * scale) and (net.scale, net.size_divisor) == (scale, 1)
    # With the residual path silenced the output is the bilinear skip. BasicSR adds it in [0, 1]; mapped back,
    # that is bilinear(x) in [-1, 1] (bilinear interpolation commutes with the affine range map).
    nn.init.zeros_(net.conv_last.weight), nn.init.zeros_(net.conv_last.bias)
    expected = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    torch.testing.assert_close(net(x), expected, atol=1e-6, rtol=0)
    assert net(torch.full((1, 3, 4, 4), -0.25)).sub(-0.25).abs().max() < 1e-6


def test_msrresnet_init_is_basicsr_kaiming_times_0_1():
    torch.manual_seed(0)
    net = MSRResNet()
    for conv in (net.body[5].conv1, net.conv_first, net.upconv2, net.conv_last):
        fan_in = conv.weight[0].numel()
        assert conv.weight.std().item() == pytest.approx(0.1 * math.sqrt(2 / fan_in), rel=0.08)
        assert torch.count_nonzero(conv.bias) == 0


def test_rrdbnet_init_and_shapes():
    torch.manual_seed(0)
    net = RRDBNet()  # 23 blocks
    conv = net.body[0].rdb1.conv3
    assert conv.weight.std().item() == pytest.approx(0.1 * math.sqrt(2 / conv.weight[0].numel()), rel=0.08)
    assert torch.count_nonzero(net.conv_first.bias) > 0  # BasicSR keeps torch's default init outside the RDBs
    with torch.no_grad():
        assert net(torch.rand(1, 3, 8, 8) * 2 - 1).shape == (1, 3, 32, 32)
    for scale, divisor in ((2, 2), (1, 4)):
        small = RRDBNet(scale=scale, num_block=1).eval()
        assert small.size_divisor == divisor and small(torch.zeros(1, 3, 8, 12)).shape == (1, 3, 8 * scale, 12 * scale)
        with pytest.raises(ValueError, match="divisible by"):
            small(torch.zeros(1, 3, 6, 7))


def test_srresnet_paper_layout():
    net = SRResNet(num_block=2, scale=4)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == 2 * 2 + 1
    assert net.head[0].kernel_size == (9, 9) and net.tail[0].kernel_size == (9, 9)
    assert sum(isinstance(m, nn.PixelShuffle) for m in net.modules()) == 2
    assert net(torch.rand(2, 3, 6, 6)).shape == (2, 3, 24, 24)
    bounded = SRResNet(num_block=1, scale=2, final_activation="tanh")
    assert bounded(torch.randn(2, 3, 5, 5) * 50).abs().max() <= 1
    with pytest.raises(ValueError, match="final_activation"):
        SRResNet(final_activation="sigmoid")


@pytest.mark.parametrize(("factory", "bad"), [(MSRResNet, 8), (RRDBNet, 3), (SRResNet, 3)])
def test_unsupported_scale_is_rejected(factory, bad):
    with pytest.raises(ValueError, match=f"scale={bad}"):
        factory(scale=bad)


def test_vgg_discriminator_sizes_and_errors():
    d = VGGStyleDiscriminator(num_feat=8, input_size=256)
    assert d(torch.rand(2, 3, 256, 256) * 2 - 1).shape == (2, 1)
    with pytest.raises(ValueError, match=r"input_size must be 128 or 256; got input_size=96.*gt_size"):
        VGGStyleDiscriminator(input_size=96)
    with pytest.raises(ValueError, match="gt_size"):
        VGGStyleDiscriminator(num_feat=8)(torch.rand(1, 3, 128, 96))


@pytest.mark.parametrize(
    "factory",
    [
        lambda: MSRResNet(num_feat=8, num_block=2),
        lambda: RRDBNet(num_feat=8, num_block=1, num_grow_ch=4),
        lambda: SRResNet(num_feat=8, num_block=2),
        lambda: VGGStyleDiscriminator(num_feat=4),
    ],
    ids=["msrresnet", "rrdbnet", "srresnet", "vgg_d"],
)
def test_every_parameter_gets_a_gradient(factory):
    net = factory()
    size = 128 if isinstance(net, VGGStyleDiscriminator) else 8
    net(torch.rand(2, 3, size, size) * 2 - 1).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


# ---------------------------------------------------------------- EMA


def tiny_bn_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.PReLU()).double()


def test_ema_matches_closed_form_after_k_updates():
    torch.manual_seed(0)
    decay, source = 0.9, tiny_bn_net()
    ema = ModelEMA(source, decay=decay)
    p0 = [p.detach().clone() for p in source.parameters()]
    history = []
    for _ in range(5):
        with torch.no_grad():
            for p in source.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in source.parameters()])
        ema.update(source)
    k = len(history)
    for n, p_ema in enumerate(ema.averaged.parameters()):
        # p_ema_k = d^k p_0 + (1 - d) sum_{i=1..k} d^(k-i) p_i
        expected = decay**k * p0[n] + (1 - decay) * sum(decay ** (k - i) * history[i - 1][n] for i in range(1, k + 1))
        torch.testing.assert_close(p_ema, expected, atol=1e-12, rtol=0)
    assert ema.num_updates.item() == k


def test_ema_copies_buffers_and_never_trains():
    source = tiny_bn_net()
    ema = ModelEMA(source)
    source.train()(torch.randn(4, 3, 6, 6, dtype=torch.float64))  # moves BN running statistics
    ema.update(source)
    for b_ema, b in zip(ema.averaged.buffers(), source.buffers()):
        assert torch.equal(b_ema, b)  # copied (not averaged): running stats and num_batches_tracked
    host = nn.ModuleDict({"gen": source, "gen_ema": ema}).train()
    assert not any(m.training for m in ema.modules())
    assert all(not p.requires_grad for p in ema.parameters())
    trainable = {id(p) for p in host.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in source.parameters()}  # what an optimizer / DDP reducer would take


def test_ema_state_dict_round_trip_continues_identically():
    torch.manual_seed(1)
    source = tiny_bn_net()
    for p in source.parameters():
        p.grad = torch.ones_like(p)
    ema = ModelEMA(source, decay=0.5)
    assert all(p.grad is None for p in ema.parameters())
    ema.update(source)
    state = copy.deepcopy(ema.state_dict())
    assert {"num_updates", "averaged.0.weight", "averaged.1.running_mean"} <= set(state)
    resumed = ModelEMA(tiny_bn_net(), decay=0.5)
    resumed.load_state_dict(state)
    assert resumed.num_updates.item() == 1
    for _ in range(3):
        with torch.no_grad():
            for p in source.parameters():
                p.mul_(1.5).add_(0.1)
        ema.update(source), resumed.update(source)
    for a, b in zip(ema.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    restored = pickle.loads(pickle.dumps(ema))
    assert torch.equal(restored.averaged[0].weight, ema.averaged[0].weight)


def test_ema_copy_from_validation_and_mismatch():
    source = tiny_bn_net()
    ema = ModelEMA(source)
    with torch.no_grad():
        source[0].weight.add_(1.0)
    ema.update(source)
    ema.copy_from(source)
    assert torch.equal(ema.averaged[0].weight, source[0].weight) and ema.num_updates.item() == 0
    torch.testing.assert_close(
        ema(torch.ones(1, 3, 4, 4, dtype=torch.float64)), source.eval()(torch.ones(1, 3, 4, 4, dtype=torch.float64))
    )
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="decay must be in"):
            ModelEMA(source, decay=bad)
    with pytest.raises(ValueError, match="do not match"):
        ema.update(nn.Sequential(nn.Conv2d(3, 5, 3)).double())


# ---------------------------------------------------------------- schedulers


def lrs(scheduler_factory, steps: int, lr: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=lr)
    sched = scheduler_factory(opt)
    values = []
    for _ in range(steps):
        values.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return values


def test_cosine_restart_values_at_period_boundaries():
    values = lrs(lambda o: CosineAnnealingRestartLR(o, periods=[4, 4], restart_weights=[1, 0.5], eta_min=0.1), 11)
    cos = lambda t, period: 0.5 * (1 + math.cos(math.pi * t / period))  # noqa: E731
    expected = [0.1 + 0.9 * cos(t, 4) for t in range(5)]  # t = 0..4: 1.0 down to eta_min at the period end
    expected += [0.1 + 0.5 * 0.9 * cos(t - 4, 4) for t in range(5, 9)]  # restart at t = 5 with weight 0.5
    expected += [0.1, 0.1]  # past the last period (BasicSR fails there): stays at eta_min
    assert values == pytest.approx(expected, abs=1e-12)
    assert values[2] == pytest.approx(0.55) and values[4] == pytest.approx(0.1) and values[8] == pytest.approx(0.1)


def test_cosine_restart_basicsr_msrresnet_setting():
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-4)
    sched = CosineAnnealingRestartLR(opt, periods=[250000] * 4, restart_weights=[1] * 4, eta_min=1e-7)
    at = lambda t: sched.factor(2e-4, t)  # noqa: E731
    assert sched.total_iters == 1_000_000 and at(0) == pytest.approx(2e-4)
    assert at(125000) == pytest.approx(1e-7 + (2e-4 - 1e-7) / 2) and at(250000) == pytest.approx(1e-7)
    assert at(250001) == pytest.approx(1e-7 + (2e-4 - 1e-7) * 0.5 * (1 + math.cos(math.pi / 250000)))
    assert at(1_000_000) == pytest.approx(1e-7)
    with pytest.raises(ValueError, match="one weight per period"):
        CosineAnnealingRestartLR(opt, periods=[10, 10])
    with pytest.raises(ValueError, match="positive"):
        CosineAnnealingRestartLR(opt, periods=[])


def reference_stargan_lrs(num_iters: int, num_iters_decay: int, lr_update_step: int, lr: float = 1.0) -> list[float]:
    """The lr used at each iteration by yunjey/stargan solver.train (its decay rule re-expressed as a loop)."""
    values, current = [], lr
    for i in range(num_iters):
        values.append(current)
        if (i + 1) % lr_update_step == 0 and (i + 1) > (num_iters - num_iters_decay):
            current -= lr / float(num_iters_decay)
    return values


def test_stepwise_linear_decay_matches_stargan_reference():
    ours = lrs(lambda o: StepwiseLinearDecayLR(o, num_iters=10, num_iters_decay=6, lr_update_step=2), 14)
    assert ours[:10] == pytest.approx(reference_stargan_lrs(10, 6, 2), abs=1e-12)
    assert ours[:6] == [1.0] * 6 and ours[6] == pytest.approx(5 / 6) and ours[10:] == pytest.approx([0.5] * 4)
    to_zero = lrs(lambda o: StepwiseLinearDecayLR(o, 10, 6, 2, decrement="to_zero"), 14)
    assert to_zero[5:] == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3] + [0.0] * 4, abs=1e-12)  # never < 0
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-4)
    default = StepwiseLinearDecayLR(opt)  # 200k iterations, decay over 100k, updates every 1000
    assert default.num_decreases(200_000) == 100 and default.num_decreases(100_999) == 0
    assert 1e-4 - default.num_decreases(200_000) * 1e-4 / 100_000 == pytest.approx(0.999e-4)  # the code barely decays
    with pytest.raises(ValueError, match="decrement"):
        StepwiseLinearDecayLR(opt, decrement="linear")


@pytest.mark.parametrize(
    "factory",
    [
        lambda o: CosineAnnealingRestartLR(o, [5, 7], [1, 0.5], 1e-3),
        lambda o: StepwiseLinearDecayLR(o, 12, 8, 2),
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [3, 6], 0.5),
    ],
    ids=["cosine_restart", "stepwise_linear", "multistep"],
)
def test_scheduler_state_round_trip_mid_schedule(factory):
    def make():
        opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1.0)
        return opt, factory(opt)

    opt, sched = make()
    for _ in range(4):
        opt.step(), sched.step()
    states = pickle.loads(pickle.dumps((opt.state_dict(), sched.state_dict())))
    opt2, sched2 = make()
    opt2.load_state_dict(states[0]), sched2.load_state_dict(states[1])
    for _ in range(10):
        opt.step(), sched.step(), opt2.step(), sched2.step()
        assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_multistep_per_iteration_gives_basicsr_values():
    # BasicSR MultiStepRestartLR (restarts [0]): lr = lr0 * gamma ** (milestones <= t); torch MultiStepLR agrees.
    values = lrs(lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [50, 100, 200, 300], 0.5), 302, lr=1e-4)
    assert values[49] == 1e-4 and values[50] == 5e-5 and values[199] == 2.5e-5 and values[301] == 6.25e-6
    opt = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-4)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [50000, 100000, 200000, 300000], 0.5)
    for t, expected in ((49999, 1e-4), (50000, 5e-5), (100000, 2.5e-5), (200000, 1.25e-5), (300000, 6.25e-6)):
        before = sum(m <= t - 1 for m in (50000, 100000, 200000, 300000))
        state = sched.state_dict() | {"last_epoch": t - 1}  # resume just before iteration t
        opt.param_groups[0]["lr"] = 1e-4 * 0.5**before
        sched.load_state_dict(state)
        opt.step(), sched.step()
        assert opt.param_groups[0]["lr"] == pytest.approx(expected)


# ---------------------------------------------------------------- SR metrics


def test_rgb_to_y_of_pure_colours():
    colours = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]]).view(5, 3, 1, 1)
    expected = [(16 + 65.481) / 255, (16 + 128.553) / 255, (16 + 24.966) / 255, 235 / 255, 16 / 255]
    assert rgb_to_y(colours).flatten().tolist() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="3 channels"):
        rgb_to_y(torch.zeros(1, 1, 2, 2))


def test_crop_and_mod_crop():
    x = torch.arange(13 * 10.0).view(1, 1, 13, 10)
    assert torch.equal(mod_crop(x, 4), x[..., :12, :8]) and mod_crop(x, 1) is not None
    assert torch.equal(crop_border(x, 2), x[..., 2:11, 2:8]) and crop_border(x, 0) is x
    with pytest.raises(ValueError, match="crop_border"):
        crop_border(x, 5)


def test_psnr_of_a_constant_offset():
    hr = torch.full((2, 3, 16, 16), 100 / 255)
    sr = hr + 10 / 255
    assert psnr(sr, hr).tolist() == pytest.approx([20 * math.log10(255 / 10)] * 2, abs=1e-9)  # 28.1308 dB
    # Y of an offset d in all channels is offset by d * 219 / 255 (65.481 + 128.553 + 24.966 = 219).
    assert psnr(sr, hr, y_channel=True)[0].item() == pytest.approx(20 * math.log10(255 / 10 / (219 / 255)), abs=1e-6)
    assert psnr(hr, hr).tolist() == [math.inf, math.inf]


def test_psnr_crop_border_and_quantisation():
    hr = torch.rand(1, 3, 20, 20)
    sr = hr.clone()
    sr[..., :4, :] = 0  # a wrong border only
    assert math.isfinite(psnr(sr, hr).item()) and psnr(sr, hr, crop_border=4).item() == math.inf
    off_grid = quantize_8bit(hr) + 0.3 / 255  # rounds back onto the 8-bit grid
    assert psnr(off_grid, hr).item() == math.inf and math.isfinite(psnr(off_grid, quantize_8bit(hr), quantize=False))
    assert psnr(torch.full_like(hr, 1.2), torch.ones_like(hr)).item() == math.inf  # clamped as tensor2img
    with pytest.raises(ValueError, match="shapes differ"):
        psnr(hr, hr[..., :10])


def test_ssim_hand_values():
    hr = torch.rand(2, 3, 24, 24)
    assert ssim(hr, hr).tolist() == pytest.approx([1.0, 1.0], abs=1e-12)
    a, b = 51 / 255, 153 / 255  # constant images: sigma = 0, SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    value = ssim(torch.full((1, 1, 16, 16), a), torch.full((1, 1, 16, 16), b)).item()
    assert value == pytest.approx((2 * a * b + 1e-4) / (a * a + b * b + 1e-4), abs=1e-9)
    with pytest.raises(ValueError, match="11x11"):
        ssim(hr, hr, crop_border=7)


def test_ssim_matches_an_opencv_implementation_of_the_basicsr_formula():
    cv2 = pytest.importorskip("cv2")
    import numpy as np

    torch.manual_seed(0)
    hr = torch.rand(1, 3, 30, 26)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1)
    x, y = ((t[0].double().clamp(0, 1) * 255).round().numpy() for t in (sr, hr))  # tensor2img's uint8 values
    window = np.outer(cv2.getGaussianKernel(11, 1.5), cv2.getGaussianKernel(11, 1.5).T)
    blur = lambda im: cv2.filter2D(im, -1, window)[5:-5, 5:-5]  # noqa: E731
    c1, c2, values = (0.01 * 255) ** 2, (0.03 * 255) ** 2, []
    for u, v in zip(x, y):
        mu_u, mu_v = blur(u), blur(v)
        s_uu, s_vv, s_uv = blur(u * u) - mu_u**2, blur(v * v) - mu_v**2, blur(u * v) - mu_u * mu_v
        num = (2 * mu_u * mu_v + c1) * (2 * s_uv + c2)
        values.append((num / ((mu_u**2 + mu_v**2 + c1) * (s_uu + s_vv + c2))).mean())
    assert ssim(sr, hr).item() == pytest.approx(float(np.mean(values)), abs=1e-10)


# ---------------------------------------------------------------- tiled inference


def conv_net(scale: int = 1) -> nn.Module:
    """Three 3x3 convs (receptive-field radius 3 input pixels), optionally a x2 pixel shuffle at the end."""
    torch.manual_seed(0)
    out = 3 * scale * scale
    layers = [nn.Conv2d(3, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU(), nn.Conv2d(8, out, 3, 1, 1)]
    return nn.Sequential(*layers, nn.PixelShuffle(scale)).eval()


class TinyUNet(nn.Module):
    """Two 2x poolings (sizes must be multiples of 4), 3x3 convs and skips; no normalisation."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.enc0, self.enc1, self.mid = nn.Conv2d(3, 4, 3, 1, 1), nn.Conv2d(4, 4, 3, 1, 1), nn.Conv2d(4, 4, 3, 1, 1)
        self.dec1, self.dec0 = nn.Conv2d(8, 4, 3, 1, 1), nn.Conv2d(8, 3, 3, 1, 1)

    def forward(self, x):
        e0 = torch.relu(self.enc0(x))
        e1 = torch.relu(self.enc1(F.avg_pool2d(e0, 2)))
        m = torch.relu(self.mid(F.avg_pool2d(e1, 2)))
        d1 = torch.relu(self.dec1(torch.cat([F.interpolate(m, scale_factor=2.0), e1], 1)))
        return self.dec0(torch.cat([F.interpolate(d1, scale_factor=2.0), e0], 1))


@pytest.mark.parametrize("blend", ["gaussian", "linear", "uniform"])
@pytest.mark.parametrize("size", [(37, 29), (10, 7)], ids=["not_stride_multiple", "smaller_than_tile"])
def test_tiled_equals_whole_for_a_norm_free_net(blend, size):
    net, x = conv_net(), torch.randn(2, 3, *size)
    tiled = tiled_forward(net, x, tile=16, overlap=8, blend=blend, margin=3)  # margin = receptive-field radius
    torch.testing.assert_close(tiled, net(x), atol=1e-5, rtol=0)


def test_margin_below_receptive_field_shows_the_tile_edges():
    net, x = conv_net(), torch.randn(1, 3, 37, 29)
    # SwinIR/MONAI-style weights that never vanish: the zero padding at cut tile edges leaks into the blend.
    assert (tiled_forward(net, x, tile=16, overlap=8, margin=0) - net(x)).abs().max() > 1e-3


def test_tiled_scale_2_pixel_shuffle_and_batching():
    net, x = conv_net(scale=2), torch.randn(1, 3, 33, 21)
    whole = net(x)
    for batch in (1, 3):
        tiled = tiled_forward(net, x, tile=12, overlap=8, scale=2, batch=batch, margin=3)
        assert tiled.shape == (1, 3, 66, 42) and not tiled.requires_grad
        torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)


@pytest.mark.parametrize("size", [(72, 52), (70, 45), (9, 6)], ids=["multiple_of_4", "padded", "smaller_than_tile"])
def test_tiled_unet_needing_multiples_of_4(size):
    net, x = TinyUNet().eval(), torch.randn(1, 3, *size)
    seen = []

    def record(tiles):
        seen.append(tuple(tiles.shape[-2:]))
        return net(tiles)

    tiled = tiled_forward(record, x, tile=32, overlap=24, size_divisor=4, margin=12)
    padded = F.pad(x, (0, -size[1] % 4, 0, -size[0] % 4), mode="reflect")  # what a whole-image run needs too
    whole = net(padded)[..., : size[0], : size[1]]
    torch.testing.assert_close(tiled, whole, atol=1e-5, rtol=0)
    assert all(h % 4 == 0 and w % 4 == 0 and h <= 32 and w <= 32 for h, w in seen)  # memory bounded by the tile


def test_instance_norm_net_shows_seams_as_expected():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.InstanceNorm2d(8), nn.ReLU(), nn.Conv2d(8, 3, 3, 1, 1)).eval()
    x = torch.randn(1, 3, 40, 40) + torch.linspace(-2, 2, 40)  # per-tile statistics differ across the image
    difference = (tiled_forward(net, x, tile=24, overlap=8, margin=2) - net(x)).abs()
    # Expected gap, not a bug: InstanceNorm normalises each tile with its own statistics, which no margin fixes.
    assert difference.max() > 1e-2


def test_tile_starts_are_flush():
    assert tile_starts(37, 16, 8) == [0, 8, 16, 21] and tile_starts(10, 16, 8) == [0] and tile_starts(16, 16, 8) == [0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": 16, "overlap": 16}, "smaller than tile"),
        ({"tile": 18, "overlap": 8, "size_divisor": 4}, "multiple of size_divisor"),
        ({"tile": 16, "overlap": 6, "size_divisor": 4}, r"overlap \(6\) must be a multiple"),
        ({"tile": 16, "overlap": 8, "margin": 5}, "margin"),
        ({"tile": 16, "overlap": 8, "blend": "cosine"}, "blend must be one of"),
        ({"tile": 16, "overlap": 8, "batch": 0}, "batch"),
        ({"tile": 16, "overlap": 8, "scale": 2}, "scale=2"),  # the net does not upsample
    ],
)
def test_tiled_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiled_forward(conv_net(), torch.randn(1, 3, 20, 20), **kwargs)
