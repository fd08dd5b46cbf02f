"""A folder of images (and of its sub-folders) for prediction: any size, no augmentation."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from lit_translate.data.io import check_channels, find_images, load_image
from lit_translate.data.transforms import to_tensor


class ImageFolderDataset(Dataset):
    """The images inside a folder and its sub-folders, each mapped to [-1, 1] at its own size.

    Items are ``{"A": float32 tensor (C, H, W) in [-1, 1], "A_path": str}``; use batch size 1 when sizes
    differ. ``relative_paths`` keeps where each image is under ``folder`` (the predict writer mirrors it).

    Args:
        folder: Folder of images (extensions in ``IMG_EXTENSIONS``; sub-folders too unless ``recursive`` is off,
            hidden ones skipped).
        channels: 1 or 3. Default 3.
        option: Command-line option named in the error for a missing folder. Default ``"--data.predict_dir"``.
        recursive: Include the images of sub-folders. Default True.
        keep_broken_links: List broken symbolic links instead of raising (the DataModule's set-up scan reports
            them with every other bad file). Default False.
        transform: Maps a loaded uint8 image and its path to the tensor ``"A"`` (e.g. StarGAN's crop and resize
            to the training size). Default None: ``to_tensor`` at the image's own size.

    Attributes:
        folder, paths, relative_paths (``paths[i]`` relative to ``folder``), skipped (see :meth:`keep`).

    Raises:
        FileNotFoundError: The folder does not exist; a broken link (unless ``keep_broken_links``).
        ValueError: The folder holds no images, or ``channels`` is not 1 or 3.
    """

    def __init__(
        self,
        folder: str | Path,
        channels: int = 3,
        option: str = "--data.predict_dir",
        recursive: bool = True,
        keep_broken_links: bool = False,
        transform: Callable[[np.ndarray, str], torch.Tensor] | None = None,
    ) -> None:
        check_channels(channels, "channels")
        self.folder = Path(folder)
        self.paths = find_images(
            folder, option, "a folder of input images", keep_broken_links=keep_broken_links, recursive=recursive
        )
        self.channels = channels
        self.transform = transform
        self.skipped: list[tuple[Path, str]] = []

    @property
    def relative_paths(self) -> list[Path]:
        """Return each image's path relative to ``folder`` (e.g. ``sub/photo.jpg``)."""
        return [path.relative_to(self.folder) for path in self.paths]

    def keep(self, indices: list[int], skipped: list[tuple[Path, str]]) -> None:
        """Keep only the images ``indices`` (``skip_unreadable``); ``skipped`` lists the bad files."""
        self.paths = [self.paths[i] for i in indices]
        self.skipped = skipped

    def __len__(self) -> int:
        """Return the number of images."""
        return len(self.paths)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | str]:
        """Load image ``index`` as ``{"A": (C, H, W) tensor in [-1, 1], "A_path": str}``."""
        path = self.paths[index]
        image = load_image(path, self.channels)
        return {
            "A": to_tensor(image) if self.transform is None else self.transform(image, str(path)),
            "A_path": str(path),
        }
