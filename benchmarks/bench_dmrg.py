"""Wall time and accuracy of the DMRG references on the paper grid.

Usage (run long benchmarks with nice; the machine is shared):

    nice .venv/bin/python benchmarks/bench_dmrg.py --systems He Be --out /tmp/sksr_bench_dmrg
    nice .venv/bin/python benchmarks/bench_dmrg.py            # all systems of config/config.yaml

For every system: compute_reference (self-checked: DMRG from every start plus the bond-dimension check, or
exact diagonalization for N <= 2) with the config's references.dmrg and references.self_check settings
(--settings / --self-check JSON override them), save <out>/<system>.npz/.json, print energy, difference to the
published DMRG value (docs/physics.md section 9, ions only), method, spread between starts, bond-dimension
shift, sweeps, bond dimension, wall time and the 1-minute load average before/after. Ends with
<out>/summary.csv and <out>/bench.json. Results already in <out> are reused (delete them to rerun).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import platform
import sys
import time
import warnings

import yaml

from sksr.core.grid import Grid
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.self_checked import SelfCheckSettings, compute_reference, load_reference, load_systems_from_config, save_reference, write_summary

# Published DMRG energies (Ha), docs/physics.md section 9. One-electron values there are 3-point stencil values;
# we compare those to the 5-point exact one-electron energies of section 3 instead.
PUBLISHED = {
    "H": -0.6699723368, "He+": -1.4827789551, "Li2+": -2.3346607593, "Be3+": -3.2088629707,  # 5-point
    "He": -2.2377818497, "Li+": -3.8934314228, "Be2+": -5.6134721475,
    "Li": -4.2162539731, "Be+": -6.4592839810, "Be": -6.8105825987,
}
REPO = pathlib.Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--systems", nargs="*", help="system names (default: all in the config)")
    parser.add_argument("--out", default="/tmp/sksr_bench_dmrg")
    parser.add_argument("--settings", default=None, help="JSON dict of DMRGSettings overrides")
    parser.add_argument("--self-check", default=None, help="JSON dict of SelfCheckSettings overrides")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("tenpy").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)

    with open(args.config) as stream:
        config = yaml.safe_load(stream)
    grid = Grid.from_dict(config["grid"])
    systems = load_systems_from_config(config)
    if args.systems:
        by_name = {s.name: s for s in systems}
        missing = [name for name in args.systems if name not in by_name]
        if missing:
            parser.error(f"unknown systems {missing}; config has {sorted(by_name)}")
        systems = [by_name[name] for name in args.systems]
    references = config.get("references", {})
    settings = DMRGSettings.from_dict({**references.get("dmrg", {}), **json.loads(args.settings or "{}")})
    check = SelfCheckSettings.from_dict({**references.get("self_check", {}), **json.loads(args.self_check or "{}")})
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    rows = []
    total_clock = time.perf_counter()
    for system in systems:
        npz, meta = out / f"{system.name}.npz", out / f"{system.name}.json"
        load_before = os.getloadavg()[0]
        try:
            result, reused = (load_reference(npz), True) if npz.exists() else (None, False)
        except ValueError as error:  # an older reference format: recompute
            print(f"{npz}: {error}; recomputing", flush=True)
            result, reused = None, False
        if result is None:
            result = compute_reference(system, grid, settings, check, checkpoint_dir=out)
            save_reference(result, npz, meta)
        published = PUBLISHED.get(system.name)
        row = {
            "system": system.name,
            "energy": result.total_energy,
            "published": published,
            "error": None if published is None else result.total_energy - published,
            "sweeps": result.sweeps,
            "max_bond_dim": result.max_bond_dim,
            "method": result.method,
            "start_spread": result.self_check["start_spread"],
            "chi_shift": result.self_check["chi_shift"],
            "wall_seconds": result.wall_seconds,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
            "reused": reused,
        }
        rows.append(row)
        error = "" if row["error"] is None else f"{row['error']:+.2e}"
        shift = "" if row["chi_shift"] is None else f"{row['chi_shift']:+.1e}"
        print(f"{system.name:10s} E = {result.total_energy:.10f}  err = {error:>10s}  {result.method:21s} "
              f"spread = {row['start_spread']:.1e}  chi_shift = {shift:>8s}  sweeps = {result.sweeps:2d}  "
              f"chi = {result.max_bond_dim:4d}  wall = {result.wall_seconds:7.1f} s  load {load_before:.1f}->"
              f"{row['load_after']:.1f}{'  (reused)' if reused else ''}", flush=True)
    write_summary([out / f"{s.name}.npz" for s in systems], out / "summary.csv")
    record = {
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "python": sys.version.split()[0]},
        "settings": settings.to_dict(),
        "self_check": check.to_dict(),
        "rows": rows,
        "sum_wall_seconds": sum(r["wall_seconds"] for r in rows),
        "elapsed_seconds_this_call": time.perf_counter() - total_clock,
    }
    (out / "bench.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"total wall (sum over systems) = {record['sum_wall_seconds']:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
