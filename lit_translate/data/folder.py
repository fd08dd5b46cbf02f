"""A plain folder of images for prediction: any size, no augmentation."""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from lit_translate.data.io import check_channels, find_images, load_image
from lit_translate.data.transforms import build_transform


class ImageFolderDataset(Dataset):
    """The images directly inside a folder, each mapped to [-1, 1] at its own size.

    Items are ``{"A": float32 tensor (C, H, W) in [-1, 1], "A_path": str}``; use batch size 1 when sizes
    differ.

    Args:
        folder: Folder of images (extensions in ``IMG_EXTENSIONS``, not recursive).
        channels: 1 or 3. Default 3.
        option: Command-line option named in the error for a missing folder. Default ``"--data.predict_dir"``.

    Raises:
        FileNotFoundError: The folder does not exist.
        ValueError: The folder holds no images, or ``channels`` is not 1 or 3.
    """

    def __init__(self, folder: str | Path, channels: int = 3, option: str = "--data.predict_dir") -> None:
        check_channels(channels, "channels")
        self.paths = find_images(folder, option=option, expected="a folder of input images")
        self.channels = channels
        self.transform = build_transform(0, 0, False, False, False, train=False, paired=False)

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        """Load image ``index`` as ``{"A": (C, H, W) tensor in [-1, 1], "A_path": str}``."""
        path = self.paths[index]
        image = self.transform(image=load_image(path, self.channels))["image"]
        return {"A": image, "A_path": str(path)}
