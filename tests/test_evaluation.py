"""Evaluation: metric values against direct computations, DDP equality, checkpoints, offline weights, reports.

Nothing here touches the network: an autouse fixture makes every socket connection and DNS lookup fail, and
TORCH_HOME points into the test's tmp_path. Pretrained networks are replaced by tiny deterministic ones or by
randomly initialised weight files the tests write themselves.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
import yaml
from conftest import CONFIGS, ROOT, tiny_args
from lightning.pytorch import Callback, LightningModule, Trainer
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from lit_translate.cli import main as cli_main
from lit_translate.data.paired import SYNTHETIC_EVAL_SIZE
from lit_translate.evaluation import (
    WEIGHTS,
    EvaluationReport,
    TranslationMetrics,
    WeightsChecksumError,
    WeightsUnavailableError,
    build_lpips_net,
    resolve_weights,
    to_lpips_input,
    to_rgb,
    to_uint8,
    to_unit,
    write_report,
)
from lit_translate.evaluation import weights as weights_module
from lit_translate.evaluation.__main__ import main as evaluation_main
from lit_translate.evaluation.metrics import LPIPSMean
from lit_translate.evaluation.standins import random_alexnet_features_state, random_inception_state
from lit_translate.evaluation.weights import file_sha256

INCEPTION = WEIGHTS["inception"]


# --------------------------------------------------------------------------------------------------- fixtures
def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the test suite")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every connection and DNS lookup fails; the torch.hub cache is an empty folder."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations checks PyPI at import otherwise


class TinyFeatures(nn.Module):
    """Deterministic feature extractor: fixed random conv, ReLU, spatial mean -> (N, 6)."""

    def __init__(self, in_channels: int = 3, declare_size: bool = False) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(123)
        self.conv = nn.Conv2d(in_channels, 6, 3, bias=True)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=generator))
            self.conv.bias.copy_(torch.randn(6, generator=generator) * 0.1)
        if declare_size:
            self.num_features = 6

    def forward(self, x):
        return torch.tanh(self.conv(x)).mean(dim=(2, 3))


class PaddedFeatures(TinyFeatures):
    """TinyFeatures plus 65k parameters that forward() never uses: they would show in a checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.padding = nn.Linear(256, 256)


class ToyTranslator(LightningModule):
    """Identity "generator": evaluation_pairs returns (batch["A"], batch["B"]) (or both directions if unpaired)."""

    paired = True
    inference_mode = "eval"

    def __init__(self, paired: bool = True, dtype: torch.dtype | None = None) -> None:
        super().__init__()
        self.paired = paired
        self.dtype_out = dtype
        self.layer = nn.Linear(4, 4)

    def evaluation_pairs(self, batch):
        fake, real = batch["A"], batch["B"]
        if self.dtype_out is not None:
            fake = fake.to(self.dtype_out)
        if self.paired:
            return {"": (fake, real)}
        return {"ab": (fake, real), "ba": (real, fake)}

    def training_step(self, batch, batch_idx):
        return self.layer(batch["A"].mean(dim=(2, 3)).repeat(1, 2)[:, :4]).pow(2).mean()

    def validation_step(self, batch, batch_idx):
        return None

    def test_step(self, batch, batch_idx):
        return None

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def make_images(n: int, size: int = 16, channels: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(fake, real) in [-1, 1] from two different distributions; the reals are a noisy copy of the fakes."""
    generator = torch.Generator().manual_seed(seed)
    fake = torch.rand(n, channels, size, size, generator=generator) * 2 - 1
    noise = torch.rand(n, channels, size, size, generator=generator) * 2 - 1
    real = (0.6 * fake + 0.5 * noise + 0.2).clamp(-1, 1)
    return fake, real


def loader(fake, real, batch_size: int = 5) -> DataLoader:
    items = [{"A": fake[i], "B": real[i], "A_path": f"synthetic:val:{i}"} for i in range(len(fake))]
    return DataLoader(items, batch_size=batch_size)


def trainer_for(*callbacks, **kwargs) -> Trainer:
    settings = dict(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    settings.update(kwargs)
    return Trainer(callbacks=list(callbacks), **settings)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    mu_x, mu_y = x.mean(0), y.mean(0)
    cov_x, cov_y = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(cov_x @ cov_y).real
    return float(((mu_x - mu_y) ** 2).sum() + np.trace(cov_x + cov_y - 2 * covmean))


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Polynomial kernel (x.y / d + 1)^3, unbiased within-set terms (Binkowski et al. 2018)."""
    d, m = x.shape[1], x.shape[0]

    def kernel(a, b):
        return (a @ b.T / d + 1.0) ** 3

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / m**2)


def features(images: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return TinyFeatures()(to_unit(images)).double().numpy()


@pytest.fixture(scope="module")
def alexnet_features_state() -> dict[str, torch.Tensor]:
    """A randomly initialised torchvision AlexNet's ``features.*`` state (what the LPIPS backbone loader uses)."""
    return random_alexnet_features_state()


@pytest.fixture
def random_alexnet_file(tmp_path, alexnet_features_state) -> Path:
    path = tmp_path / "random_alexnet.pth"
    torch.save(alexnet_features_state, path)
    return path


@pytest.fixture(scope="module")
def inception_state() -> dict[str, torch.Tensor]:
    """torch-fidelity's InceptionV3 (the FID/KID network) with random, calibrated weights, in the real layout."""
    return random_inception_state()


@contextmanager
def quiet_custom_weights():
    """Our custom-weights warning is expected whenever a test passes its own random backbone."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using .* as custom", category=UserWarning)
        yield


# ------------------------------------------------------------------------------------------ FID / KID values
def test_fid_and_kid_match_direct_computation():
    fake, real = make_images(23)
    callback = TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False, psnr=False, ssim=False)
    trainer = trainer_for(callback)
    trainer.validate(ToyTranslator(), dataloaders=loader(fake, real, batch_size=5))  # last batch is smaller

    x, y = features(real), features(fake)
    expected_fid, expected_kid = frechet_distance(x, y), unbiased_mmd2(x, y)
    assert expected_fid > 0.01 and expected_kid > 1e-4
    assert callback.results["val/fid"] == pytest.approx(expected_fid, rel=1e-3)
    assert float(trainer.callback_metrics["val/fid"]) == pytest.approx(expected_fid, rel=1e-3)
    assert callback.results["val/kid"] == pytest.approx(expected_kid, rel=1e-6)
    assert float(trainer.callback_metrics["val/kid"]) == pytest.approx(expected_kid, rel=1e-4)
    assert callback.num_images == {"": 23}
    assert {"val/lpips", "val/psnr", "val/ssim"}.isdisjoint(trainer.callback_metrics)


def test_kid_with_subsets_is_seeded_and_rank_independent():
    fake, real = make_images(12)
    values = []
    for _ in range(2):
        callback = TranslationMetrics(feature_extractor=TinyFeatures(), fid=False, kid_subset_size=6, lpips=False)
        torch.manual_seed(len(values))  # a different global RNG state each time: the KID must not depend on it
        trainer_for(callback).validate(ToyTranslator(), dataloaders=loader(fake, real))
        values.append(callback.results["val/kid"])
    assert values[0] == values[1]
    assert values[0] != pytest.approx(unbiased_mmd2(features(real), features(fake)), rel=1e-9)


def test_kid_needs_two_images():
    fake, real = make_images(1)
    callback = TranslationMetrics(feature_extractor=TinyFeatures(), fid=False, lpips=False)
    with pytest.raises(ValueError, match="at least 2 generated and 2 real images"):
        trainer_for(callback).validate(ToyTranslator(), dataloaders=loader(fake, real))


def test_unpaired_logs_each_direction_and_no_paired_metrics():
    fake, real = make_images(8)
    callback = TranslationMetrics(feature_extractor=TinyFeatures(declare_size=True))  # lpips unused: unpaired
    trainer = trainer_for(callback)
    trainer.validate(ToyTranslator(paired=False), dataloaders=loader(fake, real, batch_size=3))
    assert set(callback.results) == {"val/fid_ab", "val/fid_ba", "val/kid_ab", "val/kid_ba"}
    assert callback.results["val/fid_ab"] == pytest.approx(callback.results["val/fid_ba"], rel=1e-6)  # symmetric
    assert callback.num_images == {"ab": 8, "ba": 8}
    assert callback._lpips_model is None  # no LPIPS backbone was needed (or looked for)


def test_autocast_and_bf16_outputs_are_evaluated_in_float32():
    fake, real = make_images(10)
    reference = TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False)
    trainer_for(reference).validate(ToyTranslator(), dataloaders=loader(fake, real))
    mixed = TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False)
    trainer_for(mixed, precision="bf16-mixed").validate(ToyTranslator(), dataloaders=loader(fake, real))
    for key, value in reference.results.items():  # the feature net ran in float32 despite the autocast
        assert mixed.results[key] == pytest.approx(value, rel=1e-5), key
    bf16 = TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False)
    trainer_for(bf16).validate(ToyTranslator(dtype=torch.bfloat16), dataloaders=loader(fake, real))
    assert all(isinstance(v, float) and np.isfinite(v) for v in bf16.results.values())
    assert bf16.results["val/psnr"] == pytest.approx(reference.results["val/psnr"], abs=0.1)


def test_psnr_ssim_conventions():
    from torchmetrics.functional.image import structural_similarity_index_measure

    fake, real = make_images(6, size=24)
    callback = TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False)
    trainer_for(callback).validate(ToyTranslator(), dataloaders=loader(fake, real, batch_size=4))
    f, r = to_unit(fake).double(), to_unit(real).double()
    mse = ((f - r) ** 2).mean(dim=(1, 2, 3))
    assert callback.results["val/psnr"] == pytest.approx(float((10 * torch.log10(1 / mse)).mean()), rel=1e-5)
    ssim = structural_similarity_index_measure(to_unit(fake), to_unit(real), data_range=1.0)
    assert callback.results["val/ssim"] == pytest.approx(float(ssim), rel=1e-5)


def test_metrics_run_every_n_epochs_and_never_in_sanity_check():
    fake, real = make_images(6)
    seen: list[tuple[bool, int, bool]] = []

    class Spy(Callback):
        def on_validation_end(self, trainer, pl_module):
            seen.append((trainer.sanity_checking, trainer.current_epoch, "val/fid" in trainer.callback_metrics))

    callback = TranslationMetrics(every_n_epochs=2, feature_extractor=TinyFeatures(), lpips=False)
    trainer = trainer_for(callback, Spy(), max_epochs=2, limit_train_batches=1, num_sanity_val_steps=1)
    trainer.fit(ToyTranslator(), train_dataloaders=loader(fake, real), val_dataloaders=loader(fake, real))
    assert seen == [(True, 0, False), (False, 0, False), (False, 1, True)]


# ------------------------------------------------------------------------------------------------ adapters, LPIPS
def test_range_adapters():
    x = torch.rand(4, 3, 8, 8) * 2 - 1
    unit = (x + 1) / 2
    assert torch.allclose(to_unit(x), unit)
    assert torch.equal(to_uint8(x), to_uint8(unit, value_range=(0.0, 1.0)))
    assert torch.allclose(to_lpips_input(unit, value_range=(0.0, 1.0)), x, atol=1e-6)
    assert torch.equal(to_uint8(torch.tensor([-1.0, 0.0, 1.0])), torch.tensor([0, 128, 255], dtype=torch.uint8))
    wild = torch.randn(2, 3, 8, 8) * 5  # out of range values are clamped, never wrapped
    assert to_uint8(wild).dtype == torch.uint8
    assert torch.equal(to_uint8(wild)[wild > 1], torch.full_like(wild[wild > 1], 255, dtype=torch.uint8))
    assert to_unit(wild).min() >= 0 and to_unit(wild).max() <= 1
    assert to_lpips_input(wild).min() >= -1 and to_lpips_input(wild).max() <= 1
    half = x.to(torch.bfloat16)
    assert to_unit(half).dtype == torch.float32 and to_lpips_input(half).dtype == torch.float32
    assert to_rgb(x[:, :1]).shape == (4, 3, 8, 8)
    with pytest.raises(ValueError, match="feature_extractor"):
        to_rgb(torch.zeros(1, 2, 8, 8))


def test_lpips_same_value_from_either_input_range(random_alexnet_file):
    with quiet_custom_weights():
        net = build_lpips_net("alex", str(random_alexnet_file))
    fake, real = make_images(3, size=32)
    from_signed, from_unit = LPIPSMean(net), LPIPSMean(net)
    from_signed.update(to_lpips_input(fake), to_lpips_input(real))
    from_unit.update(to_lpips_input((fake + 1) / 2, (0.0, 1.0)), to_lpips_input((real + 1) / 2, (0.0, 1.0)))
    value = float(from_signed.compute())
    assert value > 0
    assert float(from_unit.compute()) == pytest.approx(value, rel=1e-5)
    same = LPIPSMean(net)
    same.update(to_lpips_input(fake), to_lpips_input(fake))
    assert float(same.compute()) == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):  # [0, 255] input is refused, not silently scored
        LPIPSMean(net).update(to_uint8(fake).float(), to_uint8(real).float())


def test_lpips_backbone_loaded_from_file_matches_torchmetrics(random_alexnet_file, alexnet_features_state, monkeypatch):
    """Our loader maps the torchvision state onto torchmetrics' LPIPS exactly as torchmetrics' own build would."""
    import torchmetrics.functional.image.lpips as tm_lpips
    import torchvision
    from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

    alexnet = torchvision.models.alexnet(weights=None)
    alexnet.load_state_dict(alexnet_features_state, strict=False)
    monkeypatch.setattr(tm_lpips, "_get_tv_model_features", lambda net, pretrained=False: alexnet.features)
    reference = LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True)
    fake, real = make_images(4, size=32)
    reference.update(to_unit(fake), to_unit(real))

    callback = TranslationMetrics(fid=False, kid=False, lpips_backbone_weights=str(random_alexnet_file))
    with quiet_custom_weights():
        trainer_for(callback).validate(ToyTranslator(), dataloaders=loader(fake, real, batch_size=3))
    assert callback.results["val/lpips"] == pytest.approx(float(reference.compute()), rel=1e-5)


def test_lpips_rejects_a_file_that_is_not_the_backbone(tmp_path):
    bad = tmp_path / "not_alexnet.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with quiet_custom_weights(), pytest.raises(ValueError, match="not a torchvision alexnet state_dict"):
        build_lpips_net("alex", str(bad))


def test_real_inception_path_with_locally_built_weights(tmp_path, monkeypatch, inception_state):
    """The default (Inception) path, offline, from a random-weight file: 1-channel images become uint8 RGB.

    KID only: InceptionV3 on CPU and FID's 2048x2048 eigenvalue problem are slow; the FID arithmetic is covered
    with the tiny extractor above.
    """
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save(inception_state, cache / INCEPTION.filename)
    digest = file_sha256(cache / INCEPTION.filename)
    monkeypatch.setitem(WEIGHTS, "inception", replace(INCEPTION, sha256=digest, sha256_prefix=digest[:8]))

    fake, real = make_images(2, size=16, channels=1)
    callback = TranslationMetrics(fid=False, lpips=False, psnr=False, ssim=False)
    trainer_for(callback).validate(ToyTranslator(), dataloaders=loader(fake, real, batch_size=2))
    assert set(callback.results) == {"val/kid"} and np.isfinite(callback.results["val/kid"])
    assert callback._features.num_features == 2048


# ------------------------------------------------------------------------------------------------------- DDP
DDP_SCRIPT = """
import json
import sys
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torch.utils.data import DataLoader

from lit_translate.data.sampling import ShardedSampler
from lit_translate.evaluation import TranslationMetrics

N = 7  # not divisible by the 2 ranks


def dataset():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(N, 3, 32, 32, generator=g) * 2 - 1
    b = (0.5 * a + 0.6 * torch.rand(N, 3, 32, 32, generator=g) - 0.2).clamp(-1, 1)
    return [{"A": a[i], "B": b[i], "A_path": f"synthetic:val:{i}"} for i in range(N)]


class Features(nn.Module):
    num_features = 6

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.conv = nn.Conv2d(3, 6, 3)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g))
            self.conv.bias.zero_()

    def forward(self, x):
        return torch.relu(self.conv(x)).mean(dim=(2, 3))


class Toy(LightningModule):
    paired = True

    def __init__(self):
        super().__init__()
        self.layer = nn.Conv2d(3, 3, 1)

    def evaluation_pairs(self, batch):
        return {"": (torch.tanh(self.layer(batch["A"])), batch["B"])}

    def validation_step(self, batch, batch_idx):
        self.seen = getattr(self, "seen", []) + list(batch["A_path"])

    def val_dataloader(self):
        data = dataset()
        sampler = ShardedSampler(len(data), num_replicas=self.trainer.world_size, rank=self.trainer.global_rank,
                                 shuffle=False, pad=False)
        return DataLoader(data, batch_size=2, sampler=sampler)


def run(devices, out_dir, backbone):
    torch.manual_seed(0)
    model = Toy()
    callback = TranslationMetrics(feature_extractor=Features(), lpips_backbone_weights=backbone)
    trainer = Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[callback])
    trainer.validate(model)
    result = {"results": callback.results, "num_images": callback.num_images, "seen": model.seen,
              "logged": {k: float(v) for k, v in trainer.callback_metrics.items()}}
    Path(out_dir, f"devices{devices}-rank{trainer.global_rank}.json").write_text(json.dumps(result))
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3])
"""


def test_two_process_ddp_equals_single_process(tmp_path, random_alexnet_file):
    script = tmp_path / "ddp_metrics.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "NO_ALBUMENTATIONS_UPDATE": "1"}
    env.pop("LOCAL_RANK", None)
    process = subprocess.Popen(
        [sys.executable, str(script), "2", str(tmp_path), str(random_alexnet_file)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # The single-process run goes on meanwhile, in this process.
    spec = importlib.util.spec_from_file_location("ddp_metrics", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with quiet_custom_weights():
        single = module.run(1, str(tmp_path), str(random_alexnet_file))
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log[-4000:]

    ranks = [json.loads((tmp_path / f"devices2-rank{r}.json").read_text()) for r in (0, 1)]
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == sorted(single["seen"])  # each image on one rank, once
    assert len(ranks[0]["seen"]) == 4 and len(ranks[1]["seen"]) == 3
    assert set(single["results"]) == {f"val/{m}" for m in ("fid", "kid", "lpips", "psnr", "ssim")}
    for rank in ranks:
        assert rank["num_images"] == {"": 7} == single["num_images"]
        for key, value in single["results"].items():
            assert rank["results"][key] == pytest.approx(value, rel=1e-5, abs=1e-8), key
            assert rank["logged"][key] == pytest.approx(single["logged"][key], rel=1e-5, abs=1e-8), key


def test_sampler_check_flags_padding_and_dropping():
    from torch.utils.data import DistributedSampler

    from lit_translate.data.sampling import ShardedSampler
    from lit_translate.evaluation.metrics import sampler_problem

    items = list(range(5))
    padded = DataLoader(items, sampler=DistributedSampler(items, num_replicas=2, rank=0, shuffle=False))
    assert "pads 5 images to 6: 1 images are counted twice" in sampler_problem(padded)
    dropping = DataLoader(items, sampler=DistributedSampler(items, num_replicas=2, rank=1, drop_last=True))
    assert "drops 1 of 5" in sampler_problem(dropping)
    sharded = DataLoader(items, sampler=ShardedSampler(items, num_replicas=2, rank=1, shuffle=False, pad=False))
    assert sampler_problem(sharded) is None
    even = list(range(6))
    assert sampler_problem(DataLoader(even, sampler=DistributedSampler(even, num_replicas=2, rank=0))) is None
    assert sampler_problem(DataLoader(items)) is None


# ------------------------------------------------------------------------------------------------ checkpoints
def test_checkpoints_do_not_grow_with_the_metrics(tmp_path, random_alexnet_file):
    fake, real = make_images(6, size=32)
    sizes, states = [], []
    for with_metrics in (False, True):
        torch.manual_seed(0)
        callbacks = (
            [TranslationMetrics(feature_extractor=PaddedFeatures(), lpips_backbone_weights=str(random_alexnet_file))]
            if with_metrics
            else []
        )
        trainer = trainer_for(*callbacks, max_steps=1, limit_train_batches=1, limit_val_batches=2)
        with quiet_custom_weights():
            trainer.fit(ToyTranslator(), train_dataloaders=loader(fake, real), val_dataloaders=loader(fake, real, 3))
        if with_metrics:
            assert set(callbacks[0].results) == {f"val/{m}" for m in ("fid", "kid", "lpips", "psnr", "ssim")}
        path = tmp_path / f"with_metrics={with_metrics}.ckpt"
        trainer.save_checkpoint(path)
        sizes.append(path.stat().st_size)
        states.append(torch.load(path, map_location="cpu", weights_only=False))
    assert list(states[0]["state_dict"]) == list(states[1]["state_dict"]) == ["layer.weight", "layer.bias"]
    assert states[1].get("callbacks", {}) == states[0].get("callbacks", {})
    assert sizes[1] <= sizes[0] + 1024, sizes


# --------------------------------------------------------------------------------------------------- weights
def test_offline_without_weights_gives_a_clear_error_quickly(tmp_path):
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError) as info:
        resolve_weights("inception")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert INCEPTION.filename in message
    assert str(tmp_path / "torch_home" / "hub" / "checkpoints" / INCEPTION.filename) in message
    assert INCEPTION.url in message
    assert "python -m lit_translate.evaluation fetch --dir DIR" in message
    assert "export TORCH_HOME=DIR" in message and "--metrics.inception_weights" in message


def test_disabled_callback_builds_nothing_and_logs_nothing():
    fake, real = make_images(4)
    callback = TranslationMetrics(enabled=False)  # would need Inception and AlexNet weights, which are missing
    trainer = trainer_for(callback)
    trainer.validate(ToyTranslator(), dataloaders=loader(fake, real))
    assert callback.results == {} and callback._features is None and not trainer.callback_metrics


def test_callback_fails_at_setup_when_offline():
    fake, real = make_images(4)
    with pytest.raises(WeightsUnavailableError, match="alexnet-owt-7be5be79.pth"):
        trainer_for(TranslationMetrics(feature_extractor=TinyFeatures())).validate(
            ToyTranslator(), dataloaders=loader(fake, real)
        )
    with pytest.raises(WeightsUnavailableError, match=INCEPTION.filename):
        TranslationMetrics(lpips=False).build(paired=True)


def _registered_fake(tmp_path, monkeypatch, name="inception", content=b"fake inception weights") -> Path:
    folder = tmp_path / "given"
    folder.mkdir(exist_ok=True)
    path = folder / WEIGHTS[name].filename
    path.write_bytes(content)
    digest = file_sha256(path)
    monkeypatch.setitem(WEIGHTS, name, replace(WEIGHTS[name], sha256=digest, sha256_prefix=digest[:8]))
    return path


def test_explicit_path_wins_and_is_verified(tmp_path, monkeypatch):
    path = _registered_fake(tmp_path, monkeypatch)
    assert resolve_weights("inception", str(path)) == path
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        resolve_weights("inception", str(tmp_path / "missing.pth"))
    path.write_bytes(b"truncated")  # the registered name with other content is an error
    with pytest.raises(WeightsChecksumError, match="delete it and fetch it again"):
        resolve_weights("inception", str(path))
    custom = tmp_path / "my_inception.pth"  # another name: a deliberate custom file, with a warning
    custom.write_bytes(b"custom")
    with pytest.warns(UserWarning, match="custom inception weights"):
        assert resolve_weights("inception", str(custom)) == custom


def test_prefix_only_verification(tmp_path, monkeypatch):
    path = tmp_path / "squeeze.pth"
    path.write_bytes(b"squeeze")
    spec = replace(WEIGHTS["squeezenet1_1"], sha256=None, sha256_prefix=file_sha256(path)[:8])
    monkeypatch.setitem(WEIGHTS, "squeezenet1_1", spec)
    assert resolve_weights("squeezenet1_1", str(path)) == path


def test_cache_is_used_and_download_lands_in_the_cache(tmp_path, monkeypatch):
    given = _registered_fake(tmp_path, monkeypatch, content=b"weights from the internet")
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"

    def fake_download(url, dst, hash_prefix=None, progress=True):
        assert url == INCEPTION.url and hash_prefix == WEIGHTS["inception"].sha256_prefix
        assert socket.getdefaulttimeout() == weights_module.DOWNLOAD_TIMEOUT_S  # never an unbounded wait
        Path(dst).write_bytes(given.read_bytes())

    monkeypatch.setattr(weights_module, "_resolve_host", lambda url, timeout: None)
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    assert resolve_weights("inception") == cache / INCEPTION.filename
    assert socket.getdefaulttimeout() is None
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    assert resolve_weights("inception") == cache / INCEPTION.filename  # now from the cache, no download
    (cache / INCEPTION.filename).write_bytes(b"truncated download")
    with pytest.raises(WeightsChecksumError, match=INCEPTION.filename):
        resolve_weights("inception")


def test_fetch_command(tmp_path, monkeypatch, capsys):
    target = tmp_path / "shared_torch_home"
    assert evaluation_main(["fetch", "--dir", str(target), "--only", "alexnet"]) == 1
    assert "alexnet-owt-7be5be79.pth" in capsys.readouterr().err
    assert evaluation_main(["fetch", "--only", "nonsense"]) == 2

    given = _registered_fake(tmp_path, monkeypatch, content=b"downloaded")
    monkeypatch.setattr(weights_module, "_resolve_host", lambda url, timeout: None)
    monkeypatch.setattr(
        torch.hub, "download_url_to_file", lambda url, dst, **kw: Path(dst).write_bytes(given.read_bytes())
    )
    assert evaluation_main(["fetch", "--dir", str(target), "--only", "inception"]) == 0
    assert evaluation_main(["fetch", "--dir", str(target), "--only", "inception"]) == 0
    out = capsys.readouterr().out
    assert (target / "hub" / "checkpoints" / INCEPTION.filename).is_file()
    assert "downloaded" in out and "present" in out and f"export TORCH_HOME={target.resolve()}" in out


def test_registry_names_embed_their_hash_prefix():
    for spec in WEIGHTS.values():
        assert spec.sha256_prefix in spec.filename and spec.url.endswith(spec.filename)
        assert spec.sha256 is None or (len(spec.sha256) == 64 and spec.sha256.startswith(spec.sha256_prefix))


# ---------------------------------------------------------------------------------------------------- reports
def test_write_report(tmp_path):
    metrics = {"test/fid": 119.5, "test/kid": 0.0123, "test/psnr": float("inf")}
    config = {"model": {"class_path": "lit_translate.methods.Pix2Pix"}, "seed_everything": 0}
    json_path, md_path = write_report(tmp_path / "out", metrics, {"": 106}, "train", "runs/x/last.ckpt", config, "test")
    record = json.loads(json_path.read_text())
    assert record["metrics"] == {"test/fid": 119.5, "test/kid": 0.0123, "test/psnr": "inf"}
    assert record["num_images"] == {"": 106} and record["inference_mode"] == "train" and record["split"] == "test"
    assert record["checkpoint"] == "runs/x/last.ckpt" and record["config"] == config
    text = md_path.read_text()
    assert "| test/fid | 119.5 |" in text and "| inference mode | train |" in text and "| images | 106 |" in text
    assert "runs/x/last.ckpt" in text and "lit_translate.methods.Pix2Pix" in text
    assert record["weights"] == {} and "Custom metric networks" not in text
    registered = {"features": {"name": "inception", "file": "/w/x.pth", "sha256": "6726825d" * 8, "registered": True}}
    _, md_path = write_report(
        tmp_path / "two", {"test/fid_ab": 1.0}, {"ab": 120, "ba": 140}, "eval", None, None, "val", weights=registered
    )
    text = md_path.read_text()
    assert "ab: 120, ba: 140" in text and "(no config recorded)" in text
    assert "| FID/KID network | inception: /w/x.pth (sha256 6726825d6726..., registered file) |" in text
    assert "Custom metric networks" not in text


def test_evaluation_report_after_test(tmp_path):
    root = tmp_path / "run"
    root.mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump({"trainer": {"max_epochs": 3}}))
    fake, real = make_images(5)
    fitter = trainer_for(max_epochs=1, limit_train_batches=2, limit_val_batches=0, default_root_dir=str(root))
    fitter.fit(ToyTranslator(), train_dataloaders=loader(fake, real, batch_size=2))
    checkpoint = root / "two_steps.ckpt"
    fitter.save_checkpoint(checkpoint)

    report = EvaluationReport()
    callbacks = (TranslationMetrics(feature_extractor=TinyFeatures(), lpips=False), report)
    trainer = trainer_for(*callbacks, default_root_dir=str(root))
    trainer.test(ToyTranslator(), dataloaders=loader(fake, real, batch_size=2), ckpt_path=str(checkpoint))
    json_path, md_path = report.last_paths
    assert json_path.parent.parent == root / "eval" and json_path.parent.name.startswith("test-step0000002-")
    record = json.loads(json_path.read_text())
    assert set(record["metrics"]) == {"test/fid", "test/kid", "test/psnr", "test/ssim"}
    assert record["metrics"]["test/fid"] == pytest.approx(callbacks[0].results["test/fid"], rel=1e-6)
    assert record["num_images"] == {"": 5} and record["inference_mode"] == "eval"
    assert record["checkpoint"] == str(checkpoint) and record["step"] == 2
    assert record["config"] == {"trainer": {"max_epochs": 3}}
    assert "max_epochs: 3" in md_path.read_text() and "| step | 2 |" in md_path.read_text()


def test_cli_test_on_a_pix2pix_demo_checkpoint_writes_the_report_with_local_weight_files(
    tmp_path, inception_state, random_alexnet_file
):
    """`lit-translate test --ckpt_path CKPT` with Inception and AlexNet given as local files, offline."""
    inception_file = tmp_path / "my_inception.pth"  # another name: taken as deliberate custom weights
    torch.save(inception_state, inception_file)
    run = tmp_path / "run"
    cli_main(["fit", "-c", str(CONFIGS / "pix2pix" / "demo.yaml"), *tiny_args(run, steps=2)])
    checkpoint = run / "checkpoints" / "last.ckpt"
    with quiet_custom_weights():
        cli_main(
            [
                "test",
                "--ckpt_path",
                str(checkpoint),
                "--metrics.fid",
                "true",
                "--metrics.kid",
                "true",
                "--metrics.lpips",
                "true",
                "--metrics.inception_weights",
                str(inception_file),
                "--metrics.lpips_backbone_weights",
                str(random_alexnet_file),
                "--report.num_samples",
                "3",
            ]
        )

    (report_dir,) = (run / "eval").iterdir()
    assert report_dir.name.startswith("test-step0000002-")
    record = json.loads((report_dir / "metrics.json").read_text())
    metric_names = {"test/fid", "test/kid", "test/lpips", "test/psnr", "test/ssim", "test/l1", "test/l1_input"}
    assert set(record["metrics"]) == metric_names
    assert all(np.isfinite(v) for v in record["metrics"].values()), record["metrics"]
    # random-weight networks: the values mean nothing, but a degenerate stand-in would give FID 0
    assert record["metrics"]["test/fid"] > 1.0 and 0 < record["metrics"]["test/lpips"] < 2
    assert record["num_images"] == {"": SYNTHETIC_EVAL_SIZE}  # the whole test split, tiny_args limit nothing
    assert record["split"] == "test" and record["inference_mode"] == "eval" and record["step"] == 2
    assert record["checkpoint"] == str(checkpoint)
    assert record["config"]["model"]["class_path"] == "lit_translate.methods.Pix2Pix"
    assert record["samples"] == {"file": "samples.png", "columns": "input | output | target"}
    assert record["weights"]["features"] == {
        "name": "inception",
        "file": str(inception_file),
        "sha256": file_sha256(inception_file),
        "registered": False,
    }
    assert record["weights"]["lpips"]["file"] == str(random_alexnet_file)
    assert record["weights"]["lpips"]["registered"] is False
    text = (report_dir / "report.md").read_text()
    assert "| images | 16 |" in text and "![samples](samples.png)" in text and "| test/lpips |" in text
    assert f"| FID/KID network | inception: {inception_file} (sha256 " in text
    assert "**Custom metric networks**" in text  # stand-in weights: the report says its numbers mean nothing
    with Image.open(report_dir / "samples.png") as grid:  # 3 rows x 3 columns of 64 px tiles, 2 px padding
        assert grid.size == (3 * 66 + 2, 3 * 66 + 2)
