"""Benchmark: warm 30-iteration LSDA solves of He (RKS) and Li (UKS) on the paper grid.

Reports, in one run (the machine is noisy; compare ratios within a run):
- the warm wall time of ``run_scf`` for He and Li with the banded (default) and dense eigensolvers,
- the time of one dense 513x513 eigendecomposition (NumPy/LAPACK and jnp.linalg.eigh),
- the same solves expressed in "dense eighs' worth".

Usage: .venv/bin/python benchmarks/bench_scf.py [--repeats 10] [--skip-dense-scf]
Targets (issue 2): He <= 0.28 s and Li <= 0.54 s warm on 2 cores (published code: 0.565 s, 1.081 s).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

import sksr
from sksr.core.hamiltonian import one_electron_hamiltonian
from sksr.core.systems import System
from sksr.functionals.lsda import lsda
from sksr.ks.scf import prepare_batch, run_scf

HE = System("He", (2,), (0.0,), 2, 0)
LI = System("Li", (3,), (0.0,), 3, 1)


def median_seconds(function, repeats: int) -> float:
    """Median wall time of ``function()`` over ``repeats`` calls after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_scf(system: System, solver: str, repeats: int) -> tuple[float, float]:
    batch = prepare_batch([system], sksr.PAPER_GRID)
    xc = lsda()
    result = {}

    def solve():
        result["energy"] = float(run_scf(batch, xc, 30, solver=solver).final_energy[0])

    seconds = median_seconds(solve, repeats)
    return seconds, result["energy"]


def time_dense_eigh(repeats: int) -> dict:
    matrix = one_electron_hamiltonian(HE, sksr.PAPER_GRID)
    jmatrix = jnp.asarray(matrix)
    jitted = jax.jit(jnp.linalg.eigh)
    return {
        "numpy_eigh_s": median_seconds(lambda: np.linalg.eigh(matrix), repeats),
        "jax_eigh_s": median_seconds(lambda: jax.block_until_ready(jitted(jmatrix)), repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--skip-dense-scf", action="store_true", help="skip the slow dense-eigh SCF")
    args = parser.parse_args()

    report = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "load_average_1min": os.getloadavg()[0],
        "jax": jax.__version__,
        "device": str(jax.devices()[0]),
        **time_dense_eigh(args.repeats),
    }
    solvers = ["banded"] if args.skip_dense_scf else ["banded", "dense"]
    for solver in solvers:
        for system in (HE, LI):
            seconds, energy = time_scf(system, solver, args.repeats if solver == "banded" else 2)
            report[f"{system.name}_{solver}_s"] = seconds
            report[f"{system.name}_{solver}_energy"] = energy
            report[f"{system.name}_{solver}_in_numpy_eighs"] = seconds / report["numpy_eigh_s"]
    report["load_average_1min_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
