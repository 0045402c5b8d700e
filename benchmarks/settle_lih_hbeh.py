"""Are our LiH and H-Be-H references the ground states of our Hamiltonian? (issue 13, item 1)

Usage (long: run with nice on an otherwise idle machine; one process per molecule uses one core):

    nice .venv/bin/python benchmarks/settle_lih_hbeh.py --molecule LiH --out /tmp/settle
    nice .venv/bin/python benchmarks/settle_lih_hbeh.py --molecule HBeH --out /tmp/settle
    nice .venv/bin/python benchmarks/settle_lih_hbeh.py --molecule LiH --coarse --out /tmp/settle

Paper grid (default): DMRG of the molecule from start states that differ in kind, each to the protocol's
convergence criteria, plus one run with every knob turned towards "harder to fool" (window phase off, mixer
for 10 sweeps at amplitude 1e-3, a larger chi cap, svd_min 1e-11):

    hartree_fock      UHF Slater determinant (the protocol's first start; the second is noninteracting)
    noninteracting    determinant of T + v_ext
    product           electrons on the sites of highest non-interacting density
    random            that product state scrambled by random local gates
    covalent          product state with the neutral atoms' electron counts on each nucleus
    ionic             product state with the ionic electron counts (Li+ H-, H- Be2+ H-)
    hf_hard           hartree_fock start, window off, long strong mixer, larger chi, small svd_min

For each: energy, sweeps, wall time and the electrons in each nucleus' cell (cells split at the midpoints
between nuclei). ``--coarse``: the same molecule on a coarse grid where exact diagonalization is feasible
(LiH: G = 65, h = 0.32; H-Be-H: G = 33, h = 0.44), ED against DMRG from two starts.

Every finished paper-grid variant is appended to ``<out>/<molecule>.jsonl`` (reruns skip what is there);
``--coarse`` rewrites ``<out>/<molecule>-coarse.jsonl``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import pathlib
import sys
import time
import warnings

import numpy as np
from tenpy.networks.mps import MPS

from sksr.core.grid import PAPER_GRID, Grid
from sksr.core.systems import System
from sksr.references.dmrg.driver import run_dmrg
from sksr.references.dmrg.model import build_model
from sksr.references.dmrg.settings import DMRGSettings
from sksr.references.exact_diagonalization import system_fock_space_ground_state

MOLECULES = {
    "LiH": System("LiH", [3, 1], [-1.60, 1.60], 4, 0),
    "HBeH": System("HBeH", [1, 4, 1], [-3.52, 0.0, 3.52], 6, 0),
}
# Electrons per nucleus of the product starts (same order as the nuclei).
OCCUPATIONS = {
    "LiH": {"covalent": [3, 1], "ionic": [2, 2]},
    "HBeH": {"covalent": [1, 4, 1], "ionic": [2, 2, 2]},
}
COARSE_GRIDS = {"LiH": Grid(65, 0.32), "HBeH": Grid(33, 0.44)}
PROTOCOL = DMRGSettings()
HARD = DMRGSettings(window_threshold=0.0, mixer_sweeps=10, mixer_amplitude=1e-3, mixer_decay=1.5,
                    chi_schedule=((0, 64), (2, 128), (6, 192)), svd_min=1e-11, max_sweeps=40)


def nucleus_product_state(sites: list, system: System, grid: Grid, electrons: list[int]) -> MPS:
    """Product state with ``electrons[k]`` electrons on the sites nearest nucleus k (doubly occupied first);
    the unpaired electron of each nucleus with an odd count alternates up/down so that S_z = 0."""
    states = ["empty"] * grid.num_points
    spin_up_next = True
    for position, count in zip(system.nuclear_positions, electrons):
        centre = grid.index_of(position)
        offsets = [0, 1, -1, 2, -2, 3, -3]
        for k in range(count // 2):
            states[centre + offsets[k]] = "full"
        if count % 2:
            states[centre + offsets[count // 2]] = "up" if spin_up_next else "down"
            spin_up_next = not spin_up_next
    n_up = sum(state in ("up", "full") for state in states)
    n_down = sum(state in ("down", "full") for state in states)
    if (n_up, n_down) != (system.n_up, system.n_down):
        raise ValueError(f"{system.name}: product start has (N_up, N_dn) = {(n_up, n_down)}, "
                         f"expected {(system.n_up, system.n_down)}")
    return MPS.from_product_state(sites, states, bc="finite", unit_cell_width=grid.num_points)


def electrons_per_nucleus(density: np.ndarray, system: System, grid: Grid) -> list[float]:
    """Electrons in each nucleus' cell (cells split at the midpoints between neighbouring nuclei)."""
    positions = np.asarray(system.nuclear_positions, dtype=float)
    edges = np.concatenate([[-np.inf], (positions[1:] + positions[:-1]) / 2, [np.inf]])
    x = grid.coordinates
    weights = np.where(np.isin(x, (positions[1:] + positions[:-1]) / 2), 0.5, 1.0)  # a site on a midpoint
    return [float(grid.spacing * np.sum((density * weights)[(x >= lo) & (x <= hi)]))
            for lo, hi in zip(edges[:-1], edges[1:])]


def run_variant(name: str, system: System, grid: Grid, log: logging.Logger,
                protocol: DMRGSettings = PROTOCOL) -> dict:
    """One DMRG run of ``system`` on ``grid`` for the variant ``name`` (module docstring)."""
    settings, start = protocol, None
    if name in ("hartree_fock", "noninteracting", "product", "random"):
        settings = dataclasses.replace(protocol, start_state=name)
    elif name in ("covalent", "ionic"):
        sites = build_model(system, grid).lat.mps_sites()
        start = nucleus_product_state(sites, system, grid, OCCUPATIONS[system.name][name])
    elif name == "hf_hard":
        settings = HARD
    else:
        raise ValueError(f"unknown variant {name!r}")
    clock = time.perf_counter()
    outcome = run_dmrg(system, grid, settings, log=log, start=start)
    density = outcome.density_up + outcome.density_down
    return {
        "variant": name, "energy": outcome.energy, "sweeps": len(outcome.history),
        "max_bond_dim": max(outcome.history.bond_dim), "wall_seconds": time.perf_counter() - clock,
        "electrons_per_nucleus": electrons_per_nucleus(density, system, grid),
        "magnetization_per_nucleus": electrons_per_nucleus(outcome.density_up - outcome.density_down, system,
                                                           grid),
        "load_after": os.getloadavg()[0],
    }


def coarse_comparison(system: System, log: logging.Logger) -> list[dict]:
    """Exact diagonalization against DMRG (Hartree-Fock and random starts) on a coarse grid; chi up to 256
    (coarse grids need larger bond dimensions per site than the paper grid)."""
    grid = COARSE_GRIDS[system.name]
    clock = time.perf_counter()
    exact = system_fock_space_ground_state(system, grid)
    rows = [{"variant": "exact_diagonalization", "grid": grid.to_dict(), "energy": exact.energy,
             "wall_seconds": time.perf_counter() - clock,
             "electrons_per_nucleus": electrons_per_nucleus(exact.density, system, grid)}]
    log.info("%s", json.dumps(rows[0]))
    protocol = dataclasses.replace(PROTOCOL, chi_schedule=((0, 64), (2, 128), (4, 256)))
    for name in ("hartree_fock", "random"):
        row = run_variant(name, system, grid, log, protocol)
        row.update(grid=grid.to_dict(), error_vs_ed=row["energy"] - exact.energy)
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecule", choices=sorted(MOLECULES), required=True)
    parser.add_argument("--variants", nargs="*", default=["hartree_fock", "random", "noninteracting", "product",
                                                          "covalent", "ionic", "hf_hard"])
    parser.add_argument("--coarse", action="store_true", help="ED against DMRG on a coarse grid instead")
    parser.add_argument("--out", default="/tmp/sksr_settle")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("tenpy").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning)
    log = logging.getLogger("settle")
    system = MOLECULES[args.molecule]
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{system.name}{'-coarse' if args.coarse else ''}.jsonl"
    done = {json.loads(line)["variant"] for line in path.read_text().splitlines()} if path.exists() else set()
    rows = coarse_comparison(system, log) if args.coarse else []
    if not args.coarse:
        for name in args.variants:
            if name in done:
                continue
            rows.append(run_variant(name, system, PAPER_GRID, log))
            with open(path, "a") as stream:
                stream.write(json.dumps(rows[-1]) + "\n")
            log.info("%s", json.dumps(rows[-1]))
    else:
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    for row in [json.loads(line) for line in path.read_text().splitlines()]:
        cells = " / ".join(f"{n:.4f}" for n in row["electrons_per_nucleus"])
        print(f"| {row['variant']} | {row['energy']:.10f} | {row.get('sweeps', '')} | {cells} | "
              f"{row['wall_seconds']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
