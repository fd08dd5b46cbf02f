"""The segmentation score of label-map methods: SegmentationScore values, DDP sums, and --metrics.segmenter.

The segmenter is a tiny network the test trains itself (a few hundred CPU steps on the built-in synthetic
label-map task), saved as TorchScript; the label-map method is a stand-in whose "generated" images are the
real photos (a segmenter that works scores them high) or noise (low). Nothing touches the network.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import subprocess
import sys
import warnings

import pytest
import torch
from conftest import ROOT
from lightning.pytorch import LightningModule, Trainer
from torch import nn
from torchmetrics.utilities.data import dim_zero_sum

from lit_translate.data.paired import PairedDataModule
from lit_translate.data.semantic.module import SemanticDataModule
from lit_translate.errors import InputError
from lit_translate.evaluation import EvaluationReport, TranslationMetrics
from lit_translate.evaluation.segmentation import (
    SegmentationScore,
    is_class_path,
    load_segmenter,
    predict_ids,
    segmenter_input,
)
from lit_translate.pretrained.check import MissingPretrainedFilesError, check_run

NUM_CLASSES = 5  # the synthetic label maps: background and four shape classes


def _no_network(*args, **kwargs):
    raise OSError("network access is disabled in the test suite")


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Every connection fails; the torch.hub cache is an empty folder (no Inception: FID/KID stay off)."""
    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))


# ------------------------------------------------------------------------------------------------- the metric
def test_score_on_hand_made_predictions():
    target = torch.tensor([[[0, 0, 1], [1, 2, 3]]])  # 3 = dontcare
    preds = torch.tensor([[[0, 1, 1], [1, 0, 2]]])  # the prediction on the dontcare pixel does not count
    score = SegmentationScore(3, ignore_index=3)
    score.update(preds, target)
    assert score.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    values = score.compute()
    # IoU: class 0: 1 / (2 + 2 - 1), class 1: 2 / (2 + 3 - 2), class 2: 0 / (1 + 0 - 0); accuracy 3 of 5
    assert values["miou"].item() == pytest.approx((1 / 3 + 2 / 3 + 0) / 3, abs=1e-12)
    assert values["pixel_acc"].item() == pytest.approx(3 / 5, abs=1e-12)
    # classes without ground truth or prediction (3: dontcare only, 4: nowhere) are not averaged in
    wide = SegmentationScore(5, ignore_index=3)
    wide.update(preds, target)
    assert wide.compute()["miou"].item() == pytest.approx(1 / 3, abs=1e-12)
    with pytest.raises(ValueError, match="outside 0..2"):
        SegmentationScore(3).update(preds, target)  # 3 is a class id here, and out of range
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # compute before update: on purpose
        assert math.isnan(SegmentationScore(3).compute()["miou"].item())


def test_distributed_sum_equals_one_process():
    generator = torch.Generator().manual_seed(0)
    target = torch.randint(0, 5, (6, 9, 9), generator=generator)
    preds = torch.where(torch.rand(6, 9, 9, generator=generator) < 0.7, target, torch.randint(0, 4, (6, 9, 9)))
    whole = SegmentationScore(4, ignore_index=4)
    whole.update(preds, target)
    ranks = [SegmentationScore(4, ignore_index=4) for _ in range(2)]
    ranks[0].update(preds[:4], target[:4])
    ranks[1].update(preds[4:], target[4:])
    assert ranks[0]._reductions["confusion"] is dim_zero_sum  # what torchmetrics does over the ranks
    ranks[0].merge_state(ranks[1])
    assert torch.equal(ranks[0].confusion, whole.confusion)
    assert ranks[0].compute() == whole.compute()


def test_segmenter_input_conventions():
    images = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    assert segmenter_input(images, "minus_one_one").flatten().tolist() == [-1.0, 0.0, 1.0, 1.0]
    assert segmenter_input(images, "zero_one").flatten().tolist() == [0.0, 0.5, 1.0, 1.0]
    imagenet = segmenter_input(images, "imagenet")
    assert imagenet.shape == (1, 3, 2, 2)
    assert imagenet[0, :, 0, 1].tolist() == pytest.approx(
        [(0.5 - 0.485) / 0.229, (0.5 - 0.456) / 0.224, (0.5 - 0.406) / 0.225]
    )
    with pytest.raises(ValueError, match="segmenter_input"):
        TranslationMetrics(segmenter_input="imagenet_bgr")


def test_class_paths_and_files(tmp_path):
    existing = tmp_path / "a.b"
    existing.write_bytes(b"x")
    assert is_class_path("package.module.Class") and is_class_path(f"{__name__}.ConstantSegmenter")
    assert not is_class_path("segmenter.pt") and not is_class_path("runs/seg") and not is_class_path(str(existing))
    net = load_segmenter(f"{__name__}.ConstantSegmenter", num_classes=7)
    assert isinstance(net, ConstantSegmenter) and net.num_classes == 7 and not net.training
    assert predict_ids(net, torch.zeros(2, 3, 8, 8), (16, 16), 7).shape == (2, 16, 16)
    with pytest.raises(InputError, match=r"expected logits \(N, 5, h, w\)"):
        predict_ids(net, torch.zeros(2, 3, 8, 8), (16, 16), 5)
    with pytest.raises(InputError, match="--metrics.segmenter no_such_package.Seg: cannot import"):
        load_segmenter("no_such_package.Seg", 5)
    state_dict = tmp_path / "weights.pth"
    torch.save(nn.Conv2d(3, 5, 1).state_dict(), state_dict)  # weights, not a TorchScript program
    with pytest.raises(InputError, match="is not a TorchScript file"):
        load_segmenter(str(state_dict), 5)


class ConstantSegmenter(nn.Module):
    """Class-path segmenter: predicts class 0 everywhere, at half the input resolution."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.bias = nn.Parameter(torch.arange(num_classes, 0, -1).float())

    def forward(self, x):
        return self.bias.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2] // 2, x.shape[3] // 2)


# ----------------------------------------------------------------------------------------- the tiny segmenter
class TinySegmenter(nn.Module):
    """Pixel classifier of the synthetic photos: logits at half resolution (the scorer resizes them)."""

    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.AvgPool2d(2),
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(16, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@pytest.fixture(scope="module")
def segmenter_file(tmp_path_factory):
    """Train TinySegmenter on the synthetic task's training photos (200 steps), saved as TorchScript."""
    torch.manual_seed(0)
    data = SemanticDataModule(batch_size=8, num_workers=0, synthetic_size=64)
    data.setup("fit")
    batches = list(data.train_dataloader())
    net = TinySegmenter()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    for step in range(200):
        batch = batches[step % len(batches)]
        logits = nn.functional.interpolate(net(batch["B"]), size=batch["A"].shape[-2:], mode="bilinear")
        loss = nn.functional.cross_entropy(logits, batch["A"][:, 0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    path = tmp_path_factory.mktemp("segmenter") / "tiny_segmenter.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated in recent torch
        torch.jit.save(torch.jit.script(net.eval()), str(path))
    return path


class LabelToPhoto(LightningModule):
    """Stand-in label-map method: its "generated" images are the real photos, or uniform noise."""

    paired = False
    inference_mode = "eval"

    def __init__(self, noise: bool = False) -> None:
        super().__init__()
        self.noise = noise
        self.layer = nn.Linear(1, 1)
        self.steps = 0

    def prepare_data(self) -> None:
        check_run(self.trainer, self, self.trainer.state.fn.value)  # as TranslationModule: before any set-up

    def evaluation_pairs(self, batch):
        photo = batch["B"]
        generator = torch.Generator().manual_seed(int(photo.shape[0]))
        fake = torch.rand(photo.shape, generator=generator) * 2 - 1 if self.noise else photo
        return {"": (fake, photo)}

    def test_step(self, batch, batch_idx):
        self.steps += 1

    def validation_step(self, batch, batch_idx):
        self.steps += 1


def trainer_in(*callbacks, root) -> Trainer:
    options = dict(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    return Trainer(callbacks=list(callbacks), default_root_dir=str(root), **options)


def score(segmenter_file, tmp_path, noise: bool, **options) -> tuple[TranslationMetrics, EvaluationReport]:
    metrics = TranslationMetrics(fid=False, kid=False, segmenter=str(segmenter_file), **options)
    report = EvaluationReport(num_samples=0)
    data = SemanticDataModule(batch_size=4, num_workers=0)
    trainer_in(metrics, report, root=tmp_path).test(LabelToPhoto(noise), datamodule=data)
    return metrics, report


def test_callback_scores_real_photos_high_and_noise_low(segmenter_file, tmp_path):
    real, report = score(segmenter_file, tmp_path / "real", noise=False)
    assert real.results["test/miou"] > 0.7 and real.results["test/pixel_acc"] > 0.85, real.results
    assert real.num_images == {"": 16}
    record = json.loads(report.last_paths[0].read_text())
    assert record["metrics"]["test/miou"] == pytest.approx(real.results["test/miou"])
    assert set(record["metrics"]) == {"test/miou", "test/pixel_acc"}
    assert record["weights"]["segmenter"]["file"] == str(segmenter_file)
    text = report.last_paths[1].read_text()
    assert "mean IoU of the segmenter" in text and "Custom metric networks" not in text
    assert not any(p.requires_grad for p in real.segmentation.net.parameters())
    noise, _ = score(segmenter_file, tmp_path / "noise", noise=True)
    assert noise.results["test/miou"] < 0.3, noise.results
    assert noise.results["test/miou"] < real.results["test/miou"] - 0.4


def test_missing_segmenter_file_stops_before_step_zero(tmp_path):
    module = LabelToPhoto()
    missing = tmp_path / "nowhere" / "seg.pt"
    metrics = TranslationMetrics(fid=False, kid=False, segmenter=str(missing))
    with pytest.raises(InputError, match=r"--metrics.segmenter points to .*seg\.pt, which does not exist"):
        trainer_in(metrics, root=tmp_path).test(module, datamodule=SemanticDataModule(num_workers=0))
    assert module.steps == 0
    both = TranslationMetrics(segmenter=str(missing))  # FID/KID on: Inception is missing too (offline)
    with pytest.raises(MissingPretrainedFilesError) as info:
        trainer_in(both, root=tmp_path).test(module, datamodule=SemanticDataModule(num_workers=0))
    message = str(info.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in message and "--metrics.segmenter FILE" in message
    assert "fetch --dir DIR --only inception`" in message and module.steps == 0


def test_segmenter_needs_a_label_map_data_module(tmp_path):
    metrics = TranslationMetrics(fid=False, kid=False, segmenter=f"{__name__}.ConstantSegmenter")
    with pytest.raises(InputError, match=r"PairedDataModule gives no label map as batch 'A'"):
        trainer_in(metrics, root=tmp_path).test(LabelToPhoto(), datamodule=PairedDataModule(num_workers=0))


def test_validate_logs_the_scores_of_a_class_path_segmenter(tmp_path):
    # ConstantSegmenter predicts background everywhere: pixel accuracy is the background share, and mIoU that share
    # over the number of classes in the split (every other class present has IoU 0).
    data = SemanticDataModule(batch_size=4, num_workers=0)
    data.setup("validate")
    labels = torch.cat([batch["A"] for batch in data.val_dataloader()])
    background = (labels == 0).double().mean().item()
    metrics = TranslationMetrics(fid=False, kid=False, segmenter=f"{__name__}.ConstantSegmenter")
    trainer = trainer_in(metrics, root=tmp_path)
    trainer.validate(LabelToPhoto(), datamodule=SemanticDataModule(batch_size=4, num_workers=0))
    assert metrics.results["val/pixel_acc"] == pytest.approx(background, abs=1e-12)
    assert metrics.results["val/miou"] == pytest.approx(background / len(labels.unique()), abs=1e-12)
    assert trainer.callback_metrics["val/miou"].item() == pytest.approx(metrics.results["val/miou"], rel=1e-6)
    assert metrics.weight_files["segmenter"]["file"] == f"{__name__}.ConstantSegmenter"


DDP_SCRIPT = """
import json, sys
from pathlib import Path

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import nn

from lit_translate.data.semantic.module import SemanticDataModule
from lit_translate.evaluation import TranslationMetrics


class Photos(LightningModule):
    paired = False

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(1, 1)

    def evaluation_pairs(self, batch):
        return {"": (batch["B"], batch["B"]), "dark": (batch["B"] * 0.5 - 0.5, None)}

    def validation_step(self, batch, batch_idx):
        self.seen = getattr(self, "seen", []) + list(batch["A_path"])


def run(devices, out_dir, segmenter):
    metrics = TranslationMetrics(fid=False, kid=False, segmenter=segmenter)
    trainer = Trainer(accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
                      enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                      callbacks=[metrics])
    model = Photos()
    trainer.validate(model, datamodule=SemanticDataModule(val_batch_size=3, num_workers=0))
    result = {"results": metrics.results, "seen": model.seen,
              "logged": {k: float(v) for k, v in trainer.callback_metrics.items()}}
    Path(out_dir, f"devices{devices}-rank{trainer.global_rank}.json").write_text(json.dumps(result))
    return result


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2], sys.argv[3])
"""


@pytest.mark.slow
def test_two_process_ddp_scores_equal_one_process(tmp_path):
    """Two ranks of 8 images each (batches of 3) give exactly the one-process scores, on every rank."""
    torch.manual_seed(3)
    segmenter = tmp_path / "random_segmenter.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.save(torch.jit.script(nn.Conv2d(3, NUM_CLASSES, 3, padding=1).eval()), str(segmenter))
    script = tmp_path / "ddp_segmentation.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", "NO_ALBUMENTATIONS_UPDATE": "1"}
    env.pop("LOCAL_RANK", None)
    command = [sys.executable, str(script), "2", str(tmp_path), str(segmenter)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spec = importlib.util.spec_from_file_location("ddp_segmentation", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    single = module.run(1, str(tmp_path), str(segmenter))  # meanwhile, in this process
    log, _ = process.communicate(timeout=300)
    assert process.returncode == 0, log[-4000:]
    ranks = [json.loads((tmp_path / f"devices2-rank{rank}.json").read_text()) for rank in (0, 1)]
    assert sorted(ranks[0]["seen"] + ranks[1]["seen"]) == sorted(single["seen"]) and len(ranks[0]["seen"]) == 8
    assert set(single["results"]) == {"val/miou", "val/pixel_acc", "val/miou_dark", "val/pixel_acc_dark"}
    for rank in ranks:
        assert rank["results"] == single["results"]
        assert all(rank["logged"][key] == pytest.approx(single["logged"][key], rel=1e-6) for key in single["results"])
