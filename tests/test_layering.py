"""The sub-packages import one way: nothing low imports anything high, and no cycle.

The order, low to high (modules at the top of ``contextures`` such as ``exceptions``, ``_io``,
``validation`` and ``spec`` are the floor):

    datasets → contexts → spectral, encoders → evaluation → runner → reports → experiments → cli

``spectral`` and ``encoders`` share a level and may not import each other's higher parts;
``semisupervised`` sits with ``evaluation``. Every ``import`` statement of every module is read
with :mod:`ast` (including imports inside functions), so the check needs no import of the
package and sees lazy imports too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import contextures

ROOT = Path(contextures.__file__).resolve().parent
LEVELS = {
    "": 0,               # contextures/*.py: exceptions, _io, validation, spec, ...
    "datasets": 1,
    "contexts": 2,
    "spectral": 3,
    "encoders": 3,
    "evaluation": 4,
    "semisupervised": 4,
    "runner": 5,
    "reports": 6,
    "experiments": 7,
    "cli": 8,
}

KNOWN_UPWARD: dict[tuple[str, str], set[str]] = {}
"""Upward imports allowed by name (none: any upward import fails)."""


def _level_name(dotted: str) -> str | None:
    """The sub-package of ``contextures.<...>`` ('' for a top-level module); None elsewhere.

    ``contextures.__main__`` (``python -m contextures``) only starts the command line: it
    belongs to ``cli``.
    """
    parts = dotted.split(".")
    if parts[0] != "contextures":
        return None
    if parts[1:2] == ["__main__"]:
        return "cli"
    return parts[1] if len(parts) > 1 and (ROOT / parts[1]).is_dir() else ""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("contextures", *parts))


def _imports(path: Path) -> set[str]:
    """Every module a file imports, as absolute dotted names (relative imports resolved)."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                base = ".".join(package[: len(package) - node.level + 1]
                                + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importing sub-package, imported sub-package) → the importing files."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        source = _level_name(_module_name(path))
        targets = {_level_name(name) for name in _imports(path)} - {None, source}
        for target in targets:
            edges.setdefault((source, target), []).append(str(path.relative_to(ROOT)))
    return edges


def test_every_subpackage_has_a_level():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(LEVELS), f"give these a level: {sorted(packages - set(LEVELS))}"


def test_nothing_low_imports_anything_high():
    upward = {f"{s or 'contextures'} → {t or 'contextures'}": new
              for (s, t), files in _edges().items()
              if s in LEVELS and t in LEVELS and LEVELS[t] > LEVELS[s]
              for new in [sorted(set(files) - KNOWN_UPWARD.get((s, t), set()))] if new}
    assert not upward, f"imports against the layering: {upward}"


def test_no_cycle_between_subpackages():
    edges = _edges()
    for pair, files in KNOWN_UPWARD.items():
        left = set(edges.get(pair, [])) - files
        if left:
            edges[pair] = sorted(left)
        else:
            edges.pop(pair, None)
    cycles = sorted(f"{a or 'contextures'} ↔ {b or 'contextures'}" for (a, b) in edges
                    if a < b and (b, a) in edges)
    assert not cycles, f"sub-packages importing each other: {cycles}"
