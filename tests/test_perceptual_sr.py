"""PerceptualSR (Johnson et al. 2016, feature-loss super-resolution), beyond the shared method harness.

The harness trains configs/perceptual_sr/demo.yaml; here: the loss terms by hand, the per-pixel baseline without
any VGG, x4/x8 shapes through the method, the frozen loss network kept out of checkpoints, and bad input (a scale
the network does not support or the data disagrees with, HR images smaller than the patch, pre-made LR images of
the wrong size, VGG weights offline) raised before the first step. VGG weights are the random stand-in.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from conftest import CONFIGS, run_cli, tiny_args, write_image
from PIL import Image

from lit_translate.cli import main
from lit_translate.methods import PerceptualSR
from lit_translate.methods.perceptual_sr import sr_scores
from lit_translate.nets import PerceptualSRNet
from lit_translate.standins import random_vgg_state
from lit_translate.weights import FETCH_COMMAND, WeightsUnavailableError

DEMO = CONFIGS / "perceptual_sr" / "demo.yaml"
pytestmark = [
    pytest.mark.filterwarnings("ignore:Using .* as custom vgg16 weights:UserWarning"),
    pytest.mark.filterwarnings("ignore:vgg_weights='random':UserWarning"),
]


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the test suite")


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """Every connection and download fails; the torch.hub cache is an empty folder."""
    for name in ("connect", "connect_ex"):
        monkeypatch.setattr(socket.socket, name, _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("vgg") / "random_vgg16.pth"
    torch.save(random_vgg_state("vgg16"), path)
    return path


def small_args(run, steps=2):
    return [*tiny_args(run, steps=steps), "--data.gt_size", "32", "--data.synthetic_canvas", "32"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("psr") / "run"
    cli = run_cli(["-c", str(DEMO), *small_args(run)])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return cli, run


def hr_folder(root, sizes):
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate(sizes):
        write_image(root / f"img{i}.png", rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
    return root


# ------------------------------------------------------------------------------------------------- losses
def test_feature_loss_is_relu2_2_mse_and_the_baseline_needs_no_vgg(vgg_file):
    torch.manual_seed(0)
    model = PerceptualSR(PerceptualSRNet(4), vgg_weights=str(vgg_file), feature_weight=2.0, tv_weight=0.5)
    model.setup("fit")
    sr, hr = torch.rand(2, 3, 24, 24) * 2 - 1, torch.rand(2, 3, 24, 24) * 2 - 1
    terms = model.loss_terms(sr, hr)
    assert list(terms) == ["feature", "tv"]
    vgg = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])[:9]  # up to relu2_2
    vgg.load_state_dict({k.removeprefix("features."): v for k, v in torch.load(vgg_file).items()}, strict=False)
    mean, std = (
        torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1),
        torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1),
    )

    def phi(x):  # pytorch/examples on 0-255 pixels: normalize_batch, then the relu2_2 slice
        return vgg(((x + 1) * 127.5 / 255.0 - mean) / std)

    torch.testing.assert_close(terms["feature"], 2.0 * F.mse_loss(phi(sr), phi(hr)), rtol=1e-5, atol=0)
    vertical = (sr[:, :, 1:] - sr[:, :, :-1]).pow(2).mean()
    horizontal = (sr[..., 1:] - sr[..., :-1]).pow(2).mean()
    torch.testing.assert_close(terms["tv"], 0.5 * (vertical + horizontal))
    baseline = PerceptualSR(PerceptualSRNet(4), loss="pixel", pixel_weight=3.0, vgg_weights="no/such/file.pth")
    baseline.setup("fit")
    assert baseline.vgg is None, "the per-pixel baseline builds no loss network"
    assert list(baseline.loss_terms(sr, hr)) == ["pixel"]
    torch.testing.assert_close(baseline.loss_terms(sr, hr)["pixel"], 3.0 * ((sr - hr) ** 2).mean())


@pytest.mark.parametrize(("scale", "params"), [(4, 401_859), (8, 438_915)])
def test_x4_and_x8_output_shapes_and_parameter_counts(scale, params):
    model = PerceptualSR(PerceptualSRNet(scale), vgg_weights="random")
    assert sum(p.numel() for p in model.parameters()) == params  # the SR net alone: the VGG has no parameters
    assert model.output_scale() == scale
    out = model.translate_any_size(torch.rand(1, 3, 13, 7) * 2 - 1)
    assert out.shape == (1, 3, 13 * scale, 7 * scale) and out.abs().max() <= 1


# ---------------------------------------------------------------------------------------- frozen loss network
def test_only_the_sr_network_trains_and_is_saved(trained):
    cli, run = trained
    model = cli.model
    assert not list(model.vgg.parameters()) and all(not b.requires_grad for b in model.vgg.buffers())
    slots = {id(p) for group in model.optimizers().optimizer.param_groups for p in group["params"]}
    assert slots == {id(p) for p in model.generator.parameters()}
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert all(key.startswith("generator.") for key in ckpt["state_dict"]), sorted(ckpt["state_dict"])[:5]
    trained_bytes = sum(p.numel() * 4 for p in model.generator.parameters())
    assert (run / "checkpoints" / "last.ckpt").stat().st_size < 3 * trained_bytes + 1_000_000


def test_predict_upscales_odd_sizes_x4_without_the_loss_network(trained, tmp_path):
    _, run = trained
    inputs, out = tmp_path / "in", tmp_path / "out"
    hr_folder(inputs, [(13, 29), (7, 8)])
    common = ["--trainer.accelerator", "cpu", "--trainer.devices", "1", "--trainer.logger", "false"]
    ckpt = str(run / "checkpoints" / "last.ckpt")
    main(
        ["predict", "--ckpt_path", ckpt, "--data.init_args.predict_dir", str(inputs), "--predict_writer.output_dir"]
        + [str(out), "--model.init_args.vgg_weights", "missing.pth", *common]
    )
    assert Image.open(out / "img0.png").size == (29 * 4, 13 * 4) and Image.open(out / "img1.png").size == (32, 28)


# ------------------------------------------------------------------------------------------------ bad input
def fit_fails(args, error, match):
    cli = run_cli(args)
    with pytest.raises(error, match=match):
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0


def test_unsupported_or_mismatched_scale_is_refused(tmp_path, capsys):
    with pytest.raises(ValueError, match="scale must be one of 4, 8"):
        PerceptualSRNet(3)
    with pytest.raises(SystemExit):
        run_cli(["-c", str(DEMO), *small_args(tmp_path / "a"), "--model.init_args.generator.init_args.scale", "3"])
    assert "scale" in capsys.readouterr().err
    args = ["-c", str(DEMO), *small_args(tmp_path / "b"), "--model.init_args.generator.init_args.scale", "8"]
    fit_fails(args, ValueError, r"--data.init_args.scale is 4 but the generator upsamples x8")


def test_small_hr_images_and_wrong_lr_sizes_fail_naming_the_file(tmp_path):
    base = ["-c", str(DEMO), *small_args(tmp_path / "run"), "--data.val_batch_size", "1"]
    small = hr_folder(tmp_path / "small", [(40, 40), (20, 44)])
    folders = ["--data.train_dir", str(small), "--data.val_dir", str(small)]
    fit_fails([*base, *folders], ValueError, r"img1\.png.*gt_size")
    good = hr_folder(tmp_path / "good", [(32, 48), (36, 40)])
    lr = hr_folder(tmp_path / "lr", [(8, 12), (9, 11)])  # img1 should be 9 x 10 (36 x 40 / 4)
    folders = ["--data.train_dir", str(good), "--data.train_lr_dir", str(lr), "--data.val_dir", str(good)]
    fit_fails([*base, *folders], ValueError, r"img1\.png")


def test_offline_vgg_error_names_the_file_and_the_fix_before_training(offline, tmp_path):
    cli = run_cli(["-c", str(DEMO), *small_args(tmp_path / "run"), "--model.init_args.vgg_weights", "null"])
    with pytest.raises(WeightsUnavailableError) as info:
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    assert cli.trainer.global_step == 0
    message = str(info.value)
    assert "vgg16-397923af.pth" in message and f"{FETCH_COMMAND} --only vgg16" in message
    assert "--model.init_args.vgg_weights" in message


def test_sr_scores_follow_the_basicsr_y_convention_with_the_border_cropped():
    rng = np.random.default_rng(0)
    levels = torch.from_numpy(rng.integers(20, 200, (2, 3, 24, 24))).double()
    hr = levels / 127.5 - 1  # exact 8-bit levels in [-1, 1]
    sr = (levels + 4) / 127.5 - 1  # every channel 4 levels brighter
    sr[..., :4, :] = -1.0  # the 4 px border (scale 4) is wrong but cropped away
    scores = sr_scores(sr.float(), hr.float(), scale=4)
    y_step = 4 * (65.481 + 128.553 + 24.966) / 255 / 255  # Y of BT.601 (MATLAB rgb2ycbcr) in [0, 1]
    expected = -20 * np.log10(y_step)
    torch.testing.assert_close(scores["psnr_y"], torch.full((2,), expected, dtype=torch.float64), rtol=0, atol=1e-3)
    assert scores["ssim_y"].shape == (2,) and bool((scores["ssim_y"] > 0.9).all())


def test_validation_logs_both_conventions_and_the_bicubic_reference(trained):
    cli, _ = trained
    logged = cli.trainer.logged_metrics
    for key in ("val/l1", "val/feature", "val/psnr_y", "val/ssim_y", "val/psnr_y_bicubic", "val/psnr", "val/ssim"):
        assert key in logged and torch.isfinite(logged[key]), key
