#!/usr/bin/env python3
"""Exact H2 dissociation curve of the KSR study on the paper grid, by exact diagonalization (test data).

    .venv/bin/python tools/ksr_h2_exact_curve.py [--processes 2] [--out tests/data/ksr_h2_exact_curve.json]

For every separation R = 0.32, 0.40, ..., 6.00 bohr (72 geometries, nuclei placed by ``sksr.core.curves``) the
singlet ground state of the lattice Hamiltonian is found by Lanczos in the two-electron space from two
start vectors (orbital product and random) that must agree to 1e-9 Ha. The JSON holds, per separation, the
electronic energy (no E_NN), the nuclear repulsion, the start spread and the residual, plus the code
version and grid: ``tests/test_ksr_study.py`` compares Kohn-Sham curves with it and recomputes a few points.
About 20 s per geometry and start on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from sksr.core.curves import hydrogen_molecule, separations  # noqa: E402
from sksr.core.grid import Grid  # noqa: E402
from sksr.core.hamiltonian import nuclear_repulsion  # noqa: E402
from sksr.references.exact_diagonalization import two_electron_ground_state  # noqa: E402

GRID = Grid(num_points=513, spacing=0.08)
SEPARATIONS = separations(0.32, 6.00, 0.08)
START_TOLERANCE = 1e-9  # Ha


def exact_point(separation: float) -> dict:
    """ED of H2 at one separation from two starts: energies (Ha), spread, residual, wall seconds."""
    system = hydrogen_molecule(separation, GRID.spacing)
    started = time.time()
    results = [two_electron_ground_state(system, GRID, start=start) for start in ("orbitals", "random")]
    energies = [r.energy for r in results]
    spread = max(energies) - min(energies)
    if spread > START_TOLERANCE:
        raise RuntimeError(f"{system.name}: the two Lanczos starts disagree by {spread:.2e} Ha")
    best = min(results, key=lambda r: r.energy)
    return {
        "system": system.name,
        "separation": float(separation),
        "nuclear_positions": list(system.nuclear_positions),
        "electronic_energy": best.energy,
        "nuclear_repulsion": float(nuclear_repulsion(system)),
        "start_spread": spread,
        "residual": best.residual,
        "wall_seconds": time.time() - started,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "ksr_h2_exact_curve.json")
    args = parser.parse_args(argv)
    with ProcessPoolExecutor(args.processes) as pool:
        points = []
        for point in pool.map(exact_point, SEPARATIONS):
            print(f"{point['system']}: E = {point['electronic_energy']:.10f} Ha, spread {point['start_spread']:.1e}, "
                  f"{point['wall_seconds']:.0f} s", flush=True)
            points.append(point)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    data = {
        "description": "exact (ED) singlet ground-state energies of H2 on the grid, electronic (no E_NN), Ha",
        "generated_by": "tools/ksr_h2_exact_curve.py",
        "commit": commit,
        "grid": {"num_points": GRID.num_points, "spacing": GRID.spacing},
        "start_tolerance": START_TOLERANCE,
        "points": points,
    }
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out} ({len(points)} separations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
