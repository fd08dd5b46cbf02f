"""Aligned images of any aspect, the reference's resize, and the set-up scan (issue 10, items 1-3).

Every test builds its own tiny images. The scan is checked for what it finds (every bad file, listed), what it
costs (headers only, a cache keyed by size and mtime, never written into the dataset) and how it behaves
under DDP (rank 0 scans, every rank gets the same outcome, nobody waits forever).
"""

from __future__ import annotations

import io
import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from conftest import PIX2PIX_DEMO, tiny_args, write_image
from PIL import Image

from lit_translate.cli import main
from lit_translate.data import PairedDataModule, ShardedSampler, UnpairedDataModule, build_transform, scan
from lit_translate.data.scan import DataScanError

RNG = np.random.default_rng(10)


def noise(height: int, width: int, channels: int = 3) -> np.ndarray:
    return RNG.integers(0, 256, (height, width, channels)[: 3 if channels > 1 else 2], dtype=np.uint8)


def paired(root: Path, **kwargs) -> PairedDataModule:
    options = dict(root=str(root), load_size=16, crop_size=16, flip=False, num_workers=0, batch_size=2)
    return PairedDataModule(**{**options, **kwargs})


def aligned_set(root: Path, shapes: list[tuple[int, int]], split: str = "train") -> list[Path]:
    """Write one aligned image per ``(height, width)`` (A half = noise, B half = its negative)."""
    paths = []
    for i, (h, w) in enumerate(shapes):
        image = noise(h, w)
        image[:, w // 2 : 2 * (w // 2)] = 255 - image[:, : w // 2]
        paths.append(write_image(root / split / f"{i:02d}.png", image))
    return paths


def reference_halves(path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's aligned_dataset.py + get_transform resize: split at int(w / 2), PIL bicubic."""
    ab = Image.open(path).convert("RGB")
    w, h = ab.size
    w2 = int(w / 2)
    halves = ab.crop((0, 0, w2, h)), ab.crop((w2, 0, w, h))
    return tuple(np.asarray(x.resize((size, size), Image.BICUBIC)) for x in halves)


def to_uint8(tensor: torch.Tensor) -> np.ndarray:
    return ((tensor + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


# ---------------------------------------------------------------- item 1: aligned images that are not 2:1


def test_aligned_images_of_any_aspect_are_split_at_half_width_and_counted_once(tmp_path, caplog):
    paths = aligned_set(tmp_path, [(8, 16), (8, 16), (10, 13), (12, 40)])  # two 2:1, one odd width, one 10:3
    dm = paired(tmp_path, crop=False)
    with caplog.at_level(logging.INFO):
        dm.dataset("train")
        dm.dataset("train")  # set up once: said once
    notes = [r.getMessage() for r in caplog.records if "not 2:1" in r.getMessage()]
    assert len(notes) == 1, notes
    assert notes[0].startswith(f"2 of the 4 aligned images in {tmp_path / 'train'} are not 2:1 (13x10, 40x12)")
    assert "split at width/2 and both halves resized to 16x16" in notes[0]
    dataset = dm.dataset("train")
    for index, path in enumerate(paths):  # exactly the reference's arrays, odd width included (B is 7 wide)
        item, (ref_a, ref_b) = dataset[index], reference_halves(path, 16)
        assert np.array_equal(to_uint8(item["A"]), ref_a) and np.array_equal(to_uint8(item["B"]), ref_b)


def test_odd_width_without_resize_keeps_a_and_b_aligned(tmp_path):
    aligned_set(tmp_path, [(20, 41)])  # halves 20 and 21 wide: B's extra column is dropped, as the crop would
    dm = paired(tmp_path, resize=False, crop_size=16)
    item = dm.dataset("train")[0]
    assert item["A"].shape == item["B"].shape == (3, 16, 16)
    assert torch.allclose(item["A"], -item["B"], atol=1e-6)  # B is A's negative, pixel for pixel


def test_two_folder_pairs_of_different_sizes_are_resized_before_the_shared_crop(tmp_path):
    pattern = noise(24, 24)
    for i in range(2):
        write_image(tmp_path / "A" / "train" / f"{i}.png", pattern)
        write_image(tmp_path / "B" / "train" / f"{i}.png", pattern.repeat(2, 0).repeat(2, 1))  # 48x48
    dm = paired(tmp_path, layout="folders", load_size=24, crop_size=16, flip=True, interpolation="nearest")
    dataset = dm.dataset("train")
    seen = set()
    for epoch in range(30):  # nearest 48 -> 24 gives the pattern back: A and B equal under every crop/flip
        dataset.epoch_counter.value = epoch
        item = dataset[epoch % 2]
        assert item["A"].shape == item["B"].shape == (3, 16, 16) and torch.equal(item["A"], item["B"])
        seen.add(item["A"].numpy().tobytes())
    assert len(seen) > 5


# ---------------------------------------------------------------- item 2: the reference's resize


def test_resize_is_pillow_bicubic_like_the_reference_and_an_option():
    image = noise(37, 53)
    for train, size in ((True, 28), (False, 16)):  # training: load_size; evaluation: straight to crop_size
        tf = build_transform(28, 16, resize=True, crop=train, flip=False, train=train, paired=False)
        tf = tf if train else build_transform(28, 16, True, True, False, train=False, paired=False)
        expected = np.asarray(Image.fromarray(image).resize((size, size), Image.BICUBIC))
        assert np.array_equal(tf.resize(image), expected)
    gray = noise(37, 53, channels=1)[:, :, None]
    tf = build_transform(28, 16, True, False, False, train=False, paired=False, interpolation="lanczos")
    expected = np.asarray(Image.fromarray(gray[:, :, 0]).resize((28, 28), Image.LANCZOS))[:, :, None]
    assert np.array_equal(to_uint8(tf(image=gray)["image"]), expected)
    with pytest.raises(ValueError, match=r"interpolation must be one of 'bicubic', 'bilinear'.*got 'cubic'"):
        PairedDataModule(interpolation="cubic")


def test_interpolation_is_a_typed_cli_option_defaulting_to_bicubic(tmp_path):
    from conftest import run_cli

    cli = run_cli(["-c", str(PIX2PIX_DEMO), "--data.interpolation", "bilinear", *tiny_args(tmp_path)])
    assert (
        cli.datamodule.interpolation == "bilinear" and cli.datamodule.transform(True, True).interpolation == "bilinear"
    )
    with pytest.raises(SystemExit):
        run_cli(["-c", str(PIX2PIX_DEMO), "--data.interpolation", "cubic", *tiny_args(tmp_path)])
    assert PairedDataModule().interpolation == UnpairedDataModule().interpolation == "bicubic"


# ---------------------------------------------------------------- item 3: the scan


def bad_files(folder: Path) -> dict[str, str]:
    """One file of each kind the scan must find, with the reason it gives."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image\n")
    os.symlink(folder / "gone.png", folder / "link.png")
    buf = io.BytesIO()
    Image.fromarray(noise(16, 32)).save(buf, format="JPEG")
    (folder / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.fromarray(np.zeros((16, 32), np.float32), mode="F").save(folder / "float.tif")
    return {
        "cut.jpg": "(image file is truncated|Truncated File Read)",
        "empty.png": r"empty file \(0 bytes\)",
        "float.tif": r"32-bit floating-point pixels \(Pillow mode F\)",
        "link.png": "broken symbolic link to .*gone.png",
        "text.jpg": "not an image or an unsupported format",
    }


def test_scan_lists_every_bad_file_before_training(tmp_path):
    aligned_set(tmp_path, [(8, 16)] * 3)
    reasons = bad_files(tmp_path / "train")
    with pytest.raises(DataScanError) as info:
        paired(tmp_path).dataset("train")
    lines = str(info.value).splitlines()
    assert lines[0] == f"5 of the 8 files of {tmp_path / 'train'} cannot be used (checked before training):"
    for line, (name, reason) in zip(lines[1:6], sorted(reasons.items())):
        assert re.fullmatch(rf"  {re.escape(name)}: {reason}.*", line), line
    assert lines[6].startswith("Remove or replace them, or pass --data.init_args.skip_unreadable true")


def test_scan_names_the_first_20_and_counts_the_rest(tmp_path):
    aligned_set(tmp_path, [(8, 16)])
    for i in range(25):
        (tmp_path / "train" / f"bad{i:02d}.png").write_bytes(b"")
    with pytest.raises(DataScanError) as info:
        paired(tmp_path).dataset("train")
    lines = str(info.value).splitlines()
    assert lines[0].startswith("25 of the 26 files") and lines[20] == "  bad19.png: empty file (0 bytes)"
    assert lines[21] == "  ... and 5 more"


def test_scan_reads_headers_only_unless_skipping(tmp_path, monkeypatch):
    aligned_set(tmp_path, [(8, 16)] * 4)
    decoded = []
    monkeypatch.setattr(scan, "decode_problem", lambda path: decoded.append(path))
    paired(tmp_path).dataset("train")
    assert decoded == []  # complete PNG files: the header and the end marker are enough
    paired(tmp_path, skip_unreadable=True).dataset("train")
    assert len(decoded) == 4  # skip_unreadable decodes everything


def test_skip_unreadable_drops_every_kind_and_images_too_small_for_the_crop(tmp_path, caplog):
    aligned_set(tmp_path, [(20, 40)] * 3 + [(8, 16)])  # the last one: 8x8 halves, below the 16 crop
    reasons = bad_files(tmp_path / "train")
    (tmp_path / "train" / "float.tif").unlink()
    with pytest.raises(DataScanError, match=r"03\.png: A\|B image 16x8: each half is 8x8, smaller than the 16x16 crop"):
        paired(tmp_path, resize=False).dataset("train")
    dm = paired(tmp_path, resize=False, skip_unreadable=True)
    with caplog.at_level(logging.WARNING):
        dataset = dm.dataset("train")
    assert [p.name for p, _ in dataset.skipped] == ["03.png", "cut.jpg", "empty.png", "link.png", "text.jpg"]
    assert len(dataset) == 3 and len(reasons) == 5
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        len(warning) == 1
        and warning[0].startswith("skipped 5 of 8 unreadable files")
        and "(3 pairs left)" in warning[0]
    )


def test_pairs_of_two_sizes_without_resize_are_a_size_problem(tmp_path):
    write_image(tmp_path / "A" / "train" / "x.png", noise(16, 16))
    write_image(tmp_path / "B" / "train" / "x.png", noise(16, 20))
    with pytest.raises(DataScanError, match=r"A/train/x\.png: the two images of this pair are 16x16 and 20x16"):
        paired(tmp_path, layout="folders", resize=False, crop=False).dataset("train")
    assert len(paired(tmp_path, layout="folders").dataset("train")) == 1  # resized: fine


def test_unpaired_and_predict_folders_are_scanned_too(tmp_path):
    for domain in "AB":
        write_image(tmp_path / f"train{domain}" / "ok.png", noise(8, 8))
    (tmp_path / "trainB" / "empty.png").write_bytes(b"")
    dm = UnpairedDataModule(root=str(tmp_path), load_size=8, crop_size=8, num_workers=0)
    with pytest.raises(DataScanError, match=r"\n  trainB/empty\.png: empty file"):
        dm.dataset("train")
    write_image(tmp_path / "in" / "sub" / "ok.png", noise(8, 8))
    (tmp_path / "in" / "sub" / "bad.png").write_text("text")
    with pytest.raises(DataScanError, match=r"\n  bad\.png: not an image"):
        PairedDataModule(predict_dir=str(tmp_path / "in"), num_workers=0).dataset("predict")


# ---------------------------------------------------------------- the cache


def test_cache_skips_unchanged_files_and_lives_outside_the_dataset(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CACHE_FROM", 1)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    data = tmp_path / "data"
    paths = aligned_set(data, [(8, 16)] * 5)
    before = sorted(data.rglob("*"))
    opened = []
    real = scan.read_header
    monkeypatch.setattr(scan, "read_header", lambda path: opened.append(path.name) or real(path))
    paired(data).dataset("train")
    assert len(opened) == 5 and len(list((tmp_path / "user-cache" / "lit_translate").glob("scan-*.json"))) == 1
    opened.clear()
    paired(data).dataset("train")
    assert opened == []  # a resume re-reads nothing
    write_image(paths[2], noise(8, 18))  # changed: new size and mtime
    paired(data).dataset("train")
    assert opened == ["02.png"]
    dm = paired(data)  # with a trainer: the cache is in the run directory, which a resume reuses
    dm.trainer = SimpleNamespace(default_root_dir=str(tmp_path / "run"), world_size=1, global_rank=0)
    dm.dataset("train")
    assert (tmp_path / "run" / ".scan-cache.json").is_file()
    assert sorted(data.rglob("*")) == before  # nothing is ever written into the dataset


def test_a_cache_that_cannot_be_read_or_written_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "CACHE_FROM", 1)
    aligned_set(tmp_path / "data", [(8, 16)] * 2)
    run = tmp_path / "run"
    run.mkdir()
    (run / ".scan-cache.json").write_text("{not json")
    dm = paired(tmp_path / "data")
    dm.trainer = SimpleNamespace(default_root_dir=str(run), world_size=1, global_rank=0)
    assert len(dm.dataset("train")) == 2
    readonly = tmp_path / "readonly"
    readonly.mkdir(mode=0o500)
    dm = paired(tmp_path / "data")
    dm.trainer = SimpleNamespace(default_root_dir=str(readonly / "run"), world_size=1, global_rank=0)
    assert len(dm.dataset("train")) == 2


# ---------------------------------------------------------------- DDP: rank 0 scans, nobody hangs


class GlooStrategy:
    """What the DataModule uses of a Lightning strategy: ``broadcast`` (as DDPStrategy: broadcast_object_list)."""

    def broadcast(self, obj, src=0):
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]


def _rank(rank: int, root: str, port: int, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    probed = []
    real = scan.probe
    scan.probe = lambda path, cache, decode: probed.append(path) or real(path, cache, decode)
    dm = paired(Path(root))
    dm.trainer = SimpleNamespace(world_size=2, global_rank=rank, strategy=GlooStrategy(), default_root_dir=None)
    try:
        dm.dataset("train")
        outcome = "no error"
    except DataScanError as err:
        outcome = str(err)
    results[rank] = (outcome, len(probed))
    dist.destroy_process_group()


def test_ddp_rank_zero_scans_and_every_rank_raises_the_same_error(tmp_path):
    aligned_set(tmp_path, [(8, 16)] * 3)
    (tmp_path / "train" / "empty.png").write_bytes(b"")
    results = mp.Manager().dict()
    port = 29500 + os.getpid() % 1000
    mp.start_processes(_rank, args=(str(tmp_path), port, results), nprocs=2, start_method="fork", join=True)
    (error0, probed0), (error1, probed1) = results[0], results[1]
    assert "empty.png: empty file (0 bytes)" in error0 and error1 == error0
    assert probed0 == 4 and probed1 == 0  # only rank 0 read the files


def test_a_failing_scan_on_rank_zero_is_broadcast_not_left_hanging(tmp_path, monkeypatch):
    aligned_set(tmp_path, [(8, 16)])
    sent = []
    strategy = SimpleNamespace(broadcast=lambda obj, src=0: sent.append(obj) or obj)
    monkeypatch.setattr(scan, "check_split", lambda *args: 1 / 0)
    dm = paired(tmp_path)
    dm.trainer = SimpleNamespace(world_size=2, global_rank=0, strategy=strategy, default_root_dir=None)
    with pytest.raises(DataScanError, match=r"the set-up scan of .*train failed on rank 0: ZeroDivisionError"):
        dm.dataset("train")
    assert len(sent) == 1  # rank 0 reached the broadcast the other ranks wait in


# ---------------------------------------------------------------- what only a full decode finds, mid-run


def test_a_file_only_a_full_decode_rejects_stops_mid_run_naming_it_and_keeps_the_checkpoint(tmp_path):
    root = tmp_path / "data"
    aligned_set(root, [(32, 64)] * 6)
    aligned_set(root, [(32, 64)] * 2, split="val")
    # 2 batches of 2 per epoch (4 of the 6 items): find an item drawn in epoch 1 but not in epoch 0
    sampler = ShardedSampler(list(range(6)), 1, 0, shuffle=True, seed=0, pad=True)
    orders = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        orders.append(list(sampler)[:4])
    bad = next(i for i in orders[1] if i not in orders[0])
    data = bytearray((root / "train" / f"{bad:02d}.png").read_bytes())
    start = data.find(b"IDAT") + 8
    data[start : start + 40] = bytes(b ^ 0xFF for b in data[start : start + 40])  # IEND intact: the scan passes
    (root / "train" / f"{bad:02d}.png").write_bytes(bytes(data))
    run = tmp_path / "run"
    args = ["fit", "-c", str(PIX2PIX_DEMO), "--data.root", str(root), *tiny_args(run, steps=2, epochs=2)]
    sizes = ["--data.load_size", "32", "--data.crop_size", "32", "--checkpoint.every_n_epochs", "1"]
    with pytest.raises(ValueError, match=rf"cannot read image .*{bad:02d}\.png: broken data stream.*skip_unreadable"):
        main([*args, *sizes, "--model.init_args.generator.init_args.num_downs", "5"])
    checkpoint = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["global_step"] == 2 and checkpoint["epoch"] == 0  # epoch 0's checkpoint, intact
