"""Every family goes through the one set-up scan: all bad files of every split in one error, decoded once.

Issue 21 item 5 (an SR folder with an empty PNG, a truncated JPEG and a 30x30 image reported one file, then the
next) and issue 20 item 1 (``skip_unreadable`` had a second mechanism that decoded content and StarGAN files
twice and left SR unscanned; StarGAN predict was not recursive).
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import write_image
from PIL import Image

from lit_translate.data import (
    CelebARaFDDataModule,
    DomainFolderDataModule,
    ImageFolderDataModule,
    SRDataModule,
)
from lit_translate.data import io as image_io
from lit_translate.data.scan import DataScanError
from lit_translate.errors import InputError

RNG = np.random.default_rng(3)


def photo(path: Path, height: int = 48, width: int = 40) -> Path:
    return write_image(path, RNG.integers(0, 256, (height, width, 3), dtype=np.uint8))


def three_bad_files(folder: Path) -> None:
    """The issue's folder: an empty PNG, a truncated JPEG and a 30x30 image."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "empty.png").write_bytes(b"")
    buffer = io.BytesIO()
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    (folder / "cut.jpg").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    photo(folder / "small.png", 30, 30)


def test_sr_lists_every_bad_file_of_every_split_in_one_error(tmp_path):
    for i in range(4):
        photo(tmp_path / "train" / f"{i}.png")
        photo(tmp_path / "val" / f"{i}.png", 32, 32)
    three_bad_files(tmp_path / "train")
    (tmp_path / "val" / "blank.png").write_bytes(b"")
    dm = SRDataModule(root=str(tmp_path), gt_size=32, val_batch_size=1, num_workers=0)
    with pytest.raises(DataScanError) as info:
        dm.setup("fit")
    message = str(info.value)
    assert message.startswith(f"3 of the 7 files of {tmp_path / 'train'} cannot be used (checked before training):")
    assert "\n  cut.jpg: image file is truncated" in message and "\n  empty.png: empty file (0 bytes)" in message
    assert "\n  small.png: 30x30 (28x28 after cropping to a multiple of scale 4), smaller than the training " in message
    assert f"1 of the 5 files of {tmp_path / 'val'} cannot be used" in message and "\n  blank.png: empty" in message


def test_sr_skip_unreadable_goes_through_the_scan_and_decodes_each_file_once(tmp_path, monkeypatch, caplog):
    for i in range(4):
        photo(tmp_path / "train" / f"{i}.png")
    three_bad_files(tmp_path / "train")
    decoded = count_decodes(monkeypatch)
    dm = SRDataModule(train_dir=str(tmp_path / "train"), gt_size=32, skip_unreadable=True, num_workers=0)
    with caplog.at_level(logging.WARNING):
        dataset = dm.dataset("train")
    assert [hr.name for hr, _ in dataset.source] == [f"{i}.png" for i in range(4)]
    assert len(dataset.sizes) == 4
    assert sorted(p.name for p, _ in dataset.skipped) == ["cut.jpg", "empty.png", "small.png"]
    assert "skipped 3 of 7 unreadable files" in caplog.text
    assert sorted(decoded) == sorted(p for p in (tmp_path / "train").iterdir() if p.stat().st_size)  # once each
    assert dataset[3]["B"].shape == (3, 32, 32)


def test_sr_premade_lr_size_problems_are_listed_with_the_others(tmp_path):
    photo(tmp_path / "hr" / "a.png", 48, 64)
    photo(tmp_path / "hr" / "b.png", 48, 64)
    photo(tmp_path / "lr" / "ax4.png", 12, 16)
    photo(tmp_path / "lr" / "bx4.png", 12, 15)
    (tmp_path / "hr" / "c.png").write_bytes(b"")
    photo(tmp_path / "lr" / "cx4.png", 12, 16)
    dm = SRDataModule(val_dir=str(tmp_path / "hr"), val_lr_dir=str(tmp_path / "lr"), lr_suffix="x4", val_batch_size=1)
    with pytest.raises(DataScanError, match=r"(?s)2 of the 6 files .*\n  b\.png: its pre-made LR image is 15x12, "):
        dm.setup("validate")


def test_sr_flat_root_names_the_split_of_each_bad_file(tmp_path):
    for i in range(9):
        photo(tmp_path / "flat" / f"{i}.png")
    (tmp_path / "flat" / "4.png").write_bytes(b"")
    dm = SRDataModule(root=str(tmp_path / "flat"), gt_size=32, val_fraction=0.5, val_batch_size=1, split_seed=1)
    with pytest.raises(DataScanError, match=r"files of .*flat \((train|val) split\) cannot be used.*\n  4\.png: empty"):
        dm.setup("fit")


def test_content_images_list_the_bad_files_with_the_split_and_decode_once(tmp_path, monkeypatch, caplog):
    for i in range(9):
        photo(tmp_path / "photos" / f"{i}.png")
    three_bad_files(tmp_path / "photos")
    dm = ImageFolderDataModule(root=str(tmp_path / "photos"), image_size=16, num_workers=0, val_fraction=0.4)
    with pytest.raises(DataScanError) as info:
        dm.setup("fit")
    message = str(info.value)
    assert "\n  cut.jpg: image file is truncated" in message and "\n  empty.png: empty file (0 bytes)" in message
    assert "small.png" not in message  # content images of any size are enlarged
    assert "(train split) cannot be used" in message or "(val split) cannot be used" in message
    decoded = count_decodes(monkeypatch)
    skip = ImageFolderDataModule(root=str(tmp_path / "photos"), image_size=16, skip_unreadable=True, val_fraction=0.4)
    with caplog.at_level(logging.WARNING):
        skip.setup("fit")
    kept = skip.dataset("train").paths + skip.dataset("val").paths
    assert len(kept) == 10 and not {p.name for p in kept} & {"cut.jpg", "empty.png"}
    assert len(decoded) == len(set(decoded)) == 11  # every non-empty file decoded once (was twice)
    assert "unreadable files in" in caplog.text


def test_content_images_are_listed_by_the_one_rule(tmp_path):
    for name in ("a.png", "deep/b.png", "deep/e.png", "f.png", ".hidden/c.png"):
        photo(tmp_path / "photos" / name)
    os.symlink(tmp_path / "nowhere.png", tmp_path / "photos" / "gone.png")
    dm = ImageFolderDataModule(root=str(tmp_path / "photos"), image_size=16, skip_unreadable=True, val_fraction=0.3)
    dm.setup("fit")
    listed = dm.dataset("train").paths + dm.dataset("val").paths
    assert sorted(p.name for p in listed) == ["a.png", "b.png", "e.png", "f.png"]
    assert [p.name for p, _ in dm.dataset("train").skipped + dm.dataset("val").skipped] == ["gone.png"]


def domain_folders(root: Path) -> Path:
    for split in ("train", "test"):
        for domain in ("cat", "dog"):
            for i in range(3):
                photo(root / split / domain / f"{i}.png", 20, 24)
    return root


def test_domain_folders_scan_once_and_skip_through_keep(tmp_path, monkeypatch):
    root = domain_folders(tmp_path / "afhq")
    (root / "train" / "dog" / "1.png").write_bytes(b"")
    (root / "test" / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DataScanError) as info:
        DomainFolderDataModule(root=str(root), image_size=16, num_workers=0).setup("fit")
    assert "dog/1.png: empty" in str(info.value) and "cat/0.png: not an image" in str(info.value)
    decoded = count_decodes(monkeypatch)
    dm = DomainFolderDataModule(root=str(root), image_size=16, num_workers=0, skip_unreadable=True)
    dm.setup("fit")
    train = dm.dataset("train")
    assert len(train) == 5 and train.targets == [0, 0, 0, 1, 1] and train.labels.shape == (5, 2)
    assert len(decoded) == len(set(decoded)) == 10


def test_stargan_predict_reads_sub_folders_and_is_scanned(tmp_path):
    photo(tmp_path / "in" / "a.png", 40, 40)
    photo(tmp_path / "in" / "cats" / "b.jpg", 64, 48)
    dm = DomainFolderDataModule(predict_dir=str(tmp_path / "in"), image_size=16, num_workers=0)
    dm.setup("predict")
    dataset = dm.dataset("predict")
    assert [str(p) for p in dataset.relative_paths] == ["a.png", os.path.join("cats", "b.jpg")]
    assert dataset[1]["A"].shape == (3, 16, 16)
    (tmp_path / "in" / "cats" / "c.png").write_bytes(b"")
    with pytest.raises(DataScanError, match=r"\n  cats/c\.png: empty"):
        DomainFolderDataModule(predict_dir=str(tmp_path / "in"), image_size=16).setup("predict")


def test_celeba_rafd_joint_data_are_scanned_and_skip_per_part(tmp_path):
    celeba = tmp_path / "celeba"
    photo(tmp_path / "face.png", 218, 178)
    (celeba / "images").mkdir(parents=True)
    names = [f"{i + 1:06d}.jpg" for i in range(2003)]
    for name in names:
        os.link(tmp_path / "face.png", celeba / "images" / name)
    header = [str(len(names)), " ".join(f"Attr{i:02d}" for i in range(40))]
    rows = [name + " 1" * 20 + " -1" * 20 for name in names]
    (celeba / "list_attr_celeba.txt").write_text("\n".join(header + rows) + "\n")
    rafd = domain_folders(tmp_path / "rafd")
    (rafd / "train" / "cat" / "2.png").write_bytes(b"")
    options = dict(root=str(celeba), rafd_root=str(rafd), rafd_crop_size=16, image_size=16, num_workers=0)
    options.update(selected_attrs=["Attr00", "Attr30"], batch_size=2)
    with pytest.raises(DataScanError, match=r"\n  .*rafd/train/cat/2\.png: empty"):
        CelebARaFDDataModule(**options).setup("fit")
    dm = CelebARaFDDataModule(**options, skip_unreadable=True)
    dm.setup("fit")
    joint = dm.dataset("train")
    assert [len(part) for part in joint.datasets] == [4, 5] and len(joint) == 9
    assert len(list(dm.train_dataloader())) == 6  # 3 batches of each part, alternating


def test_data_errors_before_training_are_input_errors(tmp_path):
    photo(tmp_path / "val" / "a.png", 40, 48)
    photo(tmp_path / "val" / "b.png", 40, 64)
    with pytest.raises(InputError, match=r"--data\.val_batch_size is 2.*needs --data\.val_batch_size 1"):
        SRDataModule(val_dir=str(tmp_path / "val"), val_batch_size=2).setup("validate")
    with pytest.raises(InputError, match="does not exist"):
        SRDataModule(root=str(tmp_path / "missing")).setup("fit")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"contains no images .*; point --data\.root at a folder of content images"):
        ImageFolderDataModule(root=str(tmp_path / "empty")).setup("fit")
    with pytest.raises(FileNotFoundError):  # still what it was
        DomainFolderDataModule(root=str(tmp_path / "missing")).setup("fit")
    with pytest.raises(InputError, match="contains no images"):
        DomainFolderDataModule(predict_dir=str(tmp_path / "empty")).setup("predict")


def count_decodes(monkeypatch) -> list[Path]:
    """Record every full decode (the scan's with ``skip_unreadable``, and any other)."""
    decoded: list[Path] = []
    original = image_io._decode

    def counting(path, channels):
        decoded.append(Path(path))
        return original(path, channels)

    monkeypatch.setattr(image_io, "_decode", counting)
    return decoded


def test_a_later_split_s_input_error_comes_with_the_bad_files(tmp_path):
    for i in range(3):
        photo(tmp_path / "train" / f"{i}.png")
    (tmp_path / "train" / "empty.png").write_bytes(b"")
    photo(tmp_path / "val" / "a.png", 40, 48)
    photo(tmp_path / "val" / "b.png", 40, 64)
    with pytest.raises(DataScanError, match=r"(?s)empty\.png: empty.*\n--data\.val_batch_size is 2, but the val "):
        SRDataModule(root=str(tmp_path), gt_size=32, val_batch_size=2).setup("fit")
