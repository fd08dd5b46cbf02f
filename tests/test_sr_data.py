"""Super-resolution data: MATLAB bicubic, aligned LR/HR patches, mod-crop, folders, pre-made LR and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_image

from lit_translate.callbacks.images import first_items
from lit_translate.data import SRDataModule, SRDataset, SyntheticHR
from lit_translate.data.sr import to_tensor
from lit_translate.resize import imresize, matlab_bicubic, pil_bicubic, resize_matrix

# MATLAB's antialiased bicubic x2 reduction: h(d) = cubic(d / 2) / 2 at d = +-0.5, +-1.5, +-2.5, +-3.5 (hand values).
X2_WEIGHTS = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = torch.from_numpy(rng.uniform(0, 255, (1, 3, height // 8 + 1, width // 8 + 1)))
    fine = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return fine[0].permute(1, 2, 0).round().clamp(0, 255).numpy().astype(np.uint8)


def lr_of(tensor: torch.Tensor) -> np.ndarray:
    return ((tensor + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


# ------------------------------------------------------------------------------------------------ resampling
def test_matlab_x2_weights_and_symmetric_border_against_hand_values():
    matrix = resize_matrix(16, 8, 0.5)
    # Output 3 sits at input 6.5 (0-based): taps 3..10.
    torch.testing.assert_close(matrix[3, 3:11], torch.tensor(X2_WEIGHTS, dtype=torch.float64), rtol=0, atol=1e-15)
    assert matrix[3, :3].abs().sum() == 0 and matrix[3, 11:].abs().sum() == 0
    # Output 0 sits at input 0.5: taps -3..4, and MATLAB mirrors -1 -> 0, -2 -> 1, -3 -> 2 (half-sample symmetric).
    w = X2_WEIGHTS
    expected = torch.tensor([w[3] + w[2], w[4] + w[1], w[5] + w[0], w[6], w[7]], dtype=torch.float64)
    torch.testing.assert_close(matrix[0, :5], expected, rtol=0, atol=1e-15)
    assert matrix[0, 5:].abs().sum() == 0
    torch.testing.assert_close(matrix.sum(dim=1), torch.ones(8, dtype=torch.float64), rtol=0, atol=1e-12)


def test_imresize_sizes_constants_and_upsampling():
    flat = torch.full((2, 3, 20, 12), 7.0)
    torch.testing.assert_close(imresize(flat, 0.25), torch.full((2, 3, 5, 3), 7.0))
    assert imresize(torch.rand(1, 9, 10), 0.25).shape == (1, 3, 3)  # MATLAB: ceil(scale * size)
    up = imresize(torch.rand(1, 1, 5, 6, dtype=torch.float64), 4)
    assert up.shape == (1, 1, 20, 24) and up.dtype == torch.float64


def test_pil_is_within_one_level_of_matlab_inside_the_image():
    image = smooth_image(96, 128)
    matlab, pil = matlab_bicubic(image, 4).astype(int), pil_bicubic(image, 4).astype(int)
    assert matlab.shape == pil.shape == (24, 32, 3)
    inside = np.abs(matlab - pil)[2:-2, 2:-2]
    assert inside.max() <= 1 and inside.mean() < 0.2


@pytest.mark.parametrize("resampler", ["matlab", "pil"])
def test_training_patches_are_the_whole_lr_image_patches(resampler, tmp_path):
    image = smooth_image(84, 100, seed=1)
    path = write_image(tmp_path / "hr.png", image)
    dataset = SRDataset([(path, None)], scale=4, gt_size=32, flip=False, rotate=False, resampler=resampler)
    whole_lr = (matlab_bicubic if resampler == "matlab" else pil_bicubic)(image, 4)
    positions = set()
    for epoch in range(12):
        dataset.epoch_counter = None
        dataset.seed = epoch
        item = dataset[0]
        lr, hr = lr_of(item["A"]), lr_of(item["B"])
        matches = [
            (top, left)
            for top in range(whole_lr.shape[0] - 7)
            for left in range(whole_lr.shape[1] - 7)
            if np.array_equal(hr, image[4 * top : 4 * top + 32, 4 * left : 4 * left + 32])
        ]
        assert len(matches) == 1, "the HR patch sits on the LR grid"
        top, left = matches[0]
        positions.add(matches[0])
        np.testing.assert_array_equal(lr, whole_lr[top : top + 8, left : left + 8])
    assert len(positions) > 6, "patch positions vary with the seed"


def test_augmented_pairs_stay_aligned_and_cover_the_eight_transforms(tmp_path):
    path = write_image(tmp_path / "hr.png", smooth_image(64, 64, seed=2))
    dataset = SRDataset([(path, None)], scale=4, gt_size=64)  # the patch is the whole image: only T varies
    hr0 = to_tensor(smooth_image(64, 64, seed=2))
    seen = set()
    for seed in range(40):
        dataset.seed = seed
        item = dataset[0]
        reduced = torch.from_numpy(matlab_bicubic(lr_of(item["B"]), 4)).permute(2, 0, 1).int()
        assert (lr_of(item["A"]).transpose(2, 0, 1).astype(int) - reduced.numpy())[:, 2:-2, 2:-2].max() <= 1
        for k, (hflip, vflip, transpose) in enumerate(np.ndindex(2, 2, 2)):
            t = hr0.flip(-1) if hflip else hr0
            t = t.flip(-2) if vflip else t
            t = t.transpose(-1, -2) if transpose else t
            if torch.equal(t, item["B"]):
                seen.add(k)
    assert seen == set(range(8))


def test_augmentation_is_seeded_by_seed_epoch_and_index(tmp_path):
    path = write_image(tmp_path / "hr.png", smooth_image(80, 80, seed=3))
    a = SRDataset([(path, None)], scale=4, gt_size=32, seed=5)
    b = SRDataset([(path, None)], scale=4, gt_size=32, seed=5)
    assert torch.equal(a[0]["B"], b[0]["B"]) and torch.equal(a[0]["A"], b[0]["A"])
    assert not torch.equal(a[0]["B"], SRDataset([(path, None)], scale=4, gt_size=32, seed=6)[0]["B"])


# ------------------------------------------------------------------------------------------------- evaluation
def test_evaluation_items_are_whole_images_mod_cropped(tmp_path):
    image = smooth_image(103, 98, seed=4)
    path = write_image(tmp_path / "odd.png", image)
    item = SRDataset([(path, None)], scale=4)[0]
    assert item["B"].shape == (3, 100, 96) and item["A"].shape == (3, 25, 24)
    np.testing.assert_array_equal(lr_of(item["B"]), image[:100, :96])
    np.testing.assert_array_equal(lr_of(item["A"]), matlab_bicubic(image[:100, :96], 4))
    twelve = SRDataset([(path, None)], scale=4, mod_crop=12)[0]
    assert twelve["B"].shape == (3, 96, 96) and twelve["A"].shape == (3, 24, 24)


def test_premade_lr_is_used_and_must_be_exactly_hr_over_scale(tmp_path):
    hr, lr = smooth_image(64, 48), smooth_image(16, 12, seed=9)
    hr_path, lr_path = write_image(tmp_path / "hr" / "a.png", hr), write_image(tmp_path / "lr" / "ax4.png", lr)
    item = SRDataset([(hr_path, lr_path)], scale=4)[0]
    np.testing.assert_array_equal(lr_of(item["A"]), lr)
    assert item["A_path"] == str(lr_path) and item["B_path"] == str(hr_path)
    patch = SRDataset([(hr_path, lr_path)], scale=4, gt_size=16, flip=False, rotate=False)[0]
    lr_patch, hr_patch = lr_of(patch["A"]), lr_of(patch["B"])
    top, left = next((t, c) for t in range(13) for c in range(9) if np.array_equal(lr_patch, lr[t : t + 4, c : c + 4]))
    np.testing.assert_array_equal(hr_patch, hr[4 * top : 4 * top + 16, 4 * left : 4 * left + 16])
    bad = write_image(tmp_path / "lr" / "bx4.png", smooth_image(15, 12))
    with pytest.raises(ValueError, match=r"bx4\.png is 12x15, expected exactly 12x16"):
        SRDataset([(hr_path, bad)], scale=4)


def test_hr_smaller_than_the_patch_names_the_file_and_gt_size(tmp_path):
    path = write_image(tmp_path / "small.png", smooth_image(60, 100))
    with pytest.raises(ValueError, match=r"small\.png is 100x60.*--data\.gt_size 64"):
        SRDataset([(path, None)], scale=4, gt_size=64)
    with pytest.raises(ValueError, match=r"--data\.gt_size \(30\) must be a positive multiple of --data\.scale"):
        SRDataset([(path, None)], scale=4, gt_size=30)


# ----------------------------------------------------------------------------------------------- DataModule
def folder(root, names, size=(48, 40)):
    for i, name in enumerate(names):
        write_image(root / name, smooth_image(*size, seed=i))
    return root


def test_datamodule_batches_follow_the_contract_on_synthetic_data():
    dm = SRDataModule(scale=4, gt_size=32, batch_size=3, val_batch_size=2, num_workers=0, synthetic_size=6)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (3, 3, 8, 8) and batch["B"].shape == (3, 3, 32, 32)
    assert batch["A"].dtype == torch.float32 and batch["A"].min() >= -1 and batch["B"].max() <= 1
    assert batch["B_path"][0].startswith("synthetic:train:")
    val = next(iter(dm.val_dataloader()))
    assert val["A"].shape == (2, 3, 24, 24) and val["B"].shape == (2, 3, 96, 96)
    assert len(dm.dataset("val")) == 16


def test_synthetic_images_are_deterministic_and_differ_by_split():
    assert np.array_equal(SyntheticHR(4)[2], SyntheticHR(4)[2])
    assert not np.array_equal(SyntheticHR(4, split="train")[2], SyntheticHR(4, split="val")[2])
    image = SyntheticHR(1, canvas=64)[0].astype(float)
    assert image.shape == (64, 64, 3) and np.abs(np.diff(image, axis=1)).max() > 100  # hard edges


def test_flat_root_is_split_by_a_seeded_fraction_and_test_takes_it_all(tmp_path):
    root = folder(tmp_path / "flat", [f"{i:02d}.png" for i in range(20)])
    dm = SRDataModule(root=str(root), gt_size=32, val_fraction=0.25, val_batch_size=1)
    dm.setup()
    train, val, test = (dm.dataset(role).source for role in ("train", "val", "test"))
    assert len(train) == 15 and len(val) == 5 and len(test) == 20
    assert not {p for p, _ in train} & {p for p, _ in val}
    again = SRDataModule(root=str(root), gt_size=32, val_fraction=0.25, val_batch_size=1)
    assert again.pairs("val") == val
    other = SRDataModule(root=str(root), gt_size=32, val_fraction=0.25, split_seed=1, val_batch_size=1)
    assert other.pairs("val") != val


def test_split_folders_explicit_folders_and_lr_root(tmp_path):
    root = tmp_path / "data"
    folder(root / "train", ["a.png", "b.png"])
    folder(root / "val", ["c.png"])
    lr = tmp_path / "lr"
    for split, names in (("train", ["a", "b"]), ("val", ["c"])):
        for name in names:
            write_image(lr / split / f"{name}x4.png", smooth_image(12, 10))
    dm = SRDataModule(root=str(root), gt_size=32, lr_root=str(lr), lr_suffix="x4", val_batch_size=1)
    dm.setup("fit")
    assert [p.name for p, _ in dm.dataset("train").source] == ["a.png", "b.png"]
    assert [q.name for _, q in dm.dataset("val").source] == ["cx4.png"]
    explicit = SRDataModule(train_dir=str(root / "train"), val_dir=str(root / "val"), gt_size=32, val_batch_size=1)
    explicit.setup("fit")
    assert len(explicit.dataset("val")) == 1
    with pytest.raises(ValueError, match=r"no HR images for the test split: pass --data\.test_dir"):
        explicit.setup("test")
    missing = SRDataModule(root=str(root), gt_size=32, lr_root=str(lr), val_batch_size=1)
    with pytest.raises(FileNotFoundError, match=r"no pre-made LR image for HR .*a\.png.*--data\.lr_suffix"):
        missing.setup("fit")


def test_whole_image_evaluation_of_mixed_sizes_needs_batch_size_one(tmp_path):
    root = tmp_path / "val"
    folder(root, ["a.png"], size=(48, 40))
    folder(root, ["b.png"], size=(64, 40))
    with pytest.raises(ValueError, match=r"--data\.val_batch_size is 2.*needs --data\.val_batch_size 1"):
        SRDataModule(val_dir=str(root), val_batch_size=2).setup("validate")
    dm = SRDataModule(val_dir=str(root), val_batch_size=1, num_workers=0)
    dm.setup("validate")
    grid = first_items(dm.val_dataloader(), 2)  # the sample grid crops mixed sizes to a common, aligned size
    assert grid["A"].shape == (2, 3, 12, 10) and grid["B"].shape == (2, 3, 48, 40)
