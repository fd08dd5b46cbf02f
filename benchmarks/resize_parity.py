"""How close lit_translate's resized training arrays are to the reference pipeline's, on real images.

The reference (junyanz/pytorch-CycleGAN-and-pix2pix ``data/aligned_dataset.py`` + ``base_dataset.get_transform``)
opens an A|B image with PIL, cuts it at ``int(w / 2)`` and resizes each half with ``transforms.Resize([s, s],
BICUBIC)``, which on PIL images is ``Image.resize((s, s), BICUBIC)``. This script runs the same files through
``PairedImageDataset`` (resize on, no crop, no flip, so the output is the resized array) and through the
alternatives lit_translate could have used, and prints one markdown row per (folder, size, implementation) with
the max and mean absolute difference in uint8 levels over every pixel of every half.

    python benchmarks/resize_parity.py --folder /work/shared/data/sr/Sun_Hays80 --size 286 --size 256

Any folder of images works: each image is treated as an A|B pair (split at width/2), so photos that are not 2:1
(Sun_Hays80: 1024x768, halves 512x768) exercise downscaling, the case where OpenCV's cubic differs most because
it does not antialias. ``--gray`` also compares the 1-channel input path (``input_channels 1``).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from lit_translate.data import PairedImageDataset, build_transform, find_images, to_uint8


def reference_halves(path: Path, size: int, gray: bool) -> list[np.ndarray]:
    """The reference: PIL open + convert, crop at int(w / 2), (Grayscale), Resize([s, s], BICUBIC)."""
    ab = Image.open(path).convert("RGB")
    w, h = ab.size
    halves = [ab.crop((0, 0, int(w / 2), h)), ab.crop((int(w / 2), 0, w, h))]
    halves = [x.convert("L") if gray else x for x in halves]
    return [np.asarray(x.resize((size, size), Image.Resampling.BICUBIC)) for x in halves]


def ours(root: Path, size: int, gray: bool) -> list[list[np.ndarray]]:
    """lit_translate's dataset: load_image, split_aligned, the Pillow resize of the pipeline, [-1, 1] and back."""
    tf = build_transform(size, size, resize=True, crop=False, flip=False, train=True, paired=True)
    channels = 1 if gray else 3
    dataset = PairedImageDataset(
        root, "train", "aligned", transform=tf, input_channels=channels, target_channels=channels
    )
    out = []
    for index in range(len(dataset)):
        item = dataset[index]
        out.append([to_uint8(item[k]).permute(1, 2, 0).squeeze(-1).numpy() for k in ("A", "B")])
    return out


def opencv(path: Path, size: int, gray: bool, flag: int) -> list[np.ndarray]:
    """An OpenCV resize of the same halves (``A.Resize`` default: INTER_LINEAR)."""
    ab = np.asarray(Image.open(path).convert("L" if gray else "RGB"))
    w2 = ab.shape[1] // 2
    return [cv2.resize(half, (size, size), interpolation=flag) for half in (ab[:, :w2], ab[:, w2:])]


def compare(reference: list[list[np.ndarray]], other: list[list[np.ndarray]]) -> tuple[int, float]:
    """Max and mean absolute difference over every pixel of every half."""
    diffs = [
        np.abs(r.astype(np.int16) - o.astype(np.int16))
        for refs, outs in zip(reference, other)
        for r, o in zip(refs, outs)
    ]
    return int(max(d.max() for d in diffs)), float(np.mean([d.mean() for d in diffs]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, action="append", required=True, help="images to treat as A|B pairs")
    parser.add_argument("--size", type=int, action="append", required=True, help="resize side (load_size)")
    parser.add_argument("--gray", action="store_true", help="also compare the 1-channel path")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| images | size | channels | implementation | max abs diff | mean abs diff |\n|---|---|---|---|---|---|")
    for folder in args.folder:
        files = find_images(folder)
        with tempfile.TemporaryDirectory() as tmp:  # the dataset wants root/train/: link the files there
            (Path(tmp) / "train").mkdir()
            for path in files:
                (Path(tmp) / "train" / path.name).symlink_to(path.resolve())
            for size in args.size:
                for gray in (False, True) if args.gray else (False,):
                    reference = [reference_halves(path, size, gray) for path in files]
                    rows = {
                        "lit_translate (Pillow bicubic)": ours(Path(tmp), size, gray),
                        "OpenCV bilinear (A.Resize default, before)": [
                            opencv(p, size, gray, cv2.INTER_LINEAR) for p in files
                        ],
                        "OpenCV bicubic": [opencv(p, size, gray, cv2.INTER_CUBIC) for p in files],
                        "OpenCV area": [opencv(p, size, gray, cv2.INTER_AREA) for p in files],
                    }
                    for name, arrays in rows.items():
                        worst, mean = compare(reference, arrays)
                        label = f"`{folder.name}` ({len(files)} images)"
                        print(f"| {label} | {size} | {1 if gray else 3} | {name} | {worst} | {mean:.3f} |")


if __name__ == "__main__":
    main()
