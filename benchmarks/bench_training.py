"""Benchmark: one warm KSR loss-and-gradient evaluation on the paper grid (see README_training.md).

Setup (docs/physics.md section 12): sKSR-global, K = 10 SCF iterations, training set H, He, Li, Be, Be2+,
grid 513 x 0.08. References: DMRG results from ``results/references/<name>.npz`` when all five exist
(keys ``energy`` and ``density``), otherwise LSDA-made stand-in targets -- timing does not depend on the
targets' values.

Timed (all warm, i.e. after compilation, median and min of ``--repeats``):
  - sKSR-global loss + gradient, network in float64 (default) and in float32;
  - the same SCF with the two-parameter scaled LSDA (lsda.scaled_lsda_eps_xc) (SCF cost without network);
  - ``--seeds`` seeds (default 30) in one vmapped loss-and-gradient call, as ``train_seeds_batched`` does,
    network in float64 and in float32.
The machine load (``os.getloadavg``) is printed before and after; compare ratios taken in one run.

Usage: .venv/bin/python benchmarks/bench_training.py [--repeats 5] [--seeds 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import sksr
from sksr import scf
from sksr.functionals import lsda
from sksr.functionals.neural import flatten_params, init_params
from sksr.loss import LossSettings, ksr_loss, make_references
from sksr.systems import System
from sksr.training import TrainingSettings, _Problem

TRAIN = {
    "H": System("H", [1], [0.0], 1, 1),
    "He": System("He", [2], [0.0], 2, 0),
    "Li": System("Li", [3], [0.0], 3, 1),
    "Be": System("Be", [4], [0.0], 4, 0),
    "Be2+": System("Be2+", [4], [0.0], 2, 0),
}


def references(batch, systems, grid, root: Path):
    """DMRG references if available for every system, else LSDA stand-ins; returns (refs, source)."""
    paths = [root / f"{s.name}.npz" for s in systems]
    if all(p.exists() for p in paths):
        try:
            energies, densities = [], []
            for p in paths:
                with np.load(p, allow_pickle=False) as data:
                    energies.append(float(data["energy"]))
                    densities.append(np.asarray(data["density"], dtype=np.float64).reshape(-1))
            refs = make_references(energies, densities, [s.n_electrons for s in systems], grid)
            return refs, f"DMRG ({root})"
        except (KeyError, ValueError) as error:
            print(f"note: could not use {root}: {error}; falling back to LSDA stand-ins")
    trajectory = scf.run_scf(batch, lsda.lsda(), 30)
    refs = make_references(
        np.asarray(trajectory.total_energy[:, -1]),
        np.asarray(trajectory.density[:, -1].sum(1)),
        [s.n_electrons for s in systems],
        grid,
    )
    return refs, "LSDA stand-ins (timing only)"


def timed(function, repeats: int):
    """(compile+first call seconds, list of warm call seconds)."""
    start = time.perf_counter()
    jax.block_until_ready(function())
    first = time.perf_counter() - start
    warm = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function())
        warm.append(time.perf_counter() - start)
    return first, warm


def summary(name, first, warm, per=1):
    med, best = statistics.median(warm), min(warm)
    line = f"{name:<48s} first {first:7.2f} s   warm median {med:7.3f} s  min {best:7.3f} s"
    if per > 1:
        line += f"   ({med / per:.3f} s per seed)"
    print(line, flush=True)
    return {"first_s": first, "warm_s": warm, "median_s": med, "min_s": best}


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=30, help="seeds in the batched call (0 to skip)")
    parser.add_argument("--batched-repeats", type=int, default=2)
    parser.add_argument("--references", type=Path, default=Path("results/references"))
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    print(f"devices {jax.devices()}  cpu_count {os.cpu_count()}  load average before {load_before}")
    grid = sksr.PAPER_GRID
    systems = list(TRAIN.values())
    batch = scf.prepare_batch(systems, grid)
    refs, source = references(batch, systems, grid, args.references)
    print(
        f"training set {[s.name for s in systems]}, grid {grid.num_points} x {grid.spacing}, references: {source}"
    )
    results = {"references": source, "load_before": load_before, "devices": [str(d) for d in jax.devices()]}

    loss_settings = LossSettings()
    baseline = jax.jit(
        jax.value_and_grad(
            lambda scales: ksr_loss(
                scf.run_scf(batch, jax.tree_util.Partial(lsda.scaled_lsda_eps_xc, scales), 10),
                refs,
                grid.spacing,
                loss_settings,
            ).total
        )
    )
    scales = jnp.asarray([1.0, 1.0])
    results["scaled_lsda"] = summary(
        "SCF alone: scaled LSDA loss+grad, K=10", *timed(lambda: baseline(scales), args.repeats)
    )

    for float32 in (False, True):
        settings = TrainingSettings(num_iterations=10, network_float32=float32)
        spec = settings.model_spec("global")
        problem = _Problem(batch, refs, spec, settings)
        x = flatten_params(spec, init_params(spec, 0))
        label = f"sKSR-global loss+grad, K=10, network {'float32' if float32 else 'float64'}"
        results[f"global_{'f32' if float32 else 'f64'}"] = summary(
            label, *timed(lambda: problem.loss_and_gradient(x), args.repeats)
        )

    if args.seeds > 0:
        for float32 in (False, True):
            settings = TrainingSettings(num_iterations=10, network_float32=float32)
            spec = settings.model_spec("global")
            problem = _Problem(batch, refs, spec, settings)
            xs = np.stack([flatten_params(spec, init_params(spec, s)) for s in range(args.seeds)])
            tag = "float32" if float32 else "float64"
            results[f"global_{tag}_{args.seeds}_seeds_batched"] = summary(
                f"sKSR-global, {args.seeds} seeds vmapped, network {tag}",
                *timed(lambda: problem.batched_loss_and_gradient(xs), args.batched_repeats),
                per=args.seeds,
            )

    load_after = os.getloadavg()
    results["load_after"] = load_after
    print(f"load average after {load_after}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
