"""Which package modules a workflow script depends on, read from its import statements.

The workflow declares these files as rule inputs (``code()`` in ``workflow/rules/common.smk``), so editing
``src/sksr/ks/scf.py`` reruns the jobs whose scripts reach it through their imports, and no others. The facts
are static: every ``import sksr...`` / ``from sksr... import ...`` of the script and, transitively, of the
modules it reaches (imports inside functions included), plus the ``__init__`` of every package on the way.

Workflow plumbing (``PLUMBING``: the ``sksr.io`` and ``sksr.pipeline`` layers, i.e. provenance records, atomic
writes, interrupts, audit, CLI, config checks) is followed by every job but changes no number, so it is left
out: editing it reruns nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "sksr"
PLUMBING = frozenset(f"{PACKAGE}.{layer}" for layer in ("io", "pipeline"))


def is_plumbing(module: str) -> bool:
    """True for a module of the plumbing layers (``sksr.io``, ``sksr.pipeline``) and for their packages."""
    return any(module == layer or module.startswith(f"{layer}.") for layer in PLUMBING)


def module_file(module: str, src: Path) -> Path | None:
    """``src/sksr/a/b.py`` or ``src/sksr/a/b/__init__.py`` of a dotted module name (None if neither exists)."""
    base = src.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_package_modules(path: Path, src: Path) -> set[str]:
    """Dotted ``sksr`` modules named by the import statements of one file (submodules of ``from`` resolved)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] == PACKAGE and module_file(n, src))
    return found


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` -> ``[a, a.b, a.b.c]``: importing a module runs every package ``__init__`` above it."""
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def script_dependencies(script: str | Path, src: str | Path) -> list[Path]:
    """Files of every ``sksr`` module ``script`` reaches through its imports (plumbing left out), sorted."""
    src = Path(src)
    todo = sorted(imported_package_modules(Path(script), src))
    seen: set[str] = set()
    while todo:
        module = todo.pop()
        for name in _with_parents(module):
            if name in seen or is_plumbing(name):
                continue
            seen.add(name)
            todo.extend(imported_package_modules(module_file(name, src), src))
    return sorted(module_file(name, src) for name in seen)
