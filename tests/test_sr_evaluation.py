"""The SR evaluation convention of the metrics callback (channels, border crop, quantisation) and the SR report."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from conftest import CONFIGS, run_cli, tiny_args, write_image
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from lit_translate.evaluation import TranslationMetrics
from lit_translate.evaluation import sr as scores
from lit_translate.evaluation.sr_metrics import PSNRProtocol

warnings.filterwarnings("ignore", message=".*(eval mode|LeafSpec).*")


def metrics(**kwargs) -> TranslationMetrics:
    return TranslationMetrics(fid=False, kid=False, lpips=False, **kwargs)


def pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two images in [-1, 1] on the 8-bit grid: real, and real + 4 levels inside a 3-pixel border."""
    rng = np.random.default_rng(seed)
    real = torch.from_numpy(rng.integers(8, 240, (2, 3, 24, 20))).double()
    fake = real.clone()
    fake[..., 3:-3, 3:-3] += 4
    fake[..., :3, :] = 0  # garbage in the border rows: cropped away by a border of 3
    return (fake / 127.5 - 1).float(), (real / 127.5 - 1).float()


def test_default_is_todays_torchmetrics_psnr_ssim_on_rgb_without_crop():
    callback = metrics()
    built = callback.protocol.build(psnr=True, ssim=True)
    assert isinstance(built["psnr"], PeakSignalNoiseRatio) and isinstance(
        built["ssim"], StructuralSimilarityIndexMeasure
    )
    assert sorted(built) == ["psnr", "ssim"] and callback.protocol.border() == 0
    fake, real = pair()
    callback.update({"": (fake, real)}, paired=True)
    values = callback.compute()
    expected = PeakSignalNoiseRatio(data_range=1.0, dim=(1, 2, 3))((fake + 1) / 2, (real + 1) / 2)
    assert values["psnr"] == pytest.approx(float(expected), abs=1e-6) and set(values) == {"psnr", "ssim"}


def test_sr_convention_crops_the_border_and_scores_rgb_and_y_against_hand_values():
    callback = metrics(psnr_ssim="basicsr", psnr_channels="both", crop_border="auto")
    callback.protocol.scale = 3  # "auto": the model's output_scale()
    fake, real = pair()
    callback.update({"": (fake, real)}, paired=True)
    values = callback.compute()
    # Inside the crop every pixel differs by 4/255 in R, G and B, so in Y by (65.481 + 128.553 + 24.966) / 255 * 4.
    assert values["psnr"] == pytest.approx(20 * math.log10(255 / 4), abs=1e-9)
    assert values["psnr_y"] == pytest.approx(20 * math.log10(255 / (219.0 / 255 * 4)), abs=1e-9)
    fake_unit, real_unit = (scores.mod_crop((x + 1) / 2, 3) for x in (fake, real))  # 24 x 20 -> 24 x 18
    expected_ssim = scores.ssim(fake_unit, real_unit, crop_border=3, y_channel=True).mean()
    assert values["ssim_y"] == pytest.approx(float(expected_ssim), abs=1e-12) and values["ssim"] < 1
    uncropped = metrics(psnr_ssim="basicsr", crop_border=0)
    uncropped.update({"": (fake, real)}, paired=True)
    assert uncropped.compute()["psnr"] < values["psnr"] - 10  # the border garbage counts without the crop


def test_the_convention_is_described_for_reports_and_bad_values_name_the_option():
    sr_protocol = PSNRProtocol("basicsr", "both", "auto")
    sr_protocol.scale = 4
    text = sr_protocol.describe()
    assert "RGB and Y" in text and "4 px cropped at each border" in text and "multiple of the scale 4" in text
    assert "no border crop" in PSNRProtocol().describe() and "torchmetrics" in PSNRProtocol().describe()
    with pytest.raises(ValueError, match="psnr_channels must be one of"):
        PSNRProtocol(channels="ycbcr")
    with pytest.raises(ValueError, match="crop_border must be"):
        PSNRProtocol(crop_border=-1)


def test_lit_translate_test_on_a_folder_of_hr_images_reports_both_conventions(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "set"
    for name, size in (("a.png", (40, 52)), ("b.png", (36, 36))):
        write_image(folder / name, rng.integers(0, 255, (*size, 3), dtype=np.uint8))
    demo = str(CONFIGS / "srresnet" / "demo.yaml")
    cli = run_cli(["-c", demo, *tiny_args(tmp_path / "run", steps=1)])
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    args = ["test", "-c", demo, *tiny_args(tmp_path / "run"), "--data.val_batch_size", "1"]
    run_cli([*args, "--data.test_dir", str(folder), "--ckpt_path", str(ckpt)], run=True)
    (report,) = (tmp_path / "run" / "eval").glob("test-*/report.md")
    text = report.read_text()
    for name in ("test/psnr", "test/psnr_y", "test/ssim", "test/ssim_y", "test/psnr_bicubic", "test/psnr_y_bicubic"):
        assert f"| {name} |" in text, name
    assert "PSNR/SSIM on RGB and Y (BT.601, MATLAB rgb2ycbcr), 4 px cropped at each border" in text
    assert "| images | 2, bicubic: 2 |" in text
