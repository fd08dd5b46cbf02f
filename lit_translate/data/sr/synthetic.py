"""Procedural high-resolution images for the super-resolution demos and tests (no files, no download).

Item ``i`` of a split is a pure function of ``(seed, split, i)``: a smooth two-colour gradient background with
4-7 hard-edged shapes (rectangles, discs, rings, triangles) filled with a flat colour, stripes at a random angle
(period 8-20 px) or a checkerboard (cells 4-10 px), and 2-4 thin straight lines. Hard edges, stripes and lines
are exactly what bicubic upsampling blurs and a small CNN learns to restore (edges are step functions; the
textures are regular), so SR models beat bicubic on them within minutes on a CPU. Periods are at least 8 HR
pixels, twice the x4 LR pixel, so textures survive the downsampling (no hopeless aliasing).
"""

from __future__ import annotations

import numpy as np

from lit_translate.data.synthetic import ProceduralSet

_STREAM = 7  # separates these images from the other synthetic sets' random streams


class SyntheticHR(ProceduralSet):
    """Procedural HR images: ``SyntheticHR(size, split)[i]`` is a uint8 ``(canvas, canvas, 3)`` array.

    Args:
        size: Number of images, >= 1. Default 400.
        split: Split name; different splits hold different images. Default ``"train"``.
        seed: Content seed, >= 0. Default 0.
        canvas: Square image side in pixels, >= 16. Default 96.
    """

    def __init__(self, size: int = 400, split: str = "train", seed: int = 0, canvas: int = 96) -> None:
        super().__init__(size, split, seed, canvas)

    def __getitem__(self, index: int) -> np.ndarray:
        """Render image ``index`` as uint8 ``(canvas, canvas, 3)``."""
        self.check_index(index)
        rng = self.generator(_STREAM, index)
        rows, cols = np.mgrid[: self.canvas, : self.canvas].astype(np.float64) + 0.5
        image = _gradient(rng, rows, cols, self.canvas)
        for _ in range(int(rng.integers(4, 8))):
            mask = _shape_mask(rng, rows, cols, self.canvas)
            image[mask] = _fill(rng, rows, cols)[mask]
        for _ in range(int(rng.integers(2, 5))):
            image[_line_mask(rng, rows, cols, self.canvas)] = rng.choice([20.0, 235.0])
        return image.round().clip(0, 255).astype(np.uint8)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(20, 235, size=3)


def _gradient(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, canvas: int) -> np.ndarray:
    """Return a linear blend of two colours along a random direction, float ``(canvas, canvas, 3)``."""
    angle = rng.uniform(0, np.pi)
    t = ((rows * np.sin(angle) + cols * np.cos(angle)) / (canvas * 1.5) + 0.5).clip(0, 1)[..., None]
    return (1 - t) * _colour(rng) + t * _colour(rng)


def _shape_mask(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, canvas: int) -> np.ndarray:
    """Return a random rectangle, disc, ring or triangle with hard (pixel-exact) edges."""
    kind = int(rng.integers(0, 4))
    cy, cx = rng.uniform(0, canvas, size=2)
    radius = rng.uniform(canvas / 10, canvas / 3)
    if kind == 0:
        half_h, half_w = radius, rng.uniform(canvas / 10, canvas / 3)
        return (np.abs(rows - cy) <= half_h) & (np.abs(cols - cx) <= half_w)
    dist = np.hypot(rows - cy, cols - cx)
    if kind == 1:
        return dist <= radius
    if kind == 2:
        return (dist <= radius) & (dist >= radius * rng.uniform(0.4, 0.8))
    corners = rng.uniform(0, canvas, size=(3, 2))
    return _inside_triangle(rows, cols, corners)


def _inside_triangle(rows: np.ndarray, cols: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """Pixels inside the triangle ``corners`` (3 x (row, col)): all three edge functions have the same sign."""
    signs = []
    for (y0, x0), (y1, x1) in zip(corners, np.roll(corners, -1, axis=0)):
        signs.append((x1 - x0) * (rows - y0) - (y1 - y0) * (cols - x0) >= 0)
    return (signs[0] == signs[1]) & (signs[1] == signs[2])


def _fill(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Return a flat colour, stripes (period 8-20 px, random angle) or a checkerboard (cells 4-10 px)."""
    kind = int(rng.integers(0, 3))
    first, second = _colour(rng), _colour(rng)
    if kind == 0:
        return np.broadcast_to(first, (*rows.shape, 3))
    if kind == 1:
        angle, period = rng.uniform(0, np.pi), rng.uniform(8, 20)
        on = ((rows * np.sin(angle) + cols * np.cos(angle)) % period) < period / 2
    else:
        cell = int(rng.integers(4, 11))
        on = ((rows // cell + cols // cell) % 2) == 0
    return np.where(on[..., None], first, second)


def _line_mask(rng: np.random.Generator, rows: np.ndarray, cols: np.ndarray, canvas: int) -> np.ndarray:
    """Return a straight line 1-2 px wide through a random point at a random angle."""
    angle, width = rng.uniform(0, np.pi), rng.uniform(0.6, 1.2)
    cy, cx = rng.uniform(0, canvas, size=2)
    return np.abs((rows - cy) * np.cos(angle) - (cols - cx) * np.sin(angle)) <= width


__all__ = ["SyntheticHR"]
