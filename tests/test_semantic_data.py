"""Label-map inputs: the batch kinds, the on-device one-hot + instance edges, and SemanticDataModule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lit_translate.data import PairedDataModule, SemanticDataModule, SyntheticPairs, semantic_input
from lit_translate.data.scan import DataScanError
from lit_translate.data.semantic.dataset import SemanticTransform, SyntheticLabelMaps, map_ids, read_ids
from lit_translate.data.semantic.inputs import instance_edges, one_hot
from lit_translate.errors import InputError

# ------------------------------------------------------------------------------------- one-hot and edges


def test_one_hot_hand_made_map():
    label = torch.tensor([[[[0, 1], [2, 1]]]])
    out = one_hot(label, 3)
    assert out.shape == (1, 3, 2, 2) and out.dtype == torch.float32
    assert out[0, 0].tolist() == [[1, 0], [0, 0]]
    assert out[0, 1].tolist() == [[0, 1], [0, 1]]
    assert out[0, 2].tolist() == [[0, 0], [1, 0]]
    with pytest.raises(InputError, match=r"ids span 0\.\.3, outside 0\.\.2; set label_nc"):
        one_hot(torch.tensor([[[[0, 3]]]]), 3)
    with pytest.raises(InputError, match=r"integer tensor \(N, 1, H, W\)"):
        one_hot(torch.zeros(1, 1, 2, 2), 3)


def test_instance_edges_mark_both_sides_right_and_below():
    inst = torch.tensor([[[[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3], [3, 3, 3, 3]]]])
    expected = [[0, 1, 1, 0], [1, 1, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0]]
    assert instance_edges(inst)[0, 0].tolist() == expected
    assert instance_edges(torch.full((2, 1, 3, 3), 7)).sum() == 0


def test_semantic_input_channels_dontcare_and_edges():
    label = torch.tensor([[[[0, 2], [2, 1]]]])
    inst = torch.tensor([[[[5, 5], [6, 6]]]])
    out = semantic_input(label, 2, True, inst)  # 2 classes + dontcare (id 2) + edges
    assert out.shape == (1, 4, 2, 2)
    assert out[0, 2].tolist() == [[0, 1], [1, 0]]
    assert out[0, 3].tolist() == [[1, 1], [1, 1]]
    assert semantic_input(label, 3, False).shape == (1, 3, 2, 2)


def test_map_ids_as_the_reference():
    values = np.array([0, 1, 5, 255])
    assert map_ids(values, 10, False).tolist() == [0, 1, 5, 10]
    assert map_ids(values, 10, True).tolist() == [10, 0, 4, 9]  # ADE20K: 0 -> dontcare, the rest down by one


def test_batch_kinds_default_unchanged():
    assert PairedDataModule().batch_kinds == {"A": "image", "B": "image"}
    assert SemanticDataModule().batch_kinds == {"A": "label_map", "B": "image", "A_instance": "instance_map"}
    assert SemanticDataModule(no_instance=True).semantic_nc == 5


# ------------------------------------------------------------------------------------------------ helpers
def palette_png(path: Path, ids: np.ndarray) -> Path:
    """Write class ids as a palette PNG whose colours are not the ids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(ids.astype(np.uint8), mode="P")
    img.putpalette([c for i in range(256) for c in ((i * 37) % 256, 255 - i, (i * 91) % 256)])
    img.save(path)
    return path


def class_photo(ids: np.ndarray) -> np.ndarray:
    """A photo whose colour encodes the class of each pixel."""
    return np.repeat((ids * 20 + 10).astype(np.uint8)[:, :, None], 3, axis=2)


def custom_set(root: Path, count: int = 4, size: tuple[int, int] = (16, 24), nc: int = 4) -> Path:
    """label/ + image/ + inst/ folders of random blocky label maps (ids 1..nc-1) and class-coloured photos."""
    rng = np.random.default_rng(0)
    h, w = size
    for i in range(count):
        ids = np.kron(rng.integers(1, nc, (h // 4, w // 4)), np.ones((4, 4), int))
        palette_png(root / "label" / f"s{i}.png", ids)
        (root / "image").mkdir(parents=True, exist_ok=True)
        Image.fromarray(class_photo(ids)).save(root / "image" / f"s{i}.png")
        palette_png(root / "inst" / f"s{i}.png", ids * 3)
    return root


def module(root: Path, **kwargs) -> SemanticDataModule:
    options = dict(label_dir="label", image_dir="image", label_nc=4, num_workers=0, batch_size=2, val_fraction=0.25)
    return SemanticDataModule(root=str(root), **(options | kwargs))


# ------------------------------------------------------------------------------------------------ datasets
def test_palette_png_read_by_index(tmp_path):
    ids = np.array([[0, 3], [12, 1]])
    path = palette_png(tmp_path / "l.png", ids)
    assert Image.open(path).mode == "P"
    assert read_ids(path).tolist() == ids.tolist()
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(rgb)
    with pytest.raises(InputError, match=r"rgb\.png is RGB, not class ids"):
        read_ids(rgb)


def test_synthetic_batches_and_photo_match_synthetic_pairs():
    dm = SemanticDataModule(batch_size=3, num_workers=0, synthetic_size=6)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (3, 1, 64, 64) and batch["A"].dtype == torch.int64
    assert batch["A_instance"].shape == (3, 1, 64, 64) and batch["A_instance"].dtype == torch.int64
    assert batch["B"].shape == (3, 3, 64, 64) and batch["B"].dtype == torch.float32
    assert batch["A"].min() >= 0 and batch["A"].max() < dm.label_nc
    ids, instances, photo = SyntheticLabelMaps(6).maps(2)
    assert np.array_equal(photo, SyntheticPairs(6)[2][1])  # the pix2pix demo's rendering of the same layout
    assert set(np.unique(ids)) <= set(range(5)) and instances.max() >= 2
    assert semantic_input(batch["A"], dm.label_nc, False, batch["A_instance"]).shape == (3, 6, 64, 64)


def test_shared_crop_and_flip_keep_label_photo_and_instance_aligned(tmp_path):
    ids = np.kron(np.arange(12).reshape(3, 4) % 5, np.ones((5, 6), int))  # 24x15, asymmetric
    tf = SemanticTransform("resize_and_crop", 24, 12, 1.0, flip=True, train=True)
    tf.resized = lambda w, h: (w, h)  # no resize: exact colours (the crop/flip alone)
    seen = set()
    for seed in range(40):
        tf.set_random_seed(seed)
        out = tf(class_photo(ids), ids.astype(np.int32), (ids * 3).astype(np.int32))
        label = out["label"][0]
        assert out["image"].shape == (3, 12, 12) and out["label"].shape == (1, 12, 12)
        assert torch.equal(((out["image"][0] + 1) * 127.5).round().long(), label * 20 + 10)
        assert torch.equal(out["instance"][0], label * 3)
        seen |= {flip for flip in (False, True) if window_of(label.numpy(), ids[:, ::-1] if flip else ids)}
    assert seen == {False, True}


def window_of(crop: np.ndarray, full: np.ndarray) -> bool:
    """Tell whether ``crop`` is a window of ``full``."""
    h, w = crop.shape
    return any(
        np.array_equal(full[y : y + h, x : x + w], crop)
        for y in range(full.shape[0] - h + 1)
        for x in range(full.shape[1] - w + 1)
    )


def test_nearest_resize_keeps_ids_and_eval_is_deterministic():
    ids = np.kron(np.array([[1, 7], [3, 0]]), np.ones((9, 9), int)).astype(np.int32)
    tf = SemanticTransform("fixed", 64, 16, 2.0, flip=True, train=False)
    out = tf(class_photo(ids), ids, None)
    assert out["label"].shape == (1, 8, 16) and set(out["label"].unique().tolist()) == {0, 1, 3, 7}
    assert out["image"].shape == (3, 8, 16)
    assert torch.equal(out["label"], tf(class_photo(ids), ids, None)["label"])


def test_custom_layout_batches_splits_and_instances(tmp_path):
    root = custom_set(tmp_path / "data")
    dm = module(root, instance_dir="inst", preprocess_mode="resize_and_crop", load_size=16, crop_size=12)
    dm.setup("fit")
    assert len(dm.dataset("train")) == 3 and len(dm.dataset("val")) == 1
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (2, 1, 12, 12) and batch["A_instance"].shape == (2, 1, 12, 12)
    assert torch.equal(batch["A_instance"], batch["A"] * 3)  # nearest resize + one shared crop/flip
    assert batch["A_path"][0].endswith(".png") and "label" in batch["A_path"][0]
    assert dm.semantic_nc == 5
    dm.setup("test")
    assert len(dm.dataset("test")) == 4


def test_custom_split_folders(tmp_path):
    for split in ("train", "val"):
        ids = np.ones((8, 8), int)
        palette_png(tmp_path / "labels" / split / "a.png", ids)
        (tmp_path / "photos" / split).mkdir(parents=True)
        Image.fromarray(class_photo(ids)).save(tmp_path / "photos" / split / "a.jpg")
    dm = module(tmp_path, label_dir="labels", image_dir="photos", load_size=8, crop_size=8)
    dm.setup("fit")
    assert "val" in dm.dataset("val").items[0][0].parts


def test_resume_repeats_the_uninterrupted_batches():
    def batches(state=None, count=3):
        dm = SemanticDataModule(batch_size=2, num_workers=0, synthetic_size=8, seed=3)
        dm.setup("fit")
        if state is not None:
            dm.load_state_dict({"train_sampler": state})
        return dm, [b for _, b in zip(range(count), dm.train_dataloader())]

    dm, full = batches()
    _, again = batches()
    assert all(torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"]) for x, y in zip(full, again))
    state = dm._train_sampler.state_dict(consumed=2)
    _, resumed = batches(state, 2)
    assert all(torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"]) for x, y in zip(full[1:], resumed))


# ---------------------------------------------------------------------------------------------- scan errors
def test_bad_label_value_named_before_step_zero(tmp_path):
    root = custom_set(tmp_path / "data")
    palette_png(root / "label" / "s2.png", np.full((16, 24), 9))
    with pytest.raises(DataScanError, match=r"label/s2\.png: label value\(s\) 9 outside the classes 0\.\.3; set"):
        module(root, val_fraction=0.25, split_seed=1).setup("test")
    module(root, label_nc=10).setup("test")
    assert issubclass(DataScanError, InputError)


def test_dontcare_255_and_missing_partner_and_size_mismatch(tmp_path):
    root = custom_set(tmp_path / "data")
    palette_png(root / "label" / "s1.png", np.full((16, 24), 255))
    with pytest.raises(DataScanError, match=r"s1\.png: label value\(s\) 255 .*contain_dontcare_label true"):
        module(root).setup("test")
    module(root, contain_dontcare_label=True).setup("test")  # 255 -> label_nc (dontcare)
    palette_png(root / "label" / "s3.png", np.ones((16, 20)))
    with pytest.raises(DataScanError, match=r"label/s3\.png: label map, photo .* differ in size \(20x16, 24x16\)"):
        module(root, contain_dontcare_label=True).setup("test")
    (root / "label" / "s3.png").unlink()
    with pytest.raises(InputError, match=r"1 photo\(s\) without a label map: .*image/s3\.png"):
        module(root).setup("test")


def test_rgb_label_map_and_custom_needs_label_nc(tmp_path):
    root = custom_set(tmp_path / "data")
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(root / "label" / "s0.png")
    with pytest.raises(DataScanError, match=r"label/s0\.png: label or instance map of Pillow mode RGB"):
        module(root).setup("test")
    with pytest.raises(InputError, match="needs --data.init_args.label_nc"):
        SemanticDataModule(root=str(root), label_dir="label", image_dir="image")


# ----------------------------------------------------------------------------------------- SPADE's layouts
def test_cityscapes_layout_16bit_instances_and_fixed_size(tmp_path):
    ids = np.kron(np.array([[7, 26], [24, 0]]), np.ones((8, 16), int))  # 32x16
    inst = np.kron(np.array([[7, 26001], [24000, 0]]), np.ones((8, 16), int)).astype(np.uint16)
    for split in ("train", "val"):
        for i, city in enumerate(("aachen", "bonn")):
            stem = f"{city}_00000{i}_000019"
            palette_png(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_labelIds.png", ids)
            Image.fromarray(inst).save(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_instanceIds.png")
            palette_png(tmp_path / "gtFine" / split / city / f"{stem}_gtFine_color.png", ids)  # ignored
            (tmp_path / "leftImg8bit" / split / city).mkdir(parents=True, exist_ok=True)
            Image.fromarray(class_photo(ids)).save(tmp_path / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png")
    dm = SemanticDataModule(root=str(tmp_path), layout="cityscapes", crop_size=16, num_workers=0, batch_size=2)
    assert (dm.label_nc, dm.contain_dontcare_label, dm.semantic_nc) == (35, False, 36)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["A"].shape == (2, 1, 8, 16) and batch["B"].shape == (2, 3, 8, 16)  # fixed: 16 x 16/2
    assert set(batch["A_instance"].unique().tolist()) == {0, 7, 24000, 26001}
    assert set(batch["A"].unique().tolist()) == {0, 7, 24, 26}


def test_ade20k_layout_zero_is_dontcare(tmp_path):
    base = tmp_path / "ADEChallengeData2016"
    ids = np.kron(np.array([[0, 1], [150, 3]]), np.ones((8, 8), int))
    for folder in ("training", "validation"):
        for i in range(2):
            palette_png(base / "annotations" / folder / f"ADE_{folder}_{i}.png", ids)
            (base / "images" / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(class_photo(ids % 12)).save(base / "images" / folder / f"ADE_{folder}_{i}.jpg")
    dm = SemanticDataModule(root=str(tmp_path), layout="ade20k", load_size=16, crop_size=16, num_workers=0)
    assert dm.semantic_nc == 151
    dm.setup("fit")
    label = dm.dataset("val")[0]["A"]
    assert set(label.unique().tolist()) == {150, 0, 149, 2}


def test_coco_layout_missing_instance_named(tmp_path):
    ids = np.full((8, 8), 181)
    for split in ("train", "val"):
        for i in range(2):
            palette_png(tmp_path / f"{split}_label" / f"{i:012d}.png", ids)
            palette_png(tmp_path / f"{split}_inst" / f"{i:012d}.png", ids)
            (tmp_path / f"{split}_img").mkdir(exist_ok=True)
            Image.fromarray(class_photo(ids % 10)).save(tmp_path / f"{split}_img" / f"{i:012d}.jpg")
    dm = SemanticDataModule(root=str(tmp_path), layout="coco", load_size=8, crop_size=8, num_workers=0)
    dm.setup("fit")
    assert dm.semantic_nc == 184 and dm.dataset("train")[0]["A_instance"].shape == (1, 8, 8)
    (tmp_path / "val_inst" / f"{1:012d}.png").unlink()
    with pytest.raises(InputError, match=r"1 label map\(s\) without an instance map: .*val_label/000000000001\.png"):
        SemanticDataModule(root=str(tmp_path), layout="coco", load_size=8, crop_size=8).setup("fit")


def test_custom_missing_split_folder(tmp_path):
    ids = np.ones((8, 8), int)
    palette_png(tmp_path / "labels" / "train" / "a.png", ids)
    (tmp_path / "photos" / "train").mkdir(parents=True)
    Image.fromarray(class_photo(ids)).save(tmp_path / "photos" / "train" / "a.png")
    dm = module(tmp_path, label_dir="labels", image_dir="photos", load_size=8, crop_size=8, test_split="test")
    with pytest.raises(InputError, match=r"no 'test' split: .*labels/test does not exist"):
        dm.setup("test")


def test_label_value_cache_rereads_only_changed_files(tmp_path, monkeypatch):
    from lit_translate.data.semantic import module as semantic_module

    labels = [palette_png(tmp_path / f"{i}.png", np.full((4, 4), i)) for i in range(3)]
    cache = tmp_path / "run" / "labels-.scan-cache.json"
    check = semantic_module.LabelValues(labels, 2, False, False, cache)
    assert [v.tolist() for v in check.read_all()] == [[0], [1], [2]] and cache.is_file()
    assert check(2, ()) is not None and check(1, ()) is None
    reads = []
    monkeypatch.setattr(semantic_module, "read_ids", lambda path: reads.append(path) or read_ids(path))
    palette_png(labels[1], np.full((5, 4), 7))
    again = semantic_module.LabelValues(labels, 2, False, False, cache).read_all()
    assert [v.tolist() for v in again] == [[0], [7], [2]] and reads == [labels[1]]


def test_preprocess_mode_sizes_and_crop_check():
    sizes = {
        "resize_and_crop": (40, 40),
        "scale_width_and_crop": (40, 20),
        "fixed": (32, 16),
        "none": (96, 64),  # rounded to multiples of 32, as the reference
    }
    for mode, size in sizes.items():
        assert SemanticTransform(mode, 40, 32, 2.0, True, train=True).resized(100, 50) == size
    wide = SemanticTransform("scale_width_and_crop", 40, 32, 1.0, True, train=True)
    assert "100x50 is 40x20 after --data.init_args.preprocess_mode" in (wide.size_problem(100, 50) or "")
    assert wide.size_problem(100, 100) is None
    with pytest.raises(InputError, match=r"crop_size \(32\) is larger than load_size \(16\)"):
        SemanticTransform("resize_and_crop", 16, 32, 1.0, True, train=True)


def test_predict_reads_label_maps_with_evaluation_preprocessing(tmp_path):
    ids = np.kron(np.array([[1, 2], [3, 1]]), np.ones((6, 10), int))
    palette_png(tmp_path / "in" / "sub" / "a.png", ids)
    palette_png(tmp_path / "in" / "b.png", np.full((12, 20), 9))
    dm = SemanticDataModule(label_nc=4, predict_dir=str(tmp_path / "in"), load_size=16, crop_size=16, num_workers=0)
    with pytest.raises(DataScanError, match=r"b\.png: label value\(s\) 9 outside the classes 0\.\.3"):
        dm.setup("predict")
    (tmp_path / "in" / "b.png").unlink()
    dm = SemanticDataModule(label_nc=4, predict_dir=str(tmp_path / "in"), load_size=16, crop_size=16, num_workers=0)
    dm.setup("predict")
    batch = next(iter(dm.predict_dataloader()))
    assert batch["A"].shape == (1, 1, 16, 16) and batch["A"].dtype == torch.int64
    assert set(batch["A"].unique().tolist()) == {1, 2, 3} and batch["A_path"][0].endswith("a.png")


def test_input_channel_probe_skips_label_map_inputs():
    from lit_translate.run.config_checks import ConfigError, check_input_channels

    class Model:  # a generator that takes 6 channels: the probe with an image of 3 channels fails
        targets = ("AtoB",)
        net = torch.nn.Conv2d(6, 3, 1)

        def generator_for(self, target):
            return self.net

        def resolve_target(self, target):
            return target

        def generate(self, net, x, target):
            return net(x)

    with pytest.raises(ConfigError, match="input_channels=3 does not match"):
        check_input_channels(Model(), PairedDataModule())
    check_input_channels(Model(), SemanticDataModule())  # A is a label map: the method makes its input


def test_augmentation_is_the_same_in_loader_workers(tmp_path):
    root = custom_set(tmp_path / "data", count=6)

    def epoch(workers):
        dm = module(root, instance_dir="inst", load_size=20, crop_size=12, num_workers=workers, seed=5)
        dm.setup("fit")
        return list(dm.train_dataloader())

    for x, y in zip(epoch(0), epoch(2)):
        assert x["A_path"] == y["A_path"] and torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"])
        assert torch.equal(x["A_instance"], y["A_instance"])


def test_skip_unreadable_drops_an_item_with_a_bad_label_value(tmp_path, caplog):
    root = custom_set(tmp_path / "data")
    palette_png(root / "label" / "s2.png", np.full((16, 24), 9))
    dm = module(root, skip_unreadable=True)
    dm.setup("test")
    assert [p.name for p, _ in dm.dataset("test").skipped] == ["s2.png"] and len(dm.dataset("test")) == 3


def test_synthetic_needs_its_five_classes():
    with pytest.raises(InputError, match=r"label_nc must be >= 5 for the built-in synthetic label maps"):
        SemanticDataModule(label_nc=3).setup("fit")
    assert SemanticDataModule(label_nc=8, contain_dontcare_label=True, no_instance=True).semantic_nc == 9
