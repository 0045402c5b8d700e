"""The package's layers, and a check that imports only point down.

    python -m sksr.pipeline.layers   # print the import graph between subpackages; exit 1 on an upward import

A layer is a subpackage of ``sksr``; the layer of a module is the subpackage it lives in (``sksr.ks.scf`` is
in ``ks``), so there is no list of modules to keep. Layers, bottom to top (a module may import its own layer
and the layers below):

    io           atomic writes and readers, provenance records, interrupts
    core         constants, grid, systems, Hamiltonian, dissociation-curve geometries
    references   the reference file format, DMRG, exact diagonalization, self-checked references
    ks           the float64 switch, the Kohn-Sham eigensolver and SCF (JAX)
    functionals  LSDA, the exact one-electron functional, the neural networks, the published models
    training     the KSR loss, datasets, training, replay log, checkpoint and seed selection
    evaluation   predictions, tables, selection rules beyond the paper, figures
    pipeline     config checks, audit, command line, code dependencies, this check

The facts are the modules' import statements (``sksr.pipeline.code_dependencies``), imports inside functions
included, so a lazy import cannot hide an upward dependency. The package root (``sksr/__init__.py``, which
only re-exports ``Grid``, ``PAPER_GRID`` and ``System``) stands outside the layers: Python runs it before
any submodule, so it is not counted as an import of the modules below it. A module outside every layer's
subpackage (``sksr/x.py``, or a subpackage not in ``LAYERS``) is an error that names it.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from sksr.pipeline.code_dependencies import PACKAGE, imported_package_modules

LAYERS = ("io", "core", "references", "ks", "functionals", "training", "evaluation", "pipeline")
RANK = {layer: rank for rank, layer in enumerate(LAYERS)}
SRC = Path(__file__).resolve().parents[2]


def layer_of(module: str) -> str:
    """The layer of a dotted module name, its subpackage (``sksr.ks.scf`` -> ``ks``); KeyError names a module
    that lies in no layer's subpackage."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2 or parts[1] not in RANK:
        raise KeyError(f"module {module} is in no layer: move it into one of the subpackages {', '.join(LAYERS)}")
    return parts[1]


def package_modules(src: Path = SRC) -> list[str]:
    """Every module of the package, dotted (``sksr``, ``sksr.ks``, ``sksr.ks.scf``, ...)."""
    names = []
    for path in sorted((src / "sksr").rglob("*.py")):
        parts = path.relative_to(src).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def import_edges(src: Path = SRC) -> list[tuple[str, str]]:
    """(importer, imported) for every package-internal import, submodule imports of a package included."""
    edges = []
    for module in package_modules(src)[1:]:  # the root first, left out (module docstring)
        path = src.joinpath(*module.split("."))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        targets = sorted(imported_package_modules(path, src) - {module, PACKAGE})
        edges += [(module, target) for target in targets]
    return edges


def upward_imports(src: Path = SRC) -> list[str]:
    """``"a (layer) imports b (higher layer)"`` for every import that points up."""
    found = []
    for source, target in import_edges(src):
        low, high = layer_of(source), layer_of(target)
        if RANK[high] > RANK[low]:
            found.append(f"{source} ({low}) imports {target} ({high})")
    return found


def main() -> int:
    counts = Counter((layer_of(a), layer_of(b)) for a, b in import_edges())
    print("imports between subpackages (importer -> imported: count):")
    for (low, high), count in sorted(counts.items(), key=lambda item: (RANK[item[0][0]], RANK[item[0][1]])):
        if low != high:
            print(f"  {low:12s} -> {high:12s} {count}")
    upward = upward_imports()
    for line in upward:
        print(f"UPWARD: {line}")
    print("every import points down" if not upward else f"{len(upward)} upward imports")
    return 1 if upward else 0


if __name__ == "__main__":
    sys.exit(main())
