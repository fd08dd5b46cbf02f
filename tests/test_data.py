"""Data layer: I/O, transforms, sampler, paired datasets/DataModule, synthetic sets."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from types import SimpleNamespace

import albumentations as A
import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, get_worker_info

from lit_translate.data import (
    IMG_EXTENSIONS,
    PairedDataModule,
    PairedImageDataset,
    ShardedSampler,
    SharedEpoch,
    SyntheticPairs,
    SyntheticUnpaired,
    build_transform,
    find_images,
    load_image,
    sample_seed,
    save_image,
    to_uint8,
)
from lit_translate.data.synthetic import LABEL_COLOURS, PALETTE_A, PALETTE_B

RNG = np.random.default_rng(1234)
PATTERN = RNG.integers(0, 256, (24, 24, 3), dtype=np.uint8)  # asymmetric: flips and crops are visible


def write(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)
    return path


def write_aligned(folder: Path, count: int, left: np.ndarray, right: np.ndarray, ext: str = "png") -> None:
    for i in range(count):
        write(folder / f"{i:03d}.{ext}", np.concatenate([left, right], axis=1))


def tf(train: bool = True, paired: bool = True, flip: bool = True) -> A.Compose:
    return build_transform(28, 16, resize=True, crop=True, flip=flip, train=train, paired=paired)


# ---------------------------------------------------------------- io


def test_find_images_sorted_non_recursive_case_insensitive(tmp_path):
    for name in ["b.JPG", "a.png", "c.TIFF", "d.webp", "notes.txt", "sub/e.png"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert [p.name for p in find_images(tmp_path)] == ["a.png", "b.JPG", "c.TIFF", "d.webp"]
    assert ".jpeg" in IMG_EXTENSIONS and ".bmp" in IMG_EXTENSIONS


def test_find_images_missing_and_empty(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.*--data\.root"):
        find_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"empty.*no images.*\.png"):
        find_images(tmp_path / "empty")


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "I;16"])
@pytest.mark.parametrize("channels", [1, 3])
def test_load_image_modes(tmp_path, mode, channels):
    rgb = PATTERN[:8, :10]
    if mode == "I;16":
        img = Image.fromarray((rgb[..., 0].astype(np.uint16) << 8) | 0xAB)
        expected_gray = rgb[..., 0]
    else:
        img = Image.fromarray(rgb).convert(mode)
        expected_gray = np.asarray(img.convert("L"))
    path = tmp_path / f"img_{mode.replace(';', '')}.png"
    img.save(path)
    out = load_image(path, channels)
    assert out.dtype == np.uint8 and out.shape == (8, 10, channels)
    if mode == "I;16":  # scaled by >> 8, not clipped to 255
        assert np.array_equal(out[..., 0], expected_gray)
    if mode in ("RGB", "RGBA") and channels == 3:
        assert np.array_equal(out, rgb)
    if channels == 1 and mode != "I;16":
        assert np.array_equal(out[..., 0], expected_gray)


def test_load_image_bad_channels(tmp_path):
    path = write(tmp_path / "x.png", PATTERN)
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        load_image(path, 4)


@pytest.mark.parametrize("kind", ["random", "png_half", "jpeg_half"])
def test_load_image_unreadable_or_truncated(tmp_path, kind):
    if kind == "random":
        data, name = np.random.default_rng(0).bytes(500), "garbage.png"
    else:
        fmt = "PNG" if kind == "png_half" else "JPEG"
        buf = io.BytesIO()
        Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, format=fmt)
        data, name = buf.getvalue()[: len(buf.getvalue()) // 2], f"cut.{fmt.lower()}"
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(ValueError, match=rf"cannot read image .*{name}.*Remove or replace"):
        load_image(path, 3)


@pytest.mark.parametrize("channels", [1, 3])
def test_save_image_round_trip(tmp_path, channels):
    image = torch.rand(channels, 6, 7) * 2 - 1
    save_image(image, tmp_path / "out" / "x.png")
    back = load_image(tmp_path / "out" / "x.png", channels)
    assert np.array_equal(back, to_uint8(image).permute(1, 2, 0).numpy())
    with pytest.raises(ValueError, match="bad.png"):
        save_image(torch.zeros(2, 4, 4), tmp_path / "bad.png")


# ---------------------------------------------------------------- transforms


def test_transform_range_dtype_and_inverse():
    out = tf(train=False, paired=False)(image=PATTERN)["image"]
    assert out.dtype == torch.float32 and out.shape == (3, 16, 16)
    assert out.min() >= -1 and out.max() <= 1
    plain = build_transform(0, 0, resize=False, crop=False, flip=False, train=False, paired=False)
    gray = PATTERN[..., :1]
    norm = plain(image=gray)["image"]
    assert norm.shape == (1, 24, 24)
    assert torch.equal(to_uint8(norm).permute(1, 2, 0), torch.from_numpy(gray))


def test_transform_options_and_errors():
    with pytest.raises(ValueError, match=r"crop_size \(300\).*load_size \(286\)"):
        build_transform(286, 300, resize=True, crop=True, flip=True, train=True, paired=True)
    no_resize = build_transform(286, 16, resize=False, crop=True, flip=False, train=False, paired=False)
    center = no_resize(image=PATTERN)["image"]  # evaluation without resize: center crop at the native scale
    assert torch.equal(to_uint8(center).permute(1, 2, 0), torch.from_numpy(PATTERN[4:20, 4:20]))
    with pytest.raises(ValueError, match="target"):  # strict: unpaired pipelines reject a second image
        tf(paired=False)(image=PATTERN, target=PATTERN)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for flags in np.ndindex(2, 2, 2, 2, 2):
            build_transform(28, 16, *map(bool, flags))


def test_paired_transform_keeps_alignment_over_50_draws():
    transform, outputs = tf(), set()
    for i in range(50):
        transform.set_random_seed(sample_seed(0, 0, i))
        out = transform(image=PATTERN, target=PATTERN.copy())
        assert torch.equal(out["image"], out["target"])
        outputs.add(out["image"].numpy().tobytes())
    assert len(outputs) > 10  # the crops and flips really vary


# ---------------------------------------------------------------- sampling


def test_sample_seed_mixes_all_inputs():
    seeds = {sample_seed(s, e, i) for s in range(3) for e in range(3) for i in range(3)}
    assert len(seeds) == 27 and all(0 <= s < 2**32 for s in seeds)
    assert sample_seed(1, 2, 3) == sample_seed(1, 2, 3)
    with pytest.raises(ValueError, match="non-negative"):
        sample_seed(-1, 0, 0)


@pytest.mark.parametrize("size", [10, 11, 13])
def test_sampler_padded_shards_disjoint_and_covering(size):
    shards = [list(ShardedSampler(size, 3, r, shuffle=True, seed=5)) for r in range(3)]
    assert len({len(s) for s in shards}) == 1 and all(len(s) == len(ShardedSampler(size, 3, 0, True)) for s in shards)
    flat = [i for s in shards for i in s]
    assert set(flat) == set(range(size)) and len(flat) - size < 3
    if size % 3 == 0:
        assert sorted(flat) == list(range(size))
    again = list(ShardedSampler(size, 3, 0, shuffle=True, seed=5))
    assert again == shards[0]


def test_sampler_epoch_changes_order_and_shared_counter():
    counter = SharedEpoch()
    sampler = ShardedSampler(50, 1, 0, shuffle=True, seed=0, epoch_counter=counter)
    first = list(sampler)
    sampler.set_epoch(1)
    assert counter.value == 1 and list(sampler) != first and sorted(sampler) == list(range(50))
    assert list(ShardedSampler(50, 1, 0, shuffle=False)) == list(range(50))


@pytest.mark.parametrize("size,replicas", [(7, 2), (9, 4), (1, 3), (5, 5)])
def test_sampler_unpadded_sees_every_index_once(size, replicas):
    shards = [list(ShardedSampler(size, replicas, r, shuffle=False, pad=False)) for r in range(replicas)]
    assert sorted(i for s in shards for i in s) == list(range(size))
    assert [len(s) for s in shards] == [
        len(ShardedSampler(size, replicas, r, False, pad=False)) for r in range(replicas)
    ]
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_sampler_drop_last_and_bad_args():
    shards = [list(ShardedSampler(11, 3, r, shuffle=True, drop_last=True)) for r in range(3)]
    assert all(len(s) == 3 for s in shards) and len({i for s in shards for i in s}) == 9
    with pytest.raises(ValueError, match="rank"):
        ShardedSampler(10, 2, 2, shuffle=False)
    with pytest.raises(ValueError, match="non-empty"):
        ShardedSampler(0, 1, 0, shuffle=False)


def test_sampler_state_dict_resume_skips_consumed():
    sampler = ShardedSampler(20, 2, 1, shuffle=True, seed=3)
    sampler.set_epoch(2)
    full = list(sampler)
    iterator = iter(sampler)
    consumed = [next(iterator) for _ in range(4)]
    state = sampler.state_dict()
    assert state == {"epoch": 2, "start": 4} and consumed == full[:4]

    resumed = ShardedSampler(20, 2, 1, shuffle=True, seed=3)
    resumed.load_state_dict(state)
    resumed.set_epoch(2)  # Lightning calls set_epoch with the restored epoch: the offset must survive
    assert list(resumed) == full[4:]
    assert list(resumed) == full  # a later iterator of the same epoch is complete again
    resumed.load_state_dict(sampler.state_dict(consumed=2))
    resumed.set_epoch(3)  # a new epoch forgets the offset
    assert len(list(resumed)) == 10
    with pytest.raises(ValueError, match="start=11"):
        resumed.load_state_dict({"epoch": 0, "start": 11})
    with pytest.raises(KeyError, match="start"):
        resumed.load_state_dict({"epoch": 0})


# ---------------------------------------------------------------- paired datasets


@pytest.fixture
def two_tone(tmp_path) -> dict[str, Path]:
    """The same black-A / white-B pairs in the aligned and both two-folder layouts."""
    black, white = np.zeros((20, 20, 3), np.uint8), np.full((20, 20, 3), 255, np.uint8)
    write_aligned(tmp_path / "aligned" / "train", 3, black, white)
    for i in range(3):
        write(tmp_path / "ab_split" / "A" / "train" / f"{i}.png", black)
        write(tmp_path / "ab_split" / "B" / "train" / f"{i}.png", white)
        write(tmp_path / "split_ab" / "train" / "A" / f"{i}.jpg", black)
        write(tmp_path / "split_ab" / "train" / "B" / f"{i}.jpg", white)
    return {name: tmp_path / name for name in ["aligned", "ab_split", "split_ab"]}


@pytest.mark.parametrize(
    "layout_name,layout",
    [("aligned", "aligned"), ("aligned", "auto"), ("ab_split", "folders"), ("split_ab", "auto")],
)
@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("channels", [(3, 3), (1, 3), (1, 1)])
def test_paired_batches(two_tone, layout_name, layout, direction, channels):
    ds = PairedImageDataset(two_tone[layout_name], "train", layout, direction, tf(), *channels)
    assert len(ds) == 3
    batch = next(iter(DataLoader(ds, batch_size=3)))
    assert set(batch) == {"A", "B", "A_path", "B_path"}
    assert batch["A"].shape == (3, channels[0], 16, 16) and batch["B"].shape == (3, channels[1], 16, 16)
    assert batch["A"].dtype == batch["B"].dtype == torch.float32
    a_value, b_value = (-1.0, 1.0) if direction == "AtoB" else (1.0, -1.0)  # BtoA really swaps
    assert torch.allclose(batch["A"], torch.full_like(batch["A"], a_value), atol=0.02)
    assert torch.allclose(batch["B"], torch.full_like(batch["B"], b_value), atol=0.02)
    assert isinstance(batch["A_path"][0], str) and Path(batch["A_path"][0]).exists()
    if layout_name != "aligned":
        assert ("/B/" in batch["A_path"][0]) == (direction == "BtoA")


def test_paired_alignment_under_random_crop_and_flip(tmp_path):
    write_aligned(tmp_path / "train", 1, PATTERN, PATTERN)
    ds = PairedImageDataset(tmp_path, "train", "aligned", transform=tf(), epoch_counter=SharedEpoch())
    seen = set()
    for epoch in range(50):
        ds.epoch_counter.value = epoch
        item = ds[0]
        assert torch.equal(item["A"], item["B"])
        seen.add(item["A"].numpy().tobytes())
    assert len(seen) > 10


class WithWorker(Dataset):
    """Tag each item with the id of the worker that produced it."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int) -> dict:
        return {**self.inner[index], "worker": get_worker_info().id, "index": index}


def run_epochs(root: Path, epochs: list[int], seed: int = 0) -> list[list[dict]]:
    counter = SharedEpoch()
    ds = PairedImageDataset(root, "train", "aligned", transform=tf(), seed=seed, epoch_counter=counter)
    sampler = ShardedSampler(ds, 1, 0, shuffle=False, seed=seed, epoch_counter=counter)
    loader = DataLoader(WithWorker(ds), batch_size=None, sampler=sampler, num_workers=2, persistent_workers=True)
    results = []
    for epoch in epochs:
        sampler.set_epoch(epoch)
        results.append(list(loader))
    return results


def test_augmentation_differs_per_worker_and_epoch_and_repeats_per_seed(tmp_path):
    write_aligned(tmp_path / "train", 6, PATTERN, PATTERN)  # identical images
    (epoch0, epoch1), (again0,) = run_epochs(tmp_path, [0, 1]), run_epochs(tmp_path, [0])
    assert {item["worker"] for item in epoch0} == {0, 1}
    by_worker = {w: [item["A"] for item in epoch0 if item["worker"] == w] for w in (0, 1)}
    assert not torch.equal(by_worker[0][0], by_worker[1][0])  # albumentations alone would repeat here
    assert len({item["A"].numpy().tobytes() for item in epoch0}) == 6
    for x, y in zip(epoch0, again0):
        assert x["index"] == y["index"] and torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])
    # persistent workers see the new epoch through the shared counter
    assert all(not torch.equal(x["A"], y["A"]) for x, y in zip(epoch0, epoch1))
    assert torch.equal(epoch1[0]["A"], run_epochs(tmp_path, [1])[0][0]["A"])


def test_paired_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing.*--data\.root"):
        PairedImageDataset(tmp_path / "missing", "train")
    (tmp_path / "root").mkdir()
    with pytest.raises(FileNotFoundError, match=r"split 'train'.*root/A/train.*root/train/A.*root/train \(aligned\)"):
        PairedImageDataset(tmp_path / "root", "train")
    (tmp_path / "root" / "train").mkdir()
    with pytest.raises(ValueError, match=r"root/train contains no images"):
        PairedImageDataset(tmp_path / "root", "train")
    write(tmp_path / "root" / "train" / "square.png", PATTERN)
    item = PairedImageDataset(tmp_path / "root", "train")[0]  # not 2:1: split at width/2, as the reference does
    assert item["A"].shape == item["B"].shape == (3, 24, 12)
    with pytest.raises(ValueError, match=r"direction must be one of 'AtoB', 'BtoA'; got 'AB'"):
        PairedImageDataset(tmp_path / "root", "train", direction="AB")
    with pytest.raises(ValueError, match=r"layout must be one of 'auto', 'aligned', 'folders'"):
        PairedImageDataset(tmp_path / "root", "train", layout="side_by_side")


def test_paired_unreadable_image_names_file(tmp_path):
    write_aligned(tmp_path / "train", 1, PATTERN, PATTERN)
    (tmp_path / "train" / "broken.png").write_bytes(np.random.default_rng(0).bytes(300))
    ds = PairedImageDataset(tmp_path, "train")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        ds[1]


def test_paired_unmatched_and_mismatched_folders(tmp_path):
    for name in ["a.png", "b.png", "only_a1.png", "only_a2.png"]:
        write(tmp_path / "A" / "train" / name, PATTERN)
    for name in ["a.png", "b.png", "only_b.png"]:
        write(tmp_path / "B" / "train" / name, PATTERN[:20])
    with pytest.raises(ValueError, match=r"missing in .*B/train: \['only_a1.png', 'only_a2.png'\].*only_b\.png"):
        PairedImageDataset(tmp_path, "train", layout="folders")
    for name in ["only_a1.png", "only_a2.png"]:
        (tmp_path / "A" / "train" / name).unlink()
    (tmp_path / "B" / "train" / "only_b.png").unlink()
    with pytest.raises(ValueError, match=r"a\.png \(24x24\) and .*a\.png \(24x20\) differ in size"):
        PairedImageDataset(tmp_path, "train", layout="folders")[0]


def test_small_image_crop_error_names_file(tmp_path):
    write_aligned(tmp_path / "train", 1, PATTERN[:8, :8], PATTERN[:8, :8])
    no_resize = build_transform(0, 16, resize=False, crop=True, flip=False, train=True, paired=True)
    with pytest.raises(ValueError, match=r"cannot transform .*000\.png.*crop_size"):
        PairedImageDataset(tmp_path, "train", transform=no_resize)[0]


# ---------------------------------------------------------------- synthetic


def test_synthetic_pairs_deterministic_and_structured():
    data = SyntheticPairs(size=20)
    a0, b0 = data[0]
    a0_again, b0_again = SyntheticPairs(size=20)[0]
    assert np.array_equal(a0, a0_again) and np.array_equal(b0, b0_again)
    assert a0.shape == b0.shape == (64, 64, 3) and a0.dtype == b0.dtype == np.uint8
    assert not np.array_equal(a0, data[1][0])
    assert not np.array_equal(a0, SyntheticPairs(size=20, split="val")[0][0])
    for i in range(20):
        a, b = data[i]
        colours = np.unique(a.reshape(-1, 3), axis=0)
        assert 2 <= len(colours) <= 5 and all((LABEL_COLOURS == c).all(1).any() for c in colours)
        background = (a == LABEL_COLOURS[0]).all(-1)
        assert 0.2 < background.mean() < 0.95
        rows = [b[r][background[r]] for r in range(64) if background[r].any()]
        assert all((row == row[0]).all() for row in rows)  # background: a vertical gradient only
        assert np.abs(b[~background].astype(int) - b[background].mean(0)).mean() > 20
    with pytest.raises(IndexError):
        data[20]


def test_synthetic_unpaired_domains():
    data = SyntheticUnpaired(size_a=5, size_b=3)
    assert len(data) == 5
    a, b = data.image("A", 0), data.image("B", 0)
    assert np.array_equal(a, SyntheticUnpaired(5, 3).image("A", 0)) and not np.array_equal(a, data.image("A", 1))
    assert a.mean() < b.mean()  # dark vs light background
    twin = data.counterpart("A", 0)
    shapes = (a != a[0, 0]).any(-1) & (a != a[-1, -1]).any(-1)
    assert np.array_equal((twin != twin[0, 0]).any(-1), (a != a[0, 0]).any(-1))
    for colour in np.unique(a[shapes], axis=0):
        k = int(np.flatnonzero((PALETTE_A == colour).all(1))[0])
        assert (twin[(a == colour).all(-1)] == PALETTE_B[k]).all()
    with pytest.raises(IndexError):
        data.image("B", 3)


# ---------------------------------------------------------------- DataModule


def tiny_module(**kwargs) -> PairedDataModule:
    options = {
        "load_size": 20,
        "crop_size": 16,
        "num_workers": 0,
        "batch_size": 2,
        "val_batch_size": 3,
        "synthetic_size": 8,
    }
    return PairedDataModule(**{**options, **kwargs})


def test_datamodule_synthetic_default(caplog):
    dm = tiny_module(input_channels=1)
    with caplog.at_level(logging.INFO, logger="lit_translate.data.paired"):
        dm.setup("fit")
    assert "synthetic" in caplog.text
    loader = dm.train_dataloader()
    assert isinstance(loader.sampler, ShardedSampler) and loader.sampler.shuffle and loader.sampler.pad
    batch = next(iter(loader))
    assert batch["A"].shape == (2, 1, 16, 16) and batch["B"].shape == (2, 3, 16, 16)
    assert batch["A_path"][0].startswith("synthetic:train:")
    assert len(dm.val_dataloader().dataset) == 16 and next(iter(dm.val_dataloader()))["A"].shape[0] == 3
    loader.sampler.set_epoch(4)
    assert dm.epoch_counter.value == 4


def test_datamodule_ranks_share_validation_exactly_once(two_tone):
    root = two_tone["aligned"]
    write_aligned(root / "val", 5, PATTERN[:20, :20], PATTERN[:20, :20])
    seen = []
    for rank in range(2):
        dm = tiny_module(root=str(root))
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        seen += [p for batch in dm.val_dataloader() for p in batch["A_path"]]
        train_paths = [p for batch in dm.train_dataloader() for p in batch["A_path"]]
        assert len(train_paths) == 2
    assert sorted(Path(p).name for p in seen) == [f"{i:03d}.png" for i in range(5)]


def test_datamodule_val_falls_back_to_test_with_warning(two_tone, caplog):
    write_aligned(two_tone["aligned"] / "test", 2, PATTERN[:20, :20], PATTERN[:20, :20])
    dm = tiny_module(root=str(two_tone["aligned"]))
    with caplog.at_level(logging.WARNING, logger="lit_translate.data.paired"):
        dm.setup("fit")
    assert "validating on the 'test' split" in caplog.text and "checkpoints" in caplog.text
    assert all("/test/" in p for p in next(iter(dm.val_dataloader()))["A_path"])
    with pytest.raises(FileNotFoundError, match=r"neither 'val' nor 'test'"):
        tiny_module(root=str(two_tone["ab_split"])).setup("validate")


def test_datamodule_bad_config(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nowhere.*--data\.root"):
        tiny_module(root=str(tmp_path / "nowhere")).setup("fit")
    with pytest.raises(ValueError, match=r"crop_size.*load_size"):
        PairedDataModule(load_size=64, crop_size=128)
    with pytest.raises(ValueError, match="direction must be one of"):
        PairedDataModule(direction="A2B")
    with pytest.raises(ValueError, match="input_channels must be 1 or 3"):
        PairedDataModule(input_channels=4)
    with pytest.raises(ValueError, match=r"--data\.predict_dir"):
        tiny_module().predict_dataloader()


def test_datamodule_predict_any_size(tmp_path):
    write(tmp_path / "in" / "wide image.png", PATTERN[:10])
    write(tmp_path / "in" / "gray.jpg", PATTERN[..., 0])
    dm = tiny_module(predict_dir=str(tmp_path / "in"))
    dm.setup("predict")
    batches = list(dm.predict_dataloader())
    assert [tuple(b["A"].shape) for b in batches] == [(1, 3, 24, 24), (1, 3, 10, 24)]
    assert set(batches[0]) == {"A", "A_path"} and batches[1]["A_path"][0].endswith("wide image.png")


def test_datamodule_with_trainer_keeps_sampler_and_sets_epochs():
    from lightning.pytorch import LightningModule, Trainer

    class Probe(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))
            self.seen: list[tuple[int, int, type]] = []

        def training_step(self, batch, batch_idx):
            loader = self.trainer.train_dataloader
            self.seen.append((self.current_epoch, self.trainer.datamodule.epoch_counter.value, type(loader.sampler)))
            return (self.weight * batch["A"].mean()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm, probe = tiny_module(), Probe()
    trainer = Trainer(
        accelerator="cpu",
        max_epochs=2,
        limit_train_batches=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(probe, datamodule=dm)
    assert [(e, c) for e, c, _ in probe.seen] == [(0, 0), (0, 0), (1, 1), (1, 1)]
    assert all(kind is ShardedSampler for _, _, kind in probe.seen)


def test_loaders_pin_memory_on_cuda_only_unless_told_and_pass_prefetch(two_tone):
    root = str(two_tone["aligned"])
    cpu = SimpleNamespace(world_size=1, global_rank=0, strategy=SimpleNamespace(root_device=torch.device("cpu")))
    cuda = SimpleNamespace(world_size=1, global_rank=0, strategy=SimpleNamespace(root_device=torch.device("cuda")))
    for trainer, told, expected in ((cpu, None, False), (cuda, None, True), (cuda, False, False), (cpu, True, True)):
        dm = tiny_module(root=root, pin_memory=told)
        dm.trainer = trainer
        assert dm.train_dataloader().pin_memory is expected
    dm = tiny_module(root=root, num_workers=2, prefetch_factor=4)
    assert dm.train_dataloader().prefetch_factor == 4
    assert tiny_module(root=root).train_dataloader().prefetch_factor is None, "no workers: no prefetch"
    with pytest.raises(ValueError, match="prefetch_factor must be >= 1"):
        tiny_module(root=root, prefetch_factor=0)
