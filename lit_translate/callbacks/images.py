"""Sample grids of fixed validation images, written as PNG files and logged to W&B or TensorBoard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_info
from torch import Tensor
from torch.utils.data import default_collate
from torchvision.utils import make_grid, save_image
from typing_extensions import override


def to_grid(columns: dict[str, Tensor], padding: int = 2) -> Tensor:
    """Arrange ``{name: (N, C, H, W) in [-1, 1]}`` as a grid: one row per sample, one column per entry.

    One-channel images are repeated to RGB so that inputs and outputs with different channel counts line up. A
    column of a single image (``(1, C, H, W)``, e.g. the style image of style transfer) is shown once, in the
    first row, above blank tiles.

    Returns:
        A ``(3, H', W')`` float tensor in [0, 1].

    Raises:
        ValueError: columns differ in image size, or one has neither 1 nor N images.
    """
    images = [((img.detach().float().cpu() + 1) / 2).clamp(0, 1) for img in columns.values()]
    images = [img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img for img in images]
    rows = max(img.shape[0] for img in images)
    shapes = {name: tuple(img.shape) for name, img in zip(columns, images)}
    if len({shape[-2:] for shape in shapes.values()}) > 1 or any(s[0] not in (1, rows) for s in shapes.values()):
        raise ValueError(f"sample grid columns need one image size and 1 or {rows} images each; got {shapes}")
    images = [torch.cat([img, img.new_ones(rows - 1, *img.shape[1:])]) if len(img) < rows else img for img in images]
    tiles = torch.stack(images, dim=1).flatten(0, 1)  # (N * columns, 3, H, W), row-major
    return make_grid(tiles, nrow=len(images), padding=padding, pad_value=1.0)


def first_items(loader: Any, count: int) -> dict[str, Any]:
    """Collate the first ``count`` items of the dataset behind ``loader`` (a DataLoader or a list of them).

    Items whose images differ in size (whole-image SR validation) are cropped at the top-left to the smallest
    size of each key, which keeps an LR image and its ``scale`` times larger HR image aligned.
    """
    loader = loader[0] if isinstance(loader, (list, tuple)) else loader
    dataset = loader.dataset
    items = [dataset[i] for i in range(min(count, len(dataset)))]
    for key, value in items[0].items() if items else ():
        if isinstance(value, Tensor) and value.ndim == 3 and len({item[key].shape for item in items}) > 1:
            height = min(item[key].shape[-2] for item in items)
            width = min(item[key].shape[-1] for item in items)
            for item in items:
                item[key] = item[key][..., :height, :width]
    return default_collate(items)


def render_visuals(pl_module: LightningModule, batch: dict[str, Any]) -> tuple[Tensor, str]:
    """Run ``pl_module.visuals`` on ``batch`` (moved to the module's device) and return ``(grid, caption)``.

    Call it on every rank: with ``inference_mode="train"`` and SyncBatchNorm the forward is collective.
    """
    batch = {k: v.to(pl_module.device) if isinstance(v, Tensor) else v for k, v in batch.items()}
    with torch.no_grad():
        columns = pl_module.visuals(batch)
    return to_grid(columns), " | ".join(columns)


class SampleGrid(Callback):
    """Translate the same validation samples after every validation and save the grid.

    The grid has one row per sample and the columns of ``pl_module.visuals`` (pix2pix: input | output |
    target; CycleGAN: real_A | fake_B | rec_A and real_B | fake_A | rec_B; style transfer: content | stylised |
    style, the style image once, in the first row; see :func:`to_grid`). Files go to
    ``<dirpath>/epoch=EEE-step=SSSSSSS.png`` and ``<dirpath>/latest.png``; loggers with ``log_image`` (W&B) or
    a TensorBoard ``add_image`` get the image too.

    Args:
        num_samples: how many validation samples (the first ones of the validation split). Default: 8.
        every_n_epochs: write a grid every this many validation runs. Default: 1.
        dirpath: output folder; None = ``<run dir>/samples`` (set by the CLI). Default: None.
        num_codes: a multimodal method (``latent_dim``) shows input | ``num_codes`` samples | target, sample ``k``
            with the code of seed ``k`` (the same codes at every validation); None keeps the method's
            ``grid_codes`` (3). Default: None.
    """

    def __init__(
        self, num_samples: int = 8, every_n_epochs: int = 1, dirpath: str | None = None, num_codes: int | None = None
    ) -> None:
        self.num_samples = num_samples
        self.num_codes = num_codes
        self.every_n_epochs = every_n_epochs
        self.dirpath = dirpath
        self.last_path: Path | None = None
        self._batch: dict[str, Any] | None = None
        self._runs = 0

    def fixed_batch(self, trainer: Trainer) -> dict[str, Any]:
        """Collate the first ``num_samples`` items of the validation dataset (cached)."""
        if self._batch is None:
            self._batch = first_items(trainer.val_dataloaders, self.num_samples)
        return self._batch

    @override
    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or self.num_samples <= 0:
            return
        self._runs += 1
        if (self._runs - 1) % self.every_n_epochs:
            return
        if self.num_codes is not None and getattr(pl_module, "latent_dim", None) is not None:
            pl_module.grid_codes = self.num_codes
        grid, caption = render_visuals(pl_module, self.fixed_batch(trainer))  # all ranks (see render_visuals)
        if trainer.is_global_zero:
            self.write(trainer, grid, caption)

    def write(self, trainer: Trainer, grid: Tensor, caption: str) -> None:
        """Save ``grid`` as PNG files and hand it to the loggers."""
        dirpath = Path(self.dirpath or Path(trainer.default_root_dir) / "samples")
        dirpath.mkdir(parents=True, exist_ok=True)
        path = dirpath / f"epoch={trainer.current_epoch:03d}-step={trainer.global_step:07d}.png"
        save_image(grid, path)
        save_image(grid, dirpath / "latest.png")
        self.last_path = path
        for logger in trainer.loggers:
            if hasattr(logger, "log_image"):
                logger.log_image(key="samples", images=[grid], step=trainer.global_step, caption=[caption])
            elif hasattr(getattr(logger, "experiment", None), "add_image"):
                logger.experiment.add_image("samples", grid, global_step=trainer.global_step)
        rank_zero_info(f"Sample grid ({caption}): {path}")
