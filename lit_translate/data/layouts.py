"""Where the images of a paired dataset are: the aligned (A|B side by side) and the two-folder layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lit_translate.choices import check_choice
from lit_translate.data.io import find_images

LAYOUTS = ("auto", "aligned", "folders")


def find_pair_layout(root: str | Path, split: str, layout: str = "auto") -> tuple[str, tuple[Path, ...]]:
    """Locate a split of a paired dataset.

    Layouts: ``"aligned"``: ``root/<split>/`` holds A|B side-by-side images; ``"folders"``: matching file
    names in ``root/A/<split>/`` + ``root/B/<split>/`` or in ``root/<split>/A/`` + ``root/<split>/B/``;
    ``"auto"``: the first of these that exists (two-folder variants first).

    Args:
        root: Dataset root.
        split: Split name, e.g. ``"train"``.
        layout: ``"auto"``, ``"aligned"`` or ``"folders"``. Default ``"auto"``.

    Returns:
        ``("aligned", (folder,))`` or ``("folders", (folder_a, folder_b))``.

    Raises:
        FileNotFoundError: The root or the split is missing; the message lists where it looked.
        ValueError: Unknown ``layout``.
    """
    check_choice("layout", layout, LAYOUTS)
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data root {root} does not exist; pass --data.root DIR pointing at a paired dataset, or leave "
            f"--data.root unset for the built-in synthetic set"
        )
    candidates = []
    if layout in ("auto", "folders"):
        candidates.append(("folders", (root / "A" / split, root / "B" / split)))
        candidates.append(("folders", (root / split / "A", root / split / "B")))
    if layout in ("auto", "aligned"):
        candidates.append(("aligned", (root / split,)))
    for kind, folders in candidates:
        if all(folder.is_dir() for folder in folders):
            return kind, folders
    looked = "; ".join(" + ".join(str(f) for f in folders) + f" ({kind})" for kind, folders in candidates)
    raise FileNotFoundError(
        f"split {split!r} not found under {root} with layout {layout!r}; looked for: {looked}. Aligned means "
        f"A|B side-by-side images in root/<split>/, folders means matching file names in two folders"
    )


def split_aligned(image: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Cut an aligned A|B image into its left (A) and right (B) halves.

    Args:
        image: ``(H, 2H, C)`` array.
        path: Its file, for the error message.

    Returns:
        The two ``(H, H, C)`` halves.

    Raises:
        ValueError: The width is not exactly twice the height.
    """
    height, width = image.shape[:2]
    if width != 2 * height:
        raise ValueError(
            f"aligned image {path} is {width}x{height}; the aligned layout needs A|B side by side, width "
            f"exactly 2x height (as written by the reference datasets/combine_A_and_B.py). Use layout "
            f"'folders' for separate A and B files"
        )
    return image[:, :height], image[:, height:]


def match_pairs(
    folder_a: Path, folder_b: Path, keep_broken_links: bool = False, hint: str = ""
) -> list[tuple[Path, Path]]:
    """Pair the images of two folders by identical file name.

    Args:
        folder_a: Folder of A images.
        folder_b: Folder of B images.
        keep_broken_links: Pair broken symbolic links too instead of raising (see ``find_images``).
            Default False.
        hint: Appended to the broken-link error. Default ``""``.

    Returns:
        ``(path_a, path_b)`` pairs, sorted by name.

    Raises:
        FileNotFoundError: A broken symbolic link (unless ``keep_broken_links``); the message names it.
        ValueError: A name exists on one side only (up to 5 such names per side are listed).
    """
    names_a = {p.name: p for p in find_images(folder_a, keep_broken_links=keep_broken_links, hint=hint)}
    names_b = {p.name: p for p in find_images(folder_b, keep_broken_links=keep_broken_links, hint=hint)}
    only_a, only_b = sorted(names_a.keys() - names_b.keys()), sorted(names_b.keys() - names_a.keys())
    if only_a or only_b:
        raise ValueError(
            f"{folder_a} and {folder_b} must hold the same file names; missing in {folder_b}: "
            f"{only_a[:5]} ({len(only_a)} in all), missing in {folder_a}: {only_b[:5]} ({len(only_b)} in all)"
        )
    return [(names_a[name], names_b[name]) for name in sorted(names_a)]
