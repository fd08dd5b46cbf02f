"""Tests for the StarGAN building blocks: nets, multi-domain datasets, CelebA attributes, target labels."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader
from torchvision import transforms as T

from lit_translate.data.celeba import (
    CELEBA_DEFAULT_ATTRS,
    CELEBA_TEST_SIZE,
    CelebADataset,
    celeba_split_indices,
    parse_celeba_attributes,
)
from lit_translate.data.multidomain import (
    AlternatingDatasetSampler,
    DomainFolderDataset,
    MaskedLabelDataset,
    StarGANTransform,
    find_domains,
)
from lit_translate.data.sampling import SharedEpoch
from lit_translate.labels import (
    attribute_test_labels,
    domain_test_labels,
    joint_label,
    joint_slice,
    other_domain_targets,
    permuted_targets,
)
from lit_translate.nets import StarGANDiscriminator, StarGANGenerator
from lit_translate.nets.stargan import STARGAN_D_PARAMS, STARGAN_G_PARAMS

AFHQ_REF = Path("/work/shared/data/stargan_v2_samples/afhq/ref")
ATTR_NAMES = [f"Attr{i:02d}" for i in range(35)] + list(CELEBA_DEFAULT_ATTRS)  # 40 names, defaults last


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_image(path: Path, size: tuple[int, int] = (20, 16), seed: int = 0) -> None:
    """Write a random RGB PNG of ``size`` = (width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def write_attr_file(path: Path, rows: list[tuple[str, list[int]]], count: int | None = None) -> None:
    """Write a CelebA-style attribute file: count, header, rows with the file's double-space formatting."""
    lines = [str(len(rows) if count is None else count), " ".join(ATTR_NAMES) + " "]
    for name, values in rows:
        lines.append(name + "".join(f"  {v}" if v == 1 else f" {v}" for v in values))
    path.write_text("\n".join(lines) + "\n")


def random_rows(n: int, seed: int = 0) -> list[tuple[str, list[int]]]:
    rng = np.random.default_rng(seed)
    return [(f"{i + 1:06d}.jpg", rng.choice([-1, 1], size=40).tolist()) for i in range(n)]


# ---------------------------------------------------------------- networks


def test_reference_parameter_counts() -> None:
    assert count_params(StarGANGenerator(c_dim=5)) == STARGAN_G_PARAMS == 8_430_528
    assert count_params(StarGANDiscriminator(image_size=128, c_dim=5)) == STARGAN_D_PARAMS == 44_762_048


def test_reference_state_dict_layout() -> None:
    g_keys = StarGANGenerator(c_dim=3, conv_dim=4, repeat_num=1).state_dict()
    assert {"main.0.weight", "main.1.running_mean", "main.9.main.0.weight", "main.9.main.4.bias"} <= set(g_keys)
    d_state = StarGANDiscriminator(image_size=128, c_dim=5, conv_dim=2).state_dict()
    assert d_state["conv2.weight"].shape == (5, 64, 2, 2) and d_state["conv1.weight"].shape == (1, 64, 3, 3)
    assert "conv1.bias" not in d_state and "main.0.bias" in d_state


def test_generator_tiles_label_into_first_conv() -> None:
    gen = StarGANGenerator(c_dim=3, conv_dim=4, repeat_num=1)
    assert (gen.size_divisor, gen.scale) == (4, 1)
    convs = [m for m in gen.modules() if isinstance(m, nn.Conv2d)]
    assert all(m.padding_mode == "zeros" for m in convs)  # never reflection padding (see the regression test)
    assert not any(isinstance(m, (nn.ReflectionPad2d, nn.ReplicationPad2d)) for m in gen.modules())
    seen = []
    gen.main[0].register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x, c = torch.rand(2, 3, 12, 8) * 2 - 1, torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    out = gen(x, c)
    assert out.shape == (2, 3, 12, 8) and out.abs().max() <= 1
    assert seen[0].shape == (2, 6, 12, 8)
    assert torch.equal(seen[0][:, :3], x)
    assert torch.equal(seen[0][:, 3:], c[:, :, None, None].expand(2, 3, 12, 8))
    assert not torch.allclose(gen(x, c), gen(x, 1 - c))  # the label changes the output


def test_generator_rejects_bad_inputs() -> None:
    gen = StarGANGenerator(c_dim=3, conv_dim=4, repeat_num=1)
    with pytest.raises(ValueError, match=r"labels \(N, c_dim\) = \(1, 3\)"):
        gen(torch.zeros(1, 3, 8, 8), torch.zeros(1, 5))
    with pytest.raises(ValueError, match="divisible by 4"):
        gen(torch.zeros(1, 3, 10, 8), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="c_dim must be >= 1"):
        StarGANGenerator(c_dim=0)


def test_eval_switches_instance_norm_to_running_stats() -> None:
    gen = StarGANGenerator(c_dim=2, conv_dim=4, repeat_num=1)
    x, c = torch.rand(2, 3, 8, 8), torch.eye(2)
    with torch.no_grad():
        train_out = gen(x, c)  # train mode: per-image statistics (and running averages are updated)
        assert torch.equal(gen(x, c), train_out)
        assert not torch.allclose(gen.eval()(x, c), train_out, atol=1e-3)


@pytest.mark.parametrize(("image_size", "repeat_num", "src_side", "kernel"), [(128, 6, 2, 2), (64, 6, 1, 1)])
def test_discriminator_heads(image_size: int, repeat_num: int, src_side: int, kernel: int) -> None:
    disc = StarGANDiscriminator(image_size=image_size, c_dim=4, conv_dim=2, repeat_num=repeat_num)
    assert disc.conv2.kernel_size == (kernel, kernel)
    src, cls = disc(torch.rand(3, 3, image_size, image_size) * 2 - 1)
    assert src.shape == (3, 1, src_side, src_side) and cls.shape == (3, 4)


def test_discriminator_size_errors() -> None:
    with pytest.raises(
        ValueError, match=r"image_size must be a multiple of 2\*\*repeat_num = 64.*use image_size=64 or 128"
    ):
        StarGANDiscriminator(image_size=100)
    disc = StarGANDiscriminator(image_size=64, c_dim=2, conv_dim=2)
    with pytest.raises(ValueError, match=r"built for \(N, 3, 64, 64\).*got \(1, 3, 128, 128\)"):
        disc(torch.zeros(1, 3, 128, 128))


def test_reflection_padding_with_instance_norm_erases_a_constant_label() -> None:
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 8, kernel_size=7, padding=0)
    norm = nn.InstanceNorm2d(8, affine=True)
    x = torch.rand(1, 3, 16, 16)

    def first_layer(label: float, reflect: bool) -> torch.Tensor:
        inp = torch.cat([x, torch.full((1, 1, 16, 16), label)], dim=1)
        padded = nn.functional.pad(inp, (3, 3, 3, 3), mode="reflect" if reflect else "constant")
        return norm(conv(padded))

    assert torch.allclose(first_layer(0.0, reflect=True), first_layer(1.0, reflect=True), atol=1e-5)
    assert (first_layer(0.0, reflect=False) - first_layer(1.0, reflect=False)).abs().max() > 1e-2


# ---------------------------------------------------------------- target labels


def test_permuted_targets_is_a_within_batch_permutation() -> None:
    labels = torch.arange(12.0).view(6, 2)
    targets = permuted_targets(labels, torch.Generator().manual_seed(3))
    assert sorted(targets[:, 0].tolist()) == labels[:, 0].tolist()
    assert torch.equal(targets, permuted_targets(labels, torch.Generator().manual_seed(3)))
    assert torch.equal(permuted_targets(labels[:1], torch.Generator().manual_seed(3)), labels[:1])  # batch 1


def test_other_domain_targets_always_differ_and_cover_the_others() -> None:
    source = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 2] * 100), 3).float()
    targets = other_domain_targets(source, torch.Generator().manual_seed(0))
    assert targets.shape == source.shape and torch.equal(targets.sum(1), torch.ones(400))
    assert not (targets.argmax(1) == source.argmax(1)).any()
    assert set(targets[source[:, 0] == 1].argmax(1).tolist()) == {1, 2}
    with pytest.raises(ValueError, match="one-hot"):
        other_domain_targets(torch.tensor([[1.0, 1.0, 0.0]]), torch.Generator())
    with pytest.raises(ValueError, match="at least 2 domains"):
        other_domain_targets(torch.ones(2, 1), torch.Generator())


def test_attribute_test_labels_hair_exclusive_others_flipped() -> None:
    source = torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0]])
    targets = attribute_test_labels(source, CELEBA_DEFAULT_ATTRS)
    expected = [[1, 0, 0, 1, 0], [0, 1, 0, 1, 0], [0, 0, 1, 1, 0], [1, 0, 0, 0, 0], [1, 0, 0, 1, 1]]
    assert [t[0].tolist() for t in targets] == expected
    with pytest.raises(ValueError, match=r"labels \(B, 5\)"):
        attribute_test_labels(torch.zeros(1, 3), CELEBA_DEFAULT_ATTRS)


def test_domain_test_labels() -> None:
    targets = domain_test_labels(torch.zeros(2, 3))
    assert len(targets) == 3 and torch.equal(targets[1], torch.tensor([[0.0, 1.0, 0.0]] * 2))


def test_joint_label_layout_with_mask_vector() -> None:
    celeba, rafd = torch.tensor([1.0, 0.0, 1.0, 1.0, 0.0]), torch.eye(8)[3]
    assert joint_label(celeba, 0, (5, 8)).tolist() == [1, 0, 1, 1, 0] + [0] * 8 + [1, 0]
    assert joint_label(rafd, 1, (5, 8)).tolist() == [0] * 5 + [0, 0, 0, 1, 0, 0, 0, 0] + [0, 1]
    assert joint_label(torch.eye(8)[:4], 1, (5, 8)).shape == (4, 15)
    assert joint_slice(1, (5, 8)) == slice(5, 13)
    with pytest.raises(ValueError, match="length 8"):
        joint_label(celeba, 1, (5, 8))


# ---------------------------------------------------------------- CelebA attributes


def test_parse_celeba_attributes(tmp_path: Path) -> None:
    rows = [("000001.jpg", [-1] * 35 + [1, -1, -1, 1, 1]), ("000002.jpg", [1] * 35 + [-1, 1, -1, -1, 1])]
    rows.append(("000003.jpg", [-1] * 35 + [-1, -1, 1, 1, -1]))
    write_attr_file(tmp_path / "attr.txt", rows)
    attrs = parse_celeba_attributes(tmp_path / "attr.txt", ["Young", "Black_Hair", "Attr00"])
    assert attrs.filenames == ["000001.jpg", "000002.jpg", "000003.jpg"] and len(attrs.attr_names) == 40
    assert attrs.labels.dtype == torch.float32
    assert attrs.labels.tolist() == [[1, 1, 0], [1, 0, 1], [0, 0, 0]]


def test_parse_celeba_attributes_errors(tmp_path: Path) -> None:
    path = tmp_path / "attr.txt"
    write_attr_file(path, random_rows(3))
    with pytest.raises(ValueError, match=r"'Blond_hair'.*did you mean 'Blond_Hair'.*'Attr00'"):
        parse_celeba_attributes(path, ["Blond_hair"])
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:3] + [lines[3].rsplit(" ", 1)[0]] + lines[4:]) + "\n")
    with pytest.raises(ValueError, match="line 4: expected a file name and 40 values.*got 39"):
        parse_celeba_attributes(path)
    write_attr_file(path, random_rows(3), count=5)
    with pytest.raises(ValueError, match="line 1 says 5 images but the file has 3 rows"):
        parse_celeba_attributes(path)


def test_reference_split_1999_test_same_permutation_as_global_shuffle() -> None:
    lines = [f"{i:06d}.jpg ..." for i in range(2100)]
    state = random.getstate()
    test, train = celeba_split_indices(2100, "test"), celeba_split_indices(2100, "train")
    assert random.getstate() == state  # the global RNG is untouched
    random.seed(1234)
    reference = list(lines)
    random.shuffle(reference)  # the reference: random.seed(1234); random.shuffle(lines); (i + 1) < 2000 -> test
    random.setstate(state)
    assert [lines[i] for i in test] == [line for i, line in enumerate(reference) if (i + 1) < 2000]
    assert [lines[i] for i in train] == [line for i, line in enumerate(reference) if (i + 1) >= 2000]
    assert len(test) == CELEBA_TEST_SIZE == 1999 and len(train) == 101


@pytest.fixture
def celeba_dir(tmp_path: Path) -> tuple[Path, Path]:
    """2005 attribute rows (1999 test, 6 train); every image is a hard link to one 178x218 PNG."""
    image_dir = tmp_path / "img_align_celeba"
    write_image(tmp_path / "face.png", size=(178, 218))
    image_dir.mkdir()
    rows = random_rows(2005)
    for name, _ in rows:
        os.link(tmp_path / "face.png", image_dir / name)
    write_attr_file(tmp_path / "list_attr_celeba.txt", rows)
    return image_dir, tmp_path / "list_attr_celeba.txt"


def test_celeba_dataset(celeba_dir: tuple[Path, Path]) -> None:
    image_dir, attr_path = celeba_dir
    train, test = CelebADataset(image_dir, attr_path), CelebADataset(image_dir, attr_path, split="test")
    assert (len(train), len(test)) == (6, 1999) and not set(train.filenames) & set(test.filenames)
    assert train.transform.flip and not test.transform.flip and train.transform.crop_size == 178
    attrs = parse_celeba_attributes(attr_path)
    row = attrs.filenames.index(train.filenames[0])
    item = train[0]
    assert item["A"].shape == (3, 128, 128) and item["A"].dtype == torch.float32 and item["A"].abs().max() <= 1
    assert torch.equal(item["A_label"], attrs.labels[row]) and item["A_path"].endswith(train.filenames[0])
    assert train.attribute_counts == train.labels.sum(0).long().tolist()


def test_celeba_missing_images_error(celeba_dir: tuple[Path, Path]) -> None:
    image_dir, attr_path = celeba_dir
    train_names = CelebADataset(image_dir, attr_path).filenames
    for name in train_names:
        (image_dir / name).unlink()
    with pytest.raises(ValueError, match=rf"6 of the 6 images of the 'train' split.*{train_names[0]}.*, \.\.\."):
        CelebADataset(image_dir, attr_path)


# ---------------------------------------------------------------- transforms


@pytest.mark.parametrize(("size", "crop", "interpolation"), [((35, 40), 21, "bilinear"), ((40, 33), 24, "bicubic")])
def test_transform_matches_the_torchvision_reference(size: tuple[int, int], crop: int, interpolation: str) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    mode = {"bilinear": T.InterpolationMode.BILINEAR, "bicubic": T.InterpolationMode.BICUBIC}[interpolation]
    steps = [T.CenterCrop(crop), T.Resize(16, interpolation=mode), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)]
    reference = T.Compose(steps)
    ours = StarGANTransform(image_size=16, crop_size=crop, flip=True, interpolation=interpolation)
    flipped = [random.Random(seed).random() < 0.5 for seed in range(8)]
    seed_plain, seed_flip = flipped.index(False), flipped.index(True)
    image = Image.fromarray(pixels)
    assert torch.allclose(ours(pixels, seed_plain), reference(image), atol=1e-6)
    assert torch.allclose(
        ours(pixels, seed_flip), reference(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)), atol=1e-6
    )
    with pytest.raises(ValueError, match="smaller than the centre crop crop_size=64"):
        StarGANTransform(16, 64)(pixels, 0, "x.png")


# ---------------------------------------------------------------- domain folders


@pytest.fixture
def domain_root(tmp_path: Path) -> Path:
    """root/train/{dog (3), cat (2)} + stray files and a hidden folder; root/test/{cat, dog} (1 each)."""
    for domain, count in (("dog", 3), ("cat", 2)):
        for i in range(count):
            write_image(tmp_path / "train" / domain / f"{i}.png", seed=i)
        write_image(tmp_path / "test" / domain / "0.png")
    (tmp_path / "train" / "PROVENANCE.md").write_text("stray file")
    (tmp_path / "train" / ".DS_Store").write_text("")
    (tmp_path / "train" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "train" / "cat" / "notes.txt").write_text("not an image")
    return tmp_path


def test_domain_folders_ignore_stray_files(domain_root: Path) -> None:
    data = DomainFolderDataset(domain_root, "train", transform=StarGANTransform(image_size=8))
    assert data.domains == ["cat", "dog"] == find_domains(domain_root / "train")
    assert data.targets == [0, 0, 1, 1, 1] and data.domain_counts == [2, 3] and data.c_dim == 2
    item = data[2]
    assert item["A"].shape == (3, 8, 8) and item["A"].dtype == torch.float32
    assert item["A_label"].tolist() == [0.0, 1.0] and item["A_path"].endswith("dog/0.png")
    test = DomainFolderDataset(domain_root, "test", domains=data.domains)
    assert test.domains == data.domains and test.targets == [0, 1]
    assert DomainFolderDataset(domain_root, "test", domains=["dog"]).targets == [0]


def test_domain_folder_errors(domain_root: Path) -> None:
    (domain_root / "train" / "fox").mkdir()
    with pytest.raises(ValueError, match=r"train/fox contains no images"):
        DomainFolderDataset(domain_root, "train")
    with pytest.raises(FileNotFoundError, match="owl"):
        DomainFolderDataset(domain_root, "test", domains=["cat", "owl"])
    with pytest.raises(ValueError, match="no domain sub-folders"):
        DomainFolderDataset(domain_root / "test", "cat")


def test_augmentation_is_seeded_per_item_and_epoch(domain_root: Path) -> None:
    paths = [domain_root / "train" / "dog" / "0.png"] * 16
    epoch = SharedEpoch()
    data = DomainFolderDataset(domain_root, "train", transform=StarGANTransform(image_size=8, flip=True))
    data.paths, data.targets, data.labels, data.epoch_counter = paths, [1] * 16, data.labels[[2] * 16], epoch
    first = [data[i]["A"] for i in range(16)]
    assert all(torch.equal(first[i], data[i]["A"]) for i in range(16))
    assert len({tuple(t.flatten()[:4].tolist()) for t in first}) == 2  # flipped and not, across items
    epoch.value = 1
    assert any(not torch.equal(first[i], data[i]["A"]) for i in range(16))


@pytest.mark.skipif(not AFHQ_REF.is_dir(), reason="shared AFHQ samples not present")
def test_real_afhq_samples() -> None:
    ref = DomainFolderDataset(AFHQ_REF.parent, "ref")
    src = DomainFolderDataset(AFHQ_REF.parent, "src")
    assert ref.domains == src.domains == ["cat", "dog", "wild"]
    assert ref.domain_counts == [len(list((AFHQ_REF / d).iterdir())) for d in ref.domains]
    item = ref[len(ref) - 1]
    assert item["A"].shape == (3, 128, 128) and -1 <= item["A"].min() < item["A"].max() <= 1
    assert item["A_label"].tolist() == [0.0, 0.0, 1.0] and "/wild/" in item["A_path"]


# ---------------------------------------------------------------- two datasets with the mask vector


def test_masked_label_dataset(domain_root: Path) -> None:
    data = DomainFolderDataset(domain_root, "train", transform=StarGANTransform(image_size=8))
    item = MaskedLabelDataset(data, 1, (5, 2))[3]
    assert item["A_label"].tolist() == [0.0] * 5 + [0.0, 1.0] + [0.0, 1.0] and item["A_mask"].tolist() == [0, 1]
    with pytest.raises(ValueError, match="c_dim 2 but dims says 8"):
        MaskedLabelDataset(data, 1, (5, 8))


def test_alternating_sampler_whole_batches_alternate_across_ranks() -> None:
    sizes, batch = (10, 3), 4
    samplers = [AlternatingDatasetSampler(sizes, batch, num_replicas=2, rank=r, seed=5) for r in range(2)]
    shards = [s.shard() for s in samplers]
    assert [len(s) for s in samplers] == [16, 16] and all(len(s) == 16 for s in shards)  # 2 steps x 2 datasets
    for step in range(4):
        for shard in shards:
            chunk = shard[step * batch : (step + 1) * batch]
            assert all((i >= 10) == (step % 2 == 1) for i in chunk)  # dataset 0, then 1, then 0, ...
    first_dataset = [i for shard in shards for i in shard if i < 10]
    assert len(set(first_dataset)) == 10 and len(first_dataset) == 16  # one pass over the largest, then more
    assert shards[0] == AlternatingDatasetSampler(sizes, batch, 2, 0, seed=5).shard()
    samplers[0].set_epoch(1)
    assert samplers[0].shard() != shards[0]


def test_alternating_sampler_with_a_loader_and_resume(domain_root: Path) -> None:
    small = DomainFolderDataset(domain_root, "test", transform=StarGANTransform(image_size=8))
    large = DomainFolderDataset(domain_root, "train", transform=StarGANTransform(image_size=8))
    joint = ConcatDataset([MaskedLabelDataset(large, 0, (2, 2)), MaskedLabelDataset(small, 1, (2, 2))])
    sampler = AlternatingDatasetSampler([len(large), len(small)], batch_size=2, seed=1)
    batches = list(DataLoader(joint, batch_size=2, sampler=sampler))
    assert [b["A_mask"][:, 1].tolist() for b in batches] == [[0, 0], [1, 1]] * 3
    assert all(b["A_label"].shape == (2, 6) for b in batches)
    resumed = AlternatingDatasetSampler([len(large), len(small)], batch_size=2, seed=1)
    resumed.load_state_dict({"epoch": 0, "start": 4})
    assert list(resumed) == sampler.shard()[4:]
