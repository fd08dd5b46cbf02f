"""The package's import graph, read statically: no import cycle, and plain-torch nets and losses.

Rules (every ``lit_translate/**/*.py`` is parsed with ``ast``; module names come from the file paths, so the test
follows modules into sub-packages without edits):

- **Edges.** Every ``import`` / ``from ... import`` of a ``lit_translate`` module counts, wherever it stands: at
  module level, under ``if TYPE_CHECKING:``, or inside a function (a deferred import hides a cycle, it does not
  remove it). ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg`` (the
  package ``__init__``, which defines ``name``); relative imports are resolved against the importing module. The
  implicit import of a module's parent packages is not an edge (a package ``__init__`` importing its submodules,
  which import each other by full name, is the normal layout, not a cycle).
- **No cycle.** The graph of edges between package modules has no cycle (a strongly connected component of
  two or more modules, or a module importing itself). A submodule importing its own package's ``__init__`` is
  a cycle too when that ``__init__`` imports it back.
- **Plain torch.** Modules matched by :data:`PURE` (the networks and the losses) import no module matched by
  :data:`FORBIDDEN` (Lightning, the pretrained-weights registry and the stand-ins), directly or through other
  package modules. Update the two tuples when those modules move.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "lit_translate"

PURE = ("lit_translate.nets", "lit_translate.losses")
"""Module-name prefixes of the plain-torch modules (a prefix matches the module and everything under it)."""
FORBIDDEN = ("lightning", "pytorch_lightning", "lit_translate.pretrained")
"""Module-name prefixes that ``PURE`` modules must not import (the pretrained-file registry, its check and the
stand-ins are all under ``lit_translate.pretrained``)."""
FORBIDDEN_ALIASES = ("lit_translate.weights", "lit_translate.standins", "lit_translate.evaluation.weights")
"""Old names of those modules, still importable through :mod:`lit_translate.moved`."""


def module_files(root: Path = ROOT, package: str = PACKAGE) -> dict[str, tuple[Path, bool]]:
    """Return ``{module name: (file, is_package)}`` for every ``.py`` file of ``package`` under ``root``."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return modules


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Return every absolute dotted name imported anywhere in ``tree`` (``from a import b`` gives ``a.b``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    anchor = anchor.rpartition(".")[0]
                base = f"{anchor}.{base}" if base else anchor
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, tuple[Path, bool]]) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Return ``(edges between package modules, every imported name per module)``."""
    edges, external = {}, {}
    for module, (path, is_package) in modules.items():
        names = imported_names(ast.parse(path.read_text(encoding="utf-8"), str(path)), module, is_package)
        targets = set()
        for name in names:
            while name and name not in modules:  # `from pkg import function` is an edge to pkg
                name = name.rpartition(".")[0]
            if name and (name != module or not modules[module][1]):
                targets.add(name)
        edges[module], external[module] = targets, names
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Return the import cycles of ``edges``: strongly connected components of 2+ modules, and self-imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1 or node in edges.get(node, ()):
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def matches(name: str, prefixes: tuple[str, ...]) -> bool:
    """Whether dotted ``name`` is one of ``prefixes`` or lies under one (``a.b`` matches ``a`` and ``a.b.c``)."""
    return any(name == p or name.startswith(f"{p}.") or name.startswith(f"{p}_") for p in prefixes)


def impure_imports(
    edges: dict[str, set[str]],
    names: dict[str, set[str]],
    pure: tuple[str, ...] = PURE,
    forbidden: tuple[str, ...] = FORBIDDEN + FORBIDDEN_ALIASES,
) -> list[str]:
    """Return ``"module -> ... -> forbidden"`` for every ``pure`` module that reaches a ``forbidden`` import."""
    problems = []
    for start in sorted(m for m in edges if matches(m, pure)):
        seen, queue = {start: [start]}, [start]
        while queue:
            module = queue.pop(0)
            bad = sorted(n for n in names[module] if matches(n, forbidden))
            if bad:
                problems.append(" -> ".join([*seen[module], bad[0]]))
                break
            for target in sorted(edges[module] - seen.keys()):
                seen[target] = [*seen[module], target]
                queue.append(target)
    return problems


@pytest.fixture(scope="module")
def graph():
    modules = module_files()
    assert len(modules) > 80 and "lit_translate.methods.base" in modules  # the whole package was read
    return import_graph(modules)


def test_the_package_has_no_import_cycle(graph):
    edges, _ = graph
    assert "lit_translate.methods.parts.guard" in edges["lit_translate.methods.base"]  # edges are found
    assert cycles(edges) == [], "import cycles (break each with a leaf module)"


def test_nets_and_losses_import_neither_lightning_nor_the_weights_registry_nor_the_standins(graph):
    edges, names = graph
    assert any(matches(m, PURE) for m in edges) and "lit_translate.losses" in edges
    assert impure_imports(edges, names) == []


def test_the_checks_see_function_level_and_type_checking_imports_and_relative_ones(tmp_path):
    package = tmp_path / "pkg"
    (package / "nets").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "nets" / "__init__.py").write_text("from .a import f\n")
    (package / "nets" / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.nets.a import f\n")
    (package / "c.py").write_text("import lightning\n")
    (package / "nets" / "d.py").write_text("from .. import c\n")
    modules = module_files(tmp_path, "pkg")
    edges, names = import_graph(modules)
    assert edges["pkg.nets"] == {"pkg.nets.a"} and edges["pkg.nets.d"] == {"pkg.c"}
    assert cycles(edges) == [["pkg.b", "pkg.nets.a"]]
    assert impure_imports(edges, names, ("pkg.nets",), ("lightning",)) == ["pkg.nets.d -> pkg.c -> lightning"]
    assert matches("lit_translate.pretrained.check", FORBIDDEN) and matches("lightning.pytorch", FORBIDDEN)
    assert not matches("lit_translate.nets_extra", ("lit_translate.nets.x",))
