"""Where the images of a paired dataset are: the aligned (A|B side by side) and the two-folder layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lit_translate.choices import check_choice
from lit_translate.data.io import MissingDataError, find_images
from lit_translate.errors import InputError

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
        InputError: Unknown ``layout``.
    """
    check_choice("layout", layout, LAYOUTS)
    root = Path(root)
    if not root.is_dir():
        raise MissingDataError(
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
    raise MissingDataError(
        f"split {split!r} not found under {root} with layout {layout!r}; looked for: {looked}. Aligned means "
        f"A|B side-by-side images in root/<split>/, folders means matching file names in two folders"
    )


def split_aligned(image: np.ndarray, path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Cut an aligned A|B image at ``w // 2`` into its left (A) and right (B) parts, as the reference does.

    Any width is accepted (reference ``data/aligned_dataset.py``: ``w2 = int(w / 2)``, A = columns
    ``[0, w2)``, B = ``[w2, w)``): an image that is not 2:1 gives non-square halves (the pipeline resizes both to
    ``load_size``), and an odd width gives B one column more than A.

    Args:
        image: ``(H, W, C)`` array, ``W >= 2``.
        path: Its file, for the error message.

    Returns:
        ``(H, W // 2, C)`` and ``(H, W - W // 2, C)`` views.

    Raises:
        InputError: The image is narrower than 2 pixels.
    """
    width = image.shape[1]
    if width < 2:
        raise InputError(f"aligned image {path} is {width} pixel wide; an A|B image needs at least 2 columns")
    return image[:, : width // 2], image[:, width // 2 :]


def aligned_ratio_note(sizes: list[tuple[int, int]], folder: Path, resized_to: int | None) -> str | None:
    """Say how many aligned images are not 2:1 and what is done with them (None when all are 2:1).

    Args:
        sizes: ``(width, height)`` of every aligned image of the split.
        folder: The split's folder, for the message.
        resized_to: The side both halves are resized to, or None without resize.
    """
    odd = [(w, h) for w, h in sizes if w != 2 * h]
    if not odd:
        return None
    shapes = sorted(set(odd))
    examples = ", ".join(f"{w}x{h}" for w, h in shapes[:3]) + (", ..." if len(shapes) > 3 else "")
    then = f"both halves resized to {resized_to}x{resized_to}" if resized_to else "cropped as they are"
    return (
        f"{len(odd)} of the {len(sizes)} aligned images in {folder} are not 2:1 ({examples}): each is split at "
        f"width/2 and {then}, as the reference aligned_dataset.py does"
    )


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
        InputError: A name exists on one side only (up to 5 such names per side are listed).
    """
    names_a = {p.name: p for p in find_images(folder_a, keep_broken_links=keep_broken_links, hint=hint)}
    names_b = {p.name: p for p in find_images(folder_b, keep_broken_links=keep_broken_links, hint=hint)}
    only_a, only_b = sorted(names_a.keys() - names_b.keys()), sorted(names_b.keys() - names_a.keys())
    if only_a or only_b:
        raise InputError(
            f"{folder_a} and {folder_b} must hold the same file names; missing in {folder_b}: "
            f"{only_a[:5]} ({len(only_a)} in all), missing in {folder_a}: {only_b[:5]} ({len(only_b)} in all)"
        )
    return [(names_a[name], names_b[name]) for name in sorted(names_a)]
