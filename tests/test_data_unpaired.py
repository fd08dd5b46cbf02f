"""Unpaired (CycleGAN) datasets and DataModule."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from lit_translate.data import (
    SharedEpoch,
    SyntheticUnpaired,
    UnpairedDataModule,
    UnpairedImageDataset,
    build_transform,
)
from lit_translate.data.unpaired import SyntheticUnpairedDataset

RNG = np.random.default_rng(7)


def write(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def rgb(height: int, width: int) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.fixture
def horse2zebra(tmp_path) -> Path:
    """5 A images and 3 B images of mixed sizes and modes, names with spaces; test split only."""
    root = tmp_path / "h2z"
    for i in range(5):
        write(root / "trainA" / f"horse {i}.png", rgb(20 + i, 24))
    write(root / "trainB" / "zebra 0.png", rgb(30, 22).convert("L"))
    write(root / "trainB" / "zebra 1.png", rgb(24, 24).convert("RGBA"))
    write(root / "trainB" / "zebra 2.jpg", rgb(26, 28))
    for domain in "AB":
        for i in range(3):
            write(root / f"test{domain}" / f"{i}.png", rgb(24, 24))
    return root


def tf(train: bool = True):
    return build_transform(20, 16, resize=True, crop=True, flip=True, train=train, paired=False)


def test_unpaired_items_len_max_modes_and_spaces(horse2zebra):
    ds = UnpairedImageDataset(horse2zebra, "train", tf(), input_channels=3, target_channels=1)
    assert len(ds) == 5
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert set(batch) == {"A", "B", "A_path", "B_path"}
    assert batch["A"].shape == (5, 3, 16, 16) and batch["B"].shape == (5, 1, 16, 16)
    assert batch["A"].dtype == torch.float32 and batch["A"].abs().max() <= 1 and batch["B"].abs().max() <= 1
    assert [Path(p).name for p in batch["A_path"]] == [f"horse {i}.png" for i in range(5)]  # A in order
    assert all(Path(p).parent.name == "trainB" for p in batch["B_path"])


def b_draws(root: Path, seed: int, epoch: int) -> list[str]:
    ds = UnpairedImageDataset(root, "train", tf(), seed=seed, epoch_counter=SharedEpoch(epoch))
    return [ds[i]["B_path"] for i in range(len(ds))]


def test_b_sampling_depends_on_seed_and_epoch_and_repeats(horse2zebra):
    base = b_draws(horse2zebra, 0, 0)
    assert base == b_draws(horse2zebra, 0, 0)
    assert base != b_draws(horse2zebra, 0, 1) or base != b_draws(horse2zebra, 0, 2)
    assert base != b_draws(horse2zebra, 1, 0) or base != b_draws(horse2zebra, 2, 0)
    many = SyntheticUnpairedDataset(SyntheticUnpaired(40, 40), seed=0)
    assert len({many[i]["B_path"] for i in range(40)}) > 15  # B is drawn at random, not B[i]


def test_a_and_b_are_augmented_independently(tmp_path):
    same = rgb(24, 24)
    write(tmp_path / "trainA" / "x.png", same)
    write(tmp_path / "trainB" / "x.png", same)
    ds = UnpairedImageDataset(tmp_path, "train", tf(), epoch_counter=SharedEpoch())
    differ = 0
    for epoch in range(10):
        ds.epoch_counter.value = epoch
        item = ds[0]
        assert torch.equal(item["A"], ds[0]["A"])  # reproducible
        differ += not torch.equal(item["A"], item["B"])
    assert differ >= 8


def test_unpaired_bad_inputs(tmp_path, horse2zebra):
    with pytest.raises(FileNotFoundError, match=r"missing.*--data\.root"):
        UnpairedImageDataset(tmp_path / "missing", "train")
    root = tmp_path / "half"
    write(root / "trainA" / "a.png", rgb(8, 8))
    with pytest.raises(FileNotFoundError, match=r"half/trainB does not exist.*trainA/ and trainB/"):
        UnpairedImageDataset(root, "train")
    (root / "trainB").mkdir()
    with pytest.raises(ValueError, match=r"half/trainB contains no images"):
        UnpairedImageDataset(root, "train")
    (root / "trainB" / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png"):
        UnpairedImageDataset(root, "train")[0]


def module(**kwargs) -> UnpairedDataModule:
    options = {
        "load_size": 20,
        "crop_size": 16,
        "num_workers": 0,
        "batch_size": 2,
        "val_batch_size": 2,
        "synthetic_size": 6,
    }
    return UnpairedDataModule(**{**options, **kwargs})


def test_datamodule_synthetic_default():
    dm = module()
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == batch["B"].shape == (2, 3, 16, 16)
    assert batch["A_path"][0].startswith("synthetic:trainA:") and batch["B_path"][0].startswith("synthetic:trainB:")
    val = [next(iter(dm.val_dataloader()))["B_path"] for _ in range(2)]
    dm.train_dataloader().sampler.set_epoch(3)
    assert val[0] == val[1] == next(iter(dm.val_dataloader()))["B_path"]  # fixed validation pairs


def test_datamodule_val_fallback_warns_and_explicit_split(horse2zebra, caplog):
    dm = module(root=str(horse2zebra))
    with caplog.at_level(logging.WARNING, logger="lit_translate.data.unpaired"):
        dm.setup("fit")
    assert "no val split" in caplog.text and "checkpoint selection" in caplog.text
    assert Path(next(iter(dm.val_dataloader()))["A_path"][0]).parent.name == "testA"
    for domain in "AB":
        write(horse2zebra / f"val{domain}" / "v.png", rgb(24, 24))
    caplog.clear()
    dm = module(root=str(horse2zebra))
    dm.setup("validate")
    assert "no val split" not in caplog.text
    assert Path(next(iter(dm.val_dataloader()))["A_path"][0]).parent.name == "valA"
    with pytest.raises(FileNotFoundError, match=r"holdoutA"):
        module(root=str(horse2zebra), val_split="holdout").setup("validate")


def test_datamodule_ranks_split_domain_a(horse2zebra):
    seen = []
    for rank in range(2):
        dm = module(root=str(horse2zebra), batch_size=1)
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen.append([p for batch in dm.train_dataloader() for p in batch["A_path"]])
    assert len(seen[0]) == len(seen[1]) == 3  # 5 items padded to 6
    assert {Path(p).name for p in seen[0] + seen[1]} == {f"horse {i}.png" for i in range(5)}
    assert len(set(seen[0]) & set(seen[1])) <= 1  # only the padding repeats
