"""Deterministic procedural datasets: no files, item ``i`` of a split is a pure function of (seed, split, i).

``SyntheticPairs`` is a small "labels -> photo" task in the spirit of CMP Facades: a flat-colour label map of
non-overlapping rectangles and discs, and a rendering where every class has its own texture laid out
relative to the shape (so the mapping is deterministic and translation-equivariant, learnable by a small
pix2pix on CPU). ``SyntheticUnpaired`` draws the same kind of shapes in two styles (palette and background)
for CycleGAN demos; domain B's palette is a fixed permutation of domain A's. :class:`ProceduralSet` is the shared
skeleton of every procedural dataset (size, split, seed, canvas, index checks, per-item generators).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from lit_translate.choices import check_choice
from lit_translate.errors import InputError

LABEL_COLOURS = np.array([[0, 0, 170], [255, 85, 0], [0, 200, 80], [255, 255, 0], [0, 220, 255]], np.uint8)
"""Label-map colours of ``SyntheticPairs``: index 0 is the background, 1-4 the shape classes."""

PALETTE_A = np.array([[230, 60, 60], [60, 200, 60], [70, 110, 240], [240, 200, 40]], np.uint8)
"""Shape colours of ``SyntheticUnpaired`` domain A (drawn on a dark background)."""

PALETTE_B = PALETTE_A[[2, 3, 1, 0]]
"""Shape colours of domain B: colour ``k`` of domain A maps to ``PALETTE_B[k]`` (on a light background)."""

_BACKGROUND = {"A": (25, 25, 35), "B": (225, 225, 215)}
_SPLIT_BITS = 0xFFFFFFFF
MIN_CANVAS = 16
"""Smallest canvas of the procedural sets (the shapes need a few pixels)."""


@dataclass(frozen=True)
class Shape:
    """One axis-aligned shape of a synthetic layout (canvas pixel coordinates).

    Args:
        label: Class (1-4 for ``SyntheticPairs``, palette index 0-3 for ``SyntheticUnpaired``).
        disc: A disc inscribed in the box instead of the full rectangle.
        top: First row of the bounding box.
        left: First column of the bounding box.
        height: Box height in pixels.
        width: Box width in pixels (equal to ``height`` for a disc).
    """

    label: int
    disc: bool
    top: int
    left: int
    height: int
    width: int

    def mask(self, canvas: int) -> np.ndarray:
        """Boolean ``(canvas, canvas)`` mask of the shape's pixels."""
        rows, cols = np.mgrid[:canvas, :canvas]
        inside = (rows >= self.top) & (rows < self.top + self.height)
        inside &= (cols >= self.left) & (cols < self.left + self.width)
        if self.disc:
            radius = self.height / 2
            dist2 = (rows + 0.5 - self.top - radius) ** 2 + (cols + 0.5 - self.left - radius) ** 2
            inside &= dist2 <= radius**2
        return inside


def random_layout(rng: np.random.Generator, canvas: int, num_labels: int, max_tries: int = 50) -> list[Shape]:
    """Draw 2-5 non-overlapping rectangles and discs (boxes at least 1 pixel apart).

    Args:
        rng: The generator to draw from.
        canvas: Square canvas size in pixels (>= 16).
        num_labels: Shapes get labels ``1..num_labels``.
        max_tries: Placement attempts per shape before giving up on that shape. Default 50.

    Returns:
        At least two shapes.
    """
    wanted, shapes = int(rng.integers(2, 6)), []
    while len(shapes) < 2:
        shapes = []
        for _ in range(max_tries * wanted):
            if len(shapes) == wanted:
                break
            shape = _random_shape(rng, canvas, num_labels)
            if not any(_boxes_touch(shape, other) for other in shapes):
                shapes.append(shape)
    return shapes


def _random_shape(rng: np.random.Generator, canvas: int, num_labels: int) -> Shape:
    """One random shape whose box fits in the canvas."""
    disc = bool(rng.random() < 0.4)
    height = int(rng.integers(canvas // 6, canvas // 2))
    width = height if disc else int(rng.integers(canvas // 6, canvas // 2))
    top, left = int(rng.integers(0, canvas - height)), int(rng.integers(0, canvas - width))
    return Shape(int(rng.integers(1, num_labels + 1)), disc, top, left, height, width)


def _boxes_touch(a: Shape, b: Shape) -> bool:
    """Whether two bounding boxes overlap or are adjacent."""
    return not (
        a.top + a.height < b.top or b.top + b.height < a.top or a.left + a.width < b.left or b.left + b.width < a.left
    )


class ProceduralSet:
    """The skeleton of the procedural datasets: ``size`` items of a ``split``, drawn from ``seed`` on a ``canvas``.

    Item ``i`` of a split is a pure function of ``(seed, split, stream, i)`` (:meth:`generator`); subclasses
    (:class:`SyntheticPairs`, :class:`SyntheticUnpaired`, ``SyntheticHR``, ``SyntheticDomains``,
    ``SyntheticContentDataset``) draw and render. No files, no Lightning.

    Args:
        size: Number of items, >= 1; or ``{name: size}`` for several item families (the length is the largest).
        split: Split name; different splits hold different items.
        seed: Content seed, >= 0.
        canvas: Square image side in pixels, >= 16.

    Raises:
        InputError: A size below 1, a canvas below 16 or a negative seed (the message names the class).
    """

    def __init__(self, size: int | dict[str, int], split: str, seed: int, canvas: int) -> None:
        sizes = size if isinstance(size, dict) else {"size": size}
        if min(sizes.values()) < 1 or canvas < MIN_CANVAS or seed < 0:
            got = ", ".join(str(value) for value in (*sizes.values(), canvas, seed))
            raise InputError(
                f"{type(self).__name__} needs {', '.join(sizes)} >= 1, canvas >= {MIN_CANVAS}, seed >= 0; got {got}"
            )
        self.size, self.split, self.seed, self.canvas = max(sizes.values()), split, seed, canvas

    def __len__(self) -> int:
        """Return the number of items."""
        return self.size

    def path(self, index: int) -> str:
        """Return the batch-contract path of item ``index``: ``"synthetic:<split>:<index>"``."""
        return f"synthetic:{self.split}:{index}"

    def check_index(self, index: int, size: int | None = None, name: str | None = None) -> None:
        """Raise an IndexError unless ``0 <= index < size`` (default: the set's size)."""
        size = self.size if size is None else size
        if not 0 <= index < size:
            raise IndexError(f"{name or type(self).__name__} index {index} out of range for size {size}")

    def generator(self, stream: int, index: int, seeded: bool = True) -> np.random.Generator:
        """Return the generator of item ``index`` (``stream`` separates item families; ``seeded``: mix in ``seed``)."""
        key = [zlib.crc32(self.split.encode()) & _SPLIT_BITS, stream, index]
        return np.random.default_rng([self.seed, *key] if seeded else key)


class SyntheticPairs(ProceduralSet):
    """Procedural "labels -> photo" pairs (pix2pix demo and tests).

    Item ``i`` is ``(A, B)``: A is a flat-colour label map (``LABEL_COLOURS``: background + 2-5 shapes),
    B its rendering: a soft vertical gradient background, class 1 horizontal brick stripes, class 2 a
    top-to-bottom glass gradient, class 3 a dot grid, class 4 vertical wood stripes, each laid out relative
    to its shape's box (mirror-symmetric left/right), with a dark outline.

    Args:
        size: Number of items, >= 1. Default 400.
        split: Split name; different splits hold different items. Default ``"train"``.
        seed: Dataset seed, >= 0. Default 0.
        canvas: Square image size in pixels, >= 16. Default 64.
    """

    def __init__(self, size: int = 400, split: str = "train", seed: int = 0, canvas: int = 64) -> None:
        super().__init__(size, split, seed, canvas)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return item ``index`` as uint8 ``(canvas, canvas, 3)`` arrays ``(label_map, photo)``."""
        self.check_index(index)
        rng = self.generator(0, index)
        shapes = random_layout(rng, self.canvas, len(LABEL_COLOURS) - 1)
        return self.label_map(shapes), self.render(shapes)

    def label_map(self, shapes: list[Shape]) -> np.ndarray:
        """Flat-colour label map of a layout, uint8 ``(canvas, canvas, 3)``."""
        image = np.empty((self.canvas, self.canvas, 3), np.uint8)
        image[:] = LABEL_COLOURS[0]
        for shape in shapes:
            image[shape.mask(self.canvas)] = LABEL_COLOURS[shape.label]
        return image

    def render(self, shapes: list[Shape]) -> np.ndarray:
        """Textured "photo" of a layout, uint8 ``(canvas, canvas, 3)``."""
        ramp = np.linspace(0.0, 1.0, self.canvas)[:, None, None]
        image = (1 - ramp) * np.array([205.0, 225, 245]) + ramp * np.array([120.0, 140, 175])
        image = np.broadcast_to(image, (self.canvas, self.canvas, 3)).copy()
        for shape in shapes:
            mask = shape.mask(self.canvas)
            image[mask] = _texture(shape, self.canvas)[mask]
            image[mask & ~_eroded(mask)] = (40.0, 35.0, 30.0)
        return image.round().clip(0, 255).astype(np.uint8)


def _texture(shape: Shape, canvas: int) -> np.ndarray:
    """Float ``(canvas, canvas, 3)`` texture of a shape's class, in coordinates relative to its box.

    Rows count from the box's top; columns from its vertical centre line in both directions, so a
    horizontal flip of the label map flips the texture consistently.
    """
    rows, cols = np.mgrid[:canvas, :canvas]
    rel_y = rows - shape.top
    rel_x = np.floor(np.abs(cols + 0.5 - shape.left - shape.width / 2)).astype(int)
    if shape.label == 1:
        stripe = (rel_y // 3) % 2
        return np.where(stripe[..., None] == 1, (150.0, 50, 30), (200.0, 90, 60))
    if shape.label == 2:
        t = np.clip(rel_y / max(shape.height - 1, 1), 0, 1)[..., None]
        return (1 - t) * np.array([170.0, 220, 240]) + t * np.array([30.0, 60, 120])
    if shape.label == 3:
        dots = ((rel_y % 6) >= 2) & ((rel_y % 6) < 4) & ((rel_x % 6) >= 2) & ((rel_x % 6) < 4)
        return np.where(dots[..., None], (90.0, 60, 20), (235.0, 200, 120))
    stripe = (rel_x // 4) % 2
    return np.where(stripe[..., None] == 1, (110.0, 75, 40), (160.0, 115, 70))


def _eroded(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` whose four neighbours are all in the mask."""
    padded = np.pad(mask, 1)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


class SyntheticUnpaired(ProceduralSet):
    """Procedural unpaired domains (CycleGAN demo and tests) with a known A <-> B mapping.

    Domain A: 2-5 shapes in ``PALETTE_A`` on a dark background; domain B: independently drawn shapes in
    ``PALETTE_B`` (a fixed permutation of ``PALETTE_A``) on a light background. ``counterpart`` renders an
    item's layout in the other domain's style: the ground truth of the translation.

    Args:
        size_a: Number of domain-A items, >= 1. Default 400.
        size_b: Number of domain-B items, >= 1. Default 400.
        split: Split name; different splits hold different items. Default ``"train"``.
        seed: Dataset seed, >= 0. Default 0.
        canvas: Square image size in pixels, >= 16. Default 64.
    """

    def __init__(
        self, size_a: int = 400, size_b: int = 400, split: str = "train", seed: int = 0, canvas: int = 64
    ) -> None:
        super().__init__({"size_a": size_a, "size_b": size_b}, split, seed, canvas)  # length: the larger domain
        self.sizes = {"A": size_a, "B": size_b}

    def image(self, domain: str, index: int) -> np.ndarray:
        """Item ``index`` of ``domain`` (``"A"`` or ``"B"``), uint8 ``(canvas, canvas, 3)``."""
        return self._draw(self._layout(domain, index), domain)

    def counterpart(self, domain: str, index: int) -> np.ndarray:
        """Item ``index`` of ``domain`` drawn in the other domain's style (the translation's ground truth)."""
        return self._draw(self._layout(domain, index), "B" if domain == "A" else "A")

    def path(self, domain: str, index: int) -> str:  # type: ignore[override]
        """Return the batch-contract path of an item: ``"synthetic:<split><domain>:<index>"``."""
        return f"synthetic:{self.split}{domain}:{index}"

    def _layout(self, domain: str, index: int) -> list[Shape]:
        """Return the shapes of item ``index`` of ``domain``."""
        check_choice("domain", domain, self.sizes)
        self.check_index(index, self.sizes[domain], f"SyntheticUnpaired domain {domain}")
        rng = self.generator(1 if domain == "A" else 2, index)
        return random_layout(rng, self.canvas, len(PALETTE_A))

    def _draw(self, shapes: list[Shape], style: str) -> np.ndarray:
        """Draw shapes in a domain's style."""
        palette = PALETTE_A if style == "A" else PALETTE_B
        image = np.empty((self.canvas, self.canvas, 3), np.uint8)
        image[:] = _BACKGROUND[style]
        for shape in shapes:
            image[shape.mask(self.canvas)] = palette[shape.label - 1]
        return image


SHAPE_HUES = np.array(
    [[220, 50, 50], [240, 160, 30], [230, 220, 40], [60, 190, 70], [40, 170, 220], [70, 80, 230], [170, 70, 210]],
    np.uint8,
)
"""The colours of ``SyntheticColours`` (one drawn per item, independent of the layout)."""


class SyntheticColours(ProceduralSet):
    """A truly multimodal "outline -> coloured shapes" task (BicycleGAN demo and tests).

    Item ``i`` is ``(A, B)``: A the layout's outlines (dark 1-pixel outlines of 2-5 shapes on white, like an edge
    map), B the same layout with every shape filled in one colour drawn from ``SHAPE_HUES`` independently of the
    layout, on a light grey background, the same outlines. One A has ``len(SHAPE_HUES)`` equally likely targets:
    a deterministic translator can only average them (a brownish grey), a multimodal one samples the colours.
    Layout and colour are pure functions of ``(split, index)``; ``colour_of(i)`` tells the colour index.

    Args:
        size: Number of items, >= 1. Default 400.
        split: Split name. Default ``"train"``.
        seed: Dataset seed, >= 0. Default 0.
        canvas: Square image size in pixels, >= 16. Default 64.
    """

    def __init__(self, size: int = 400, split: str = "train", seed: int = 0, canvas: int = 64) -> None:
        super().__init__(size, split, seed, canvas)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Return item ``index`` as uint8 ``(canvas, canvas, 3)`` arrays ``(outlines, coloured shapes)``."""
        self.check_index(index)
        shapes = random_layout(self.generator(3, index), self.canvas, 1)
        outlines = np.full((self.canvas, self.canvas, 3), 255, np.uint8)
        photo = np.full((self.canvas, self.canvas, 3), 200, np.uint8)
        colour = SHAPE_HUES[self.colour_of(index)]
        for shape in shapes:
            mask = shape.mask(self.canvas)
            edge = mask & ~_eroded(mask)
            photo[mask] = colour
            photo[edge] = outlines[edge] = (30, 30, 30)
        return outlines, photo

    def colour_of(self, index: int) -> int:
        """Return the index in ``SHAPE_HUES`` of item ``index``'s colour (its own stream: not the layout's)."""
        return int(self.generator(4, index).integers(len(SHAPE_HUES)))
