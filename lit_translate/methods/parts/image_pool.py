"""History of generated images (Shrivastava et al. 2017), used by CycleGAN's discriminator updates."""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    """A buffer of up to ``pool_size`` previously generated images.

    Until the pool is full every image is stored and returned as is. Afterwards each image is, with probability
    0.5, swapped with a random stored one (the stored image is returned and the new one takes its place), and
    otherwise returned as is. ``pool_size`` 0 disables the pool. The contents are plain tensors so that they go
    into checkpoints that load with ``torch.load(weights_only=True)``.

    Args:
        pool_size: maximum number of stored images; 0 disables the pool. Default: 50.
    """

    def __init__(self, pool_size: int = 50) -> None:
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        self.pool_size = pool_size
        self.images: list[Tensor] = []

    def query(self, images: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Return a batch of the same shape mixing ``images`` with stored ones.

        Args:
            images: generated images ``(N, C, H, W)``; they are detached before being stored.
            generator: CPU random generator for the coin flips and picks (per-rank seeding). Default: None.

        Returns:
            A detached batch ``(N, C, H, W)``.
        """
        images = images.detach()
        if self.pool_size == 0:
            return images
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.pool_size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand(1, generator=generator).item() > 0.5:
                idx = int(torch.randint(0, self.pool_size, (1,), generator=generator).item())
                out.append(self.images[idx].clone())
                self.images[idx] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, dim=0)

    def state_dict(self) -> dict[str, Tensor | int]:
        """Return the pool as tensors (stored images stacked on CPU)."""
        stacked = torch.cat(self.images).cpu() if self.images else torch.empty(0)
        return {"pool_size": self.pool_size, "images": stacked}

    def load_state_dict(self, state: dict[str, Tensor | int], device: torch.device | None = None) -> None:
        """Restore the pool from :meth:`state_dict` output, moving images to ``device``."""
        if int(state["pool_size"]) != self.pool_size:
            raise ValueError(
                f"checkpoint image pool has pool_size {state['pool_size']} but the model has {self.pool_size}; "
                "resume with the pool_size the run was started with"
            )
        images = state["images"]
        assert isinstance(images, Tensor)
        self.images = [img.unsqueeze(0).to(device) for img in images] if images.numel() else []
