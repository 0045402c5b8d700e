"""Benchmark: KSR loss-and-gradient evaluations on the paper grid (see README_training.md).

Setup (physics.md section 12): K = 10 SCF iterations, training set H, He, Li, Be, Be2+, grid 513 x 0.08,
the published loss (last iteration's energy + final density). References: DMRG results from
``results/references/<name>.npz`` when all five exist (keys ``energy`` and ``density``), otherwise
LSDA-made stand-in targets -- timing does not depend on the targets' values.

Reported (all warm, i.e. after compilation; median and min of ``--repeats``; wall and process CPU time,
the CPU time being the robust number on a shared machine):
  1. per-op profile of one sKSR-global evaluation (``jax.profiler`` trace, summed per XLA op kind);
  2. the SCF alone (two-parameter scaled LSDA) and single-seed sKSR-global / -LSDA / -GGA evaluations,
     network float32 (the published protocol) and float64, with the ``device`` and ``banded`` solvers;
  3. ``--seeds`` seeds of sKSR-global in one vmapped call (``train_seeds_batched``), per seed;
  4. the training stage of the paper config (3 models x 30 seeds x 301 evaluations, one seed per job,
     ``--jobs`` jobs side by side) estimated from the measured evaluation times.
The load average is printed before and after.

Usage: .venv/bin/python benchmarks/bench_training.py [--repeats 7] [--seeds 30] [--solvers device banded]
       [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import collections
import glob
import gzip
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import sksr
from sksr.core.systems import System
from sksr.functionals import lsda
from sksr.functionals.neural import flatten_params, init_params
from sksr.ks import scf
from sksr.training.loss import LossSettings, ksr_loss, make_references
from sksr.training.objective import _Problem
from sksr.training.settings import TrainingSettings

TRAIN = {
    "H": System("H", [1], [0.0], 1, 1),
    "He": System("He", [2], [0.0], 2, 0),
    "Li": System("Li", [3], [0.0], 3, 1),
    "Be": System("Be", [4], [0.0], 4, 0),
    "Be2+": System("Be2+", [4], [0.0], 2, 0),
}
PAPER_STAGE = {"models": ("lsda", "gga", "global"), "seeds": 30, "evaluations": 301, "checkpoints": 31}


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
    """(compile + first call s, warm wall times s, warm process CPU times s)."""
    start = time.perf_counter()
    jax.block_until_ready(function())
    first = time.perf_counter() - start
    walls, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        jax.block_until_ready(function())
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return first, walls, cpus


def summary(name, first, walls, cpus, per=1):
    result = {
        "first_s": first,
        "median_s": statistics.median(walls) / per,
        "min_s": min(walls) / per,
        "cpu_median_s": statistics.median(cpus) / per,
        "load_1min": os.getloadavg()[0],
    }
    unit = " per seed" if per > 1 else ""
    print(
        f"{name:<52s} first {first:6.1f} s | warm{unit}: wall median {result['median_s']:.3f} s "
        f"min {result['min_s']:.3f} s, CPU median {result['cpu_median_s']:.3f} s | load {result['load_1min']:.1f}",
        flush=True,
    )
    return result


def problem(batch, refs, kind, float32, solver):
    settings = TrainingSettings(num_iterations=10, network_float32=float32, eigensolver=solver)
    spec = settings.model_spec(kind)
    return _Problem(batch, refs, spec, settings), spec


def op_profile(function, repeats: int = 2, top: int = 15) -> list:
    """Per-op profile: XLA ops of ``repeats`` warm calls summed per op kind (trailing '.N' dropped)."""
    function()
    with tempfile.TemporaryDirectory() as directory:
        with jax.profiler.trace(directory, create_perfetto_trace=True):
            for _ in range(repeats):
                jax.block_until_ready(function())
        files = glob.glob(f"{directory}/**/perfetto_trace.json.gz", recursive=True)
        if not files:
            print("  (no perfetto trace written; per-op profile skipped)")
            return []
        data = json.load(gzip.open(files[0]))
    events = data["traceEvents"] if isinstance(data, dict) else data
    skip = ("PjitFunction", "ThunkExecutor", "$", "CommonPjRt", "shard_args", "DevicePut", "np.asarray")
    total, count = collections.defaultdict(float), collections.Counter()
    for event in events:
        if event.get("ph") == "X" and not event["name"].startswith(skip):
            kind = re.sub(r"\.\d+$", "", event["name"])
            total[kind] += event["dur"] / 1e3 / repeats
            count[kind] += 1
    rows = sorted(total.items(), key=lambda item: -item[1])[:top]
    all_ops = sum(total.values())
    print(f"  per-op profile (ms per evaluation, profiler overhead included; all ops {all_ops:.1f} ms):")
    for kind, ms in rows:
        print(f"    {ms:8.2f} ms  {count[kind] // repeats:6d} calls  {kind}")
    return [{"op": kind, "ms": ms, "calls": count[kind] // repeats} for kind, ms in rows]


def stage_estimate(single: dict, jobs: int) -> dict:
    """Training stage of the paper config from measured warm evaluation times (one seed per job)."""
    seed_seconds = {
        kind: PAPER_STAGE["evaluations"] * single[kind] for kind in PAPER_STAGE["models"] if kind in single
    }
    total = PAPER_STAGE["seeds"] * sum(seed_seconds.values())
    estimate = {"seconds_per_seed": seed_seconds, "core_seconds": total, "jobs": jobs, "wall_s": total / jobs}
    print(
        f"paper training stage (3 models x 30 seeds x 301 evaluations, {jobs} jobs side by side, "
        f"warm evaluations only): {total / jobs / 60:.1f} min "
        f"(per seed: {', '.join(f'{k} {v:.0f} s' for k, v in seed_seconds.items())})"
    )
    return estimate


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--seeds", type=int, default=30, help="seeds in the vmapped call (0 to skip)")
    parser.add_argument("--batched-repeats", type=int, default=2)
    parser.add_argument("--solvers", nargs="+", default=["device", "banded"])
    parser.add_argument("--jobs", type=int, default=2, help="training jobs side by side in the stage estimate")
    parser.add_argument("--profile", action="store_true", help="print the per-op profile")
    parser.add_argument("--references", type=Path, default=Path("results/references"))
    parser.add_argument("--json", type=Path, default=None, help="write the numbers here")
    args = parser.parse_args()

    load_before = os.getloadavg()
    print(f"devices {jax.devices()}  cpu_count {os.cpu_count()}  load average before {load_before}")
    grid = sksr.PAPER_GRID
    systems = list(TRAIN.values())
    batch = scf.prepare_batch(systems, grid)
    refs, source = references(batch, systems, grid, args.references)
    print(f"training set {[s.name for s in systems]}, grid {grid.num_points} x {grid.spacing}, references: {source}")
    results = {"references": source, "load_before": load_before, "devices": [str(d) for d in jax.devices()]}
    solver = args.solvers[0]

    if args.profile:
        prob, spec = problem(batch, refs, "global", True, solver)
        x = flatten_params(spec, init_params(spec, 0))
        print(f"sKSR-global, network float32, solver {solver}:")
        results["profile"] = op_profile(lambda: prob.loss_and_gradient(x))

    loss_settings = LossSettings()
    for name in args.solvers:
        baseline = jax.jit(
            jax.value_and_grad(
                lambda scales, name=name: ksr_loss(
                    scf.run_scf(batch, jax.tree_util.Partial(lsda.scaled_lsda_eps_xc, scales), 10, solver=name),
                    refs,
                    grid.spacing,
                    loss_settings,
                ).total
            )
        )
        results[f"scf_alone_{name}"] = summary(
            f"SCF alone (scaled LSDA) loss+grad, {name}", *timed(lambda: baseline(jnp.ones(2)), args.repeats)
        )

    single = {}
    for name in args.solvers:
        for kind, float32 in (("global", True), ("global", False), ("lsda", True), ("gga", True)):
            if name != solver and kind != "global":
                continue
            prob, spec = problem(batch, refs, kind, float32, name)
            x = flatten_params(spec, init_params(spec, 0))
            tag = f"{kind}_{'f32' if float32 else 'f64'}_{name}"
            results[tag] = summary(
                f"sKSR-{kind} loss+grad, network {'float32' if float32 else 'float64'}, {name}",
                *timed(lambda: prob.loss_and_gradient(x), args.repeats),
            )
            if name == solver and float32:
                single[kind] = results[tag]["cpu_median_s"]

    if args.seeds > 0:
        prob, spec = problem(batch, refs, "global", True, solver)
        xs = np.stack([flatten_params(spec, init_params(spec, s)) for s in range(args.seeds)])
        results[f"global_f32_{solver}_{args.seeds}_seeds_vmapped"] = summary(
            f"sKSR-global, {args.seeds} seeds vmapped, float32, {solver}",
            *timed(lambda: prob.batched_loss_and_gradient(xs), args.batched_repeats),
            per=args.seeds,
        )

    results["paper_training_stage_estimate"] = stage_estimate(single, args.jobs)
    load_after = os.getloadavg()
    results["load_after"] = load_after
    print(f"load average after {load_after}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
