"""The bad-data suite: each kind of bad input file, in the paired (aligned, folders) and unpaired layouts.

Every case is either handled with the right pixel values or rejected, before training, by the set-up scan
with an error naming the file; ``skip_unreadable=True`` drops unreadable files (whole pairs) with one WARNING
giving the count.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import CONFIGS, tiny_args
from PIL import Image, ImageFile

from lit_translate.cli import main
from lit_translate.data import PairedDataModule, UnpairedDataModule, load_image
from lit_translate.data.scan import DataScanError

LAYOUTS = ("aligned", "folders", "unpaired")
SIZE = 8  # every image comes out SIZE x SIZE: resized to load_size=SIZE, no crop, no flip
GOOD = 3  # readable training items next to the bad one
RNG = np.random.default_rng(5)

# ---------------------------------------------------------------- writing files


def save(path: Path, image: Image.Image, **options) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


def halves(height: int, width: int, top, bottom, dtype=np.uint8) -> np.ndarray:
    """An image whose top half is ``top`` and bottom half ``bottom`` (scalars or per-channel tuples)."""
    channels = () if np.isscalar(top) else (len(top),)
    image = np.empty((height, width, *channels), dtype)
    image[: height // 2], image[height // 2 :] = top, bottom
    return image


def write_cv2(path: Path, rgb: np.ndarray) -> None:
    """Write a 16-bit RGB(A) array with OpenCV (which expects BGR(A) order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    code = cv2.COLOR_RGB2BGR if rgb.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, code))


# Handled cases: (file name, writer(path, height, width), expected RGB of the top and bottom halves).
HANDLED: dict[str, tuple[str, Callable[[Path, int, int], None], tuple, tuple]] = {
    "gray": (
        "odd.png",
        lambda p, h, w: save(p, Image.fromarray(halves(h, w, 60, 200))),
        (60, 60, 60),
        (200, 200, 200),
    ),
    "rgba": (  # alpha dropped, not blended (alpha 0 on top)
        "odd.png",
        lambda p, h, w: save(p, Image.fromarray(halves(h, w, (10, 20, 30, 0), (200, 100, 50, 128)))),
        (10, 20, 30),
        (200, 100, 50),
    ),
    "gray16": (  # >> 8: 0x8000 -> 128 (a wrap would give 0), 0x12FF -> 18 (clipping would give 255)
        "odd.png",
        lambda p, h, w: save(p, Image.fromarray(halves(h, w, 0x8000, 0x12FF, np.uint16))),
        (128, 128, 128),
        (18, 18, 18),
    ),
    "rgb16": (
        "odd.png",
        lambda p, h, w: write_cv2(p, halves(h, w, (0x8000, 0xFFFF, 0x12FF), (0x0100, 0x7F80, 0xABCD), np.uint16)),
        (128, 255, 18),
        (1, 127, 171),
    ),
    "rgba16": (
        "odd.png",
        lambda p, h, w: write_cv2(
            p, halves(h, w, (0x8000, 0xFFFF, 0x12FF, 0), (0x0100, 0x7F80, 0xABCD, 0x8000), np.uint16)
        ),
        (128, 255, 18),
        (1, 127, 171),
    ),
    "large_5000x4000": (  # 8000x4000 when aligned; resized by the normal pipeline to SIZE x SIZE
        "odd.png",
        lambda p, h, w: save(
            p,
            Image.fromarray(halves(4000, 8000 if w == 2 * h else 5000, (10, 200, 30), (250, 5, 90))),
            compress_level=1,
        ),
        (10, 200, 30),
        (250, 5, 90),
    ),
}


def noise(height: int, width: int) -> Image.Image:
    return Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8))


def truncated(path: Path, fmt: str) -> None:
    buf = io.BytesIO()
    noise(32, 64).save(buf, format=fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def broken_link(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(path.parent / "missing" / "target.png", path)


# Rejected cases: (file name, writer(path), reason given in ``skipped`` and in the error).
REJECTED: dict[str, tuple[str, Callable[[Path], None], str]] = {
    "zero_byte": ("bad.png", lambda p: p.write_bytes(b""), r"empty file \(0 bytes\)"),
    "truncated_jpeg": ("bad.jpg", lambda p: truncated(p, "JPEG"), r"image file is truncated"),
    "truncated_png": ("bad.png", lambda p: truncated(p, "PNG"), r"image file is truncated"),
    "not_an_image": ("bad.png", lambda p: p.write_text("hello, I am a text file\n"), r"not an image"),
    "missing_symlink": ("bad.png", broken_link, r"broken symbolic link to .*missing/target\.png"),
    "decompression_bomb": (
        "bad.png",
        lambda p: save(p, Image.new("RGB", (256, 128))),
        r"Image size \(32768 pixels\) exceeds limit of 10000 pixels",
    ),
}


def write_good(path: Path, width: int) -> None:
    save(path, Image.fromarray(np.full((SIZE, width, 3), RNG.integers(0, 256, 3), np.uint8)))


def sized(writer: Callable[[Path, int, int], None]) -> Callable[[Path, bool], None]:
    """Adapt a handled-case writer to ``make_dataset``: SIZE x SIZE, twice as wide when side by side."""
    return lambda path, wide: writer(path, SIZE, (2 if wide else 1) * SIZE)


def make_dataset(root: Path, layout: str, odd_name: str, write_odd: Callable[[Path, bool], None]) -> Path:
    """Write ``GOOD`` readable items and one odd file into the train split of ``layout``; return the odd file.

    ``write_odd(path, side_by_side)`` writes the odd file (twice as wide for the aligned layout). In the
    folders layout the odd file is on the A side and B has a readable file of the same name; in the unpaired
    layout it is in ``trainA``. Every layout also gets a readable validation split.
    """
    for split, count in (("train", GOOD), ("val", 2)):
        for i in range(count):
            if layout == "aligned":
                write_good(root / split / f"{i}.png", 2 * SIZE)
            else:
                a, b = (f"A/{split}", f"B/{split}") if layout == "folders" else (f"{split}A", f"{split}B")
                write_good(root / a / f"{i}.png", SIZE)
                write_good(root / b / f"{i}.png", SIZE)
    odd = {"aligned": root / "train", "folders": root / "A" / "train", "unpaired": root / "trainA"}[layout]
    write_odd(odd / odd_name, layout == "aligned")
    return odd / odd_name


def datamodule(root: Path, layout: str, skip: bool = False) -> PairedDataModule | UnpairedDataModule:
    options = dict(root=str(root), load_size=SIZE, crop_size=SIZE, resize=True, crop=False, flip=False)
    options.update(batch_size=2, val_batch_size=2, num_workers=0, skip_unreadable=skip)
    if layout == "unpaired":
        return UnpairedDataModule(**options)
    return PairedDataModule(layout=layout, **options)


def index_of(dataset, path: Path) -> int:
    """The item index whose A image is ``path``."""
    names = [pair[0] for pair in dataset.pairs] if hasattr(dataset, "pairs") else dataset.paths["A"]
    return names.index(path)


def to_unit(rgb) -> torch.Tensor:
    """uint8 RGB -> the pipeline's [-1, 1] values, shape (3, 1, 1)."""
    return torch.tensor(rgb, dtype=torch.float32).view(3, 1, 1) / 127.5 - 1


def expected_image(top, bottom) -> torch.Tensor:
    return torch.cat([to_unit(top).expand(3, SIZE // 2, SIZE), to_unit(bottom).expand(3, SIZE // 2, SIZE)], dim=1)


def paths_of(batches: list[dict]) -> set[str]:
    return {Path(p).name for batch in batches for key in ("A_path", "B_path") for p in batch[key]}


@pytest.fixture
def tiny_pixel_limit(monkeypatch):
    """Pillow's decompression-bomb limit lowered to 5000 pixels: the 256x128 'bomb' is over twice that."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)


# ---------------------------------------------------------------- handled cases


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(HANDLED))
def test_handled_input_loads_with_correct_values(tmp_path, case, layout):
    name, writer, top, bottom = HANDLED[case]
    odd = make_dataset(tmp_path, layout, name, sized(writer))
    if layout == "folders":  # the same odd file on both sides (the two images of a pair have one size)
        writer(tmp_path / "B" / "train" / name, SIZE, SIZE)
    dm = datamodule(tmp_path, layout)
    dm.setup("fit")
    dataset = dm.dataset("train")
    item = dataset[index_of(dataset, odd)]
    assert item["A_path"] == str(odd)
    assert item["A"].shape == (3, SIZE, SIZE) and item["A"].dtype == torch.float32
    # the antialiased bicubic resize (as the reference's) of a 4000-row image blends the middle rows
    rows = [0, 1, SIZE - 2, SIZE - 1] if case.startswith("large") else list(range(SIZE))
    expected = expected_image(top, bottom)[:, rows]
    assert torch.allclose(item["A"][:, rows], expected, atol=1e-6), item["A"][:, ::4, 0]
    if layout != "unpaired":
        assert torch.allclose(item["B"][:, rows], expected, atol=1e-6)
    batches = list(dm.train_dataloader())
    assert len(batches) == 2 and all(b["A"].shape == (2, 3, SIZE, SIZE) for b in batches)
    assert name in paths_of(batches)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_handled_inputs_are_kept_when_skipping(tmp_path, layout, caplog):
    for case in ("gray", "rgba", "gray16", "rgb16", "rgba16"):
        name, writer, _, _ = HANDLED[case]
        odd = make_dataset(tmp_path / case, layout, name, sized(writer))
        if layout == "folders":
            writer(tmp_path / case / "B" / "train" / name, SIZE, SIZE)
        dm = datamodule(tmp_path / case, layout, skip=True)
        with caplog.at_level(logging.WARNING):
            dm.setup("fit")
        dataset = dm.dataset("train")
        assert dataset.skipped == [] and len(dataset) == GOOD + 1
        assert dataset[index_of(dataset, odd)]["A"].shape == (3, SIZE, SIZE)
    assert "unreadable" not in caplog.text


@pytest.mark.parametrize("layout", LAYOUTS)
def test_non_image_extensions_are_ignored(tmp_path, layout, caplog):
    odd = make_dataset(tmp_path, layout, "README.txt", lambda p, wide: p.write_text("notes"))
    (odd.parent / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    for skip in (False, True):
        dm = datamodule(tmp_path, layout, skip=skip)
        with caplog.at_level(logging.WARNING):
            dm.setup("fit")
        assert len(dm.dataset("train")) == GOOD
        assert {"README.txt", ".DS_Store"}.isdisjoint(paths_of(list(dm.train_dataloader())))
    assert "unreadable" not in caplog.text


# ---------------------------------------------------------------- rejected cases


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(REJECTED))
def test_unreadable_input_is_rejected_naming_the_file(tmp_path, case, layout, tiny_pixel_limit):
    name, writer, reason = REJECTED[case]
    odd = make_dataset(tmp_path, layout, name, lambda p, wide: writer(p))
    if layout == "folders":
        write_good(tmp_path / "B" / "train" / name, SIZE)
    dm = datamodule(tmp_path, layout)
    name = re.escape(str(odd.relative_to(tmp_path / "train" if layout == "aligned" else tmp_path)))
    advice = r"skip_unreadable true" if case != "decompression_bomb" else r"MAX_IMAGE_PIXELS = <pixels>"
    # found by the set-up scan, before training: the error lists the file, its reason and the fix
    with pytest.raises(
        DataScanError, match=rf"(?s)1 of the \d+ files .* before training\):\n  {name}: {reason}.*{advice}"
    ):
        dm.setup("fit")
    dataset = dm.build_dataset("train")  # the same dataset without the scan: the error when the file is loaded
    file = re.escape(str(odd))
    message = rf"cannot read image {file}: {reason}.*skip_unreadable true"
    if case == "decompression_bomb":
        message = rf"cannot read image {file}: {reason}.*Downscale .*MAX_IMAGE_PIXELS"
    with pytest.raises(ValueError, match=message):
        dataset[index_of(dataset, odd)]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", list(REJECTED))
def test_skip_unreadable_drops_file_and_warns_with_count(tmp_path, case, layout, tiny_pixel_limit, caplog):
    name, writer, reason = REJECTED[case]
    odd = make_dataset(tmp_path, layout, name, lambda p, wide: writer(p))
    if layout == "folders":
        write_good(tmp_path / "B" / "train" / name, SIZE)  # readable, but its pair is dropped
    dm = datamodule(tmp_path, layout, skip=True)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    dataset = dm.dataset("train")
    assert [path for path, _ in dataset.skipped] == [odd]
    assert re.search(reason, dataset.skipped[0][1]), dataset.skipped
    assert len(dataset) == GOOD
    checked = {"aligned": GOOD + 1, "folders": 2 * (GOOD + 1), "unpaired": 2 * GOOD + 1}[layout]
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and all(r.levelno == logging.WARNING for r in caplog.records)
    assert f"skipped 1 of {checked} unreadable files" in warnings[0] and name in warnings[0]
    batches = list(dm.train_dataloader())
    assert [b["A"].shape for b in batches] == [(2, 3, SIZE, SIZE), (1, 3, SIZE, SIZE)]
    assert name not in paths_of(batches) and len({p for b in batches for p in b["A_path"]}) == GOOD


def test_skip_counts_both_unpaired_domains_in_one_warning(tmp_path, caplog):
    make_dataset(tmp_path, "unpaired", "bad.png", lambda p, wide: p.write_bytes(b""))
    truncated(tmp_path / "trainB" / "cut.jpg", "JPEG")
    dm = datamodule(tmp_path, "unpaired", skip=True)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    dataset = dm.dataset("train")
    assert {path.name for path, _ in dataset.skipped} == {"bad.png", "cut.jpg"}
    assert {d: len(p) for d, p in dataset.paths.items()} == {"A": GOOD, "B": GOOD}
    warnings = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 2 of 8 unreadable files" in warnings[0]
    assert "trainA/bad.png (empty file (0 bytes))" in warnings[0] and "trainB/cut.jpg" in warnings[0]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_skip_with_every_file_unreadable_is_an_error(tmp_path, layout):
    for folder in {"aligned": ["train"], "folders": ["A/train", "B/train"], "unpaired": ["trainA", "trainB"]}[layout]:
        for i in range(3):
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            (tmp_path / folder / f"{i}.png").write_bytes(b"")
    with pytest.raises(
        ValueError,
        match=r"every image in .* is unreadable \((3 of 3|6 of 6) files.*\):\n  (A/train/|trainA/)?0\.png: empty",
    ):
        datamodule(tmp_path, layout, skip=True).setup("fit")


def test_truncation_is_detected_even_if_pillow_is_told_to_load_truncated_files(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some libraries set it
    for name, fmt in (("cut.jpg", "JPEG"), ("cut.png", "PNG")):
        truncated(tmp_path / name, fmt)
        with pytest.raises(ValueError, match=rf"{name}: image file is truncated"):
            load_image(tmp_path / name, 3)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_threaded_skip_check_rejects_truncation_and_restores_the_flag(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    make_dataset(tmp_path, "aligned", "bad.jpg", lambda p, wide: truncated(p, "JPEG"))
    for i in range(GOOD, 40):
        write_good(tmp_path / "train" / f"{i}.png", 2 * SIZE)
    dm = datamodule(tmp_path, "aligned", skip=True)
    dm.setup("fit")
    assert [p.name for p, _ in dm.dataset("train").skipped] == ["bad.jpg"] and len(dm.dataset("train")) == 40
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


# ---------------------------------------------------------------- the command line


def test_cli_fit_skips_a_truncated_jpeg_only_when_asked(tmp_path, caplog):
    root = tmp_path / "data"
    make_dataset(root, "aligned", "broken photo.jpg", lambda p, wide: truncated(p, "JPEG"))
    fit = ["fit", "-c", str(CONFIGS / "pix2pix" / "demo.yaml"), "--data.root", str(root)]
    # found by the set-up scan (the JPEG has no end marker), before step 0: no checkpoint is written
    with pytest.raises(ValueError, match=r"(?s)broken photo\.jpg: image file is truncated.*skip_unreadable true"):
        main([*fit, *tiny_args(tmp_path / "fails", steps=2)])
    assert not (tmp_path / "fails" / "checkpoints").exists()
    run = tmp_path / "skips"
    with caplog.at_level(logging.WARNING):
        main([*fit, *tiny_args(run, steps=2), "--data.init_args.skip_unreadable", "true"])
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2
    assert "skipped 1 of 4 unreadable files" in caplog.text and "broken photo.jpg" in caplog.text
    assert "skip_unreadable: true" in (run / "config.yaml").read_text()
