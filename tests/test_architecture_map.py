"""The file map at the top of docs/architecture.md lists every module of the package, each under its real parent."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lit_translate"
DOC = ROOT / "docs" / "architecture.md"


def map_entries(doc: Path = DOC) -> list[str]:
    """Return the paths the first fenced block of docs/architecture.md lists (``pkg/sub/file.py``), from indentation."""
    block = re.search(r"```\n(lit_translate/\n.*?)```", doc.read_text(), flags=re.S)
    assert block, "docs/architecture.md must open with the file map: a fenced block starting with 'lit_translate/'"
    stack: list[tuple[int, str]] = []
    entries = []
    for line in block.group(1).splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        name = line.split()[0]
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = "/".join([part for _, part in stack] + [name.rstrip("/")])
        if name.endswith("/"):
            stack.append((indent, name.rstrip("/")))
        elif name.endswith(".py"):
            entries.append(path)
    return entries


def package_modules() -> set[str]:
    """Return every module file of the package but ``__init__.py``, as ``lit_translate/...`` paths."""
    return {
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if path.name != "__init__.py" and "__pycache__" not in path.parts
    }


def test_the_map_lists_every_module_under_its_parent() -> None:
    listed = map_entries()
    duplicates = sorted({entry for entry in listed if listed.count(entry) > 1})
    assert not duplicates, f"docs/architecture.md lists these modules twice: {duplicates}"
    actual = package_modules()
    missing = sorted(actual - set(listed))
    stale = sorted(set(listed) - actual)
    assert not missing, f"add these modules to the file map of docs/architecture.md (under their folder): {missing}"
    assert not stale, f"the file map of docs/architecture.md lists modules that no longer exist: {stale}"


def test_the_map_reader_follows_indentation(tmp_path: Path) -> None:
    text = "```\nlit_translate/\n  a.py   x\n  sub/   y\n    b.py  z\n  c.py\n```\n"
    doc = tmp_path / "architecture.md"
    doc.write_text(text)
    assert map_entries(doc) == ["lit_translate/a.py", "lit_translate/sub/b.py", "lit_translate/c.py"]
