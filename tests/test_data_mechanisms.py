"""One implementation per data mechanism (issue 20): normalisation, procedural sets, listing, split, predict.

The synthetic-set digests below were recorded from the code before the procedural datasets shared a base
class (and before the one normalisation): the refactoring must not change a single generated pixel.
"""

from __future__ import annotations

import hashlib

import albumentations as A
import numpy as np
import pytest
import torch
from albumentations.pytorch import ToTensorV2

from lit_translate.data import images, sr
from lit_translate.data.domains.datasets import StarGANTransform
from lit_translate.data.domains.modules import SyntheticDomains
from lit_translate.data.images import SyntheticContentDataset
from lit_translate.data.paired import SyntheticPairedDataset
from lit_translate.data.sr.synthetic import SyntheticHR
from lit_translate.data.synthetic import SyntheticPairs, SyntheticUnpaired
from lit_translate.data.transforms import build_transform, to_tensor, to_uint8
from lit_translate.data.unpaired import SyntheticUnpairedDataset


# ---------------------------------------------------------------------------------------------- normalisation
def old_albumentations(image: np.ndarray) -> torch.Tensor:
    """The pipeline end of pix2pix/CycleGAN/StarGAN/predict before: Normalize(0.5, 0.5) + ToTensorV2."""
    steps = [A.Normalize(mean=0.5, std=0.5, max_pixel_value=255.0), ToTensorV2()]
    return A.Compose(steps)(image=image)["image"]


def old_images(image: np.ndarray) -> torch.Tensor:
    """``data/images.py:to_tensor`` before (style transfer)."""
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float() / 127.5 - 1.0


def old_sr(image: np.ndarray) -> torch.Tensor:
    """``data/sr/dataset.py:to_tensor`` before (super-resolution)."""
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))).float().div(127.5).sub(1.0)


@pytest.mark.parametrize("channels", [1, 3])
def test_one_normalisation_is_bit_exact_with_the_albumentations_paths(channels):
    image = np.random.default_rng(channels).integers(0, 256, (17, 23, channels), dtype=np.uint8)
    ours = to_tensor(image)
    assert ours.dtype == torch.float32 and ours.shape == (channels, 17, 23)
    assert torch.equal(ours, old_albumentations(image))
    pipeline = build_transform(0, 0, False, False, False, train=False, paired=False)
    assert torch.equal(pipeline(image=image)["image"], ours)
    if channels == 3:  # StarGAN's pipeline at the image's own size only normalises
        square = np.ascontiguousarray(image[:, :17])
        assert torch.equal(StarGANTransform(17, None)(square, 0), old_albumentations(square))
    assert torch.equal(to_tensor(image[:, ::-1]), old_albumentations(np.ascontiguousarray(image[:, ::-1])))
    assert images.to_tensor is to_tensor and sr.to_tensor is to_tensor  # the old names are the one function


@pytest.mark.parametrize("channels", [1, 3])
def test_the_former_division_paths_differ_by_at_most_one_ulp_and_round_trip_the_same(channels):
    image = np.random.default_rng(10 + channels).integers(0, 256, (19, 21, channels), dtype=np.uint8)
    ours = to_tensor(image)
    for old in (old_images(image), old_sr(image)):
        assert (ours - old).abs().max().item() <= 2**-24 * 2  # one float32 ulp below 1
        assert torch.equal(to_uint8(old), to_uint8(ours))
    assert torch.equal(to_uint8(ours).permute(1, 2, 0), torch.from_numpy(image))
    every = np.arange(256, dtype=np.uint8).reshape(16, 16, 1)
    assert torch.equal(to_tensor(every), old_albumentations(every))


# ------------------------------------------------------------------------------------------- procedural sets
def digest(*arrays) -> str:
    sha = hashlib.sha256()
    for array in arrays:
        array = array.numpy() if isinstance(array, torch.Tensor) else array
        sha.update(str(array.dtype).encode() + str(array.shape).encode())
        sha.update(np.ascontiguousarray(array).tobytes())
    return sha.hexdigest()[:16]


def test_procedural_sets_generate_the_recorded_images():
    pairs = SyntheticPairs(6, split="val", seed=1, canvas=32)
    assert digest(*[x for i in (0, 3, 5) for x in pairs[i]]) == "269a4c5c6a4485c1"
    assert pairs.path(3) == "synthetic:val:3"
    unpaired = SyntheticUnpaired(4, 5, split="test", seed=2, canvas=24)
    arrays = unpaired.image("A", 1), unpaired.image("B", 4), unpaired.counterpart("A", 3), unpaired.counterpart("B", 0)
    assert digest(*arrays) == "7f55bc1f01b38628"
    assert (len(unpaired), unpaired.path("B", 2)) == (5, "synthetic:testB:2")
    hr = SyntheticHR(5, split="train", seed=3, canvas=40)
    assert digest(hr[0], hr[4]) == "e2a0d85ae6f03cd6" and hr.path(4) == "synthetic:train:4"
    domains = SyntheticDomains(7, split="val", canvas=20, transform=StarGANTransform(16, None, True), seed=4)
    assert digest(domains[0]["A"], domains[5]["A"], domains.render(2, 1), domains.labels) == "b002844a1f2b8357"
    assert domains[5]["A_path"] == "synthetic:val:5"
    content, gray = SyntheticContentDataset(4, "train", 24), SyntheticContentDataset(3, "val", 20, channels=1)
    assert digest(to_uint8(content[0]["A"]), to_uint8(content[3]["A"]), to_uint8(gray[2]["A"])) == "4014b6067b40b167"
    assert content[3]["A_path"] == "synthetic:train:3"
    paired = SyntheticPairedDataset(SyntheticPairs(4, canvas=16), seed=5)
    assert digest(paired[1]["A"], paired[2]["B"]) == "ddb3f26699c067d1"
    domains_ab = SyntheticUnpairedDataset(SyntheticUnpaired(3, 4, canvas=16), seed=6)
    assert digest(domains_ab[1]["A"], domains_ab[2]["B"]) == "45d6db33c3754dcf"
    assert domains_ab[2]["B_path"] == "synthetic:trainB:2"
    patches = sr.SRDataset(SyntheticHR(3, canvas=32), scale=4, gt_size=16, seed=7)
    assert digest(to_uint8(patches[1]["A"]), to_uint8(patches[2]["B"])) == "5e94a612dc7335fb"


@pytest.mark.parametrize(
    "make",
    [
        lambda: SyntheticPairs(0),
        lambda: SyntheticPairs(2, canvas=15),
        lambda: SyntheticPairs(2, seed=-1),
        lambda: SyntheticUnpaired(2, 0),
        lambda: SyntheticHR(2, canvas=8),
        lambda: SyntheticDomains(0),
        lambda: SyntheticContentDataset(2, "train", 8),
    ],
)
def test_procedural_sets_reject_bad_sizes(make):
    with pytest.raises(ValueError, match=r"needs .*>= 1"):
        make()


def test_procedural_sets_reject_out_of_range_indices():
    for source, get in (
        (SyntheticPairs(2), lambda s: s[2]),
        (SyntheticHR(2), lambda s: s[-1]),
        (SyntheticUnpaired(2, 3), lambda s: s.image("A", 2)),
        (SyntheticDomains(2), lambda s: s.render(5, 0)),
    ):
        with pytest.raises(IndexError, match="out of range"):
            get(source)
