#!/usr/bin/env python3
"""Write the results page (Markdown) of a finished run of the KSR study (config/ksr.yaml).

    .venv/bin/python tools/ksr_results_page.py RUN_DIR [CONFIG] [--pauses FILE] > docs/results_ksr.md

RUN_DIR is a checkout in which the study ran (it holds results/, figures/); CONFIG is the config file it ran
(default RUN_DIR/config/ksr.yaml), read for the settings the page states (grid, K, budget, seeds).
Every number comes from the run's tables (figures/tables/curve_errors.csv, seeds.csv, learning_curve.md), the direct-ML
record and the jobs' provenance records; the published claims are those of docs/physics.md section 11.
``--pauses FILE``: intervals during which the run's jobs were suspended (``results_page.read_pauses``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.linalg
import yaml
from results_page import command_line, read_pauses, stage_times  # tools/results_page.py (this script's folder)

from sksr.core.curves import H2_H2_BOND  # noqa: E402 (src/ on the path via results_page)
from sksr.core.hamiltonian import external_potential, interaction_matrix, kinetic_lower_band, nuclear_repulsion  # noqa: E402
from sksr.core.systems import System  # noqa: E402
from sksr.functionals import MODEL_LABELS  # noqa: E402
from sksr.references.self_checked import compute_reference, load_reference  # noqa: E402


def curve_table(run: Path) -> str:
    """The H2 and H2+ rows of curve_errors.csv: test and all scopes per method."""
    table = pd.read_csv(run / "figures" / "tables" / "curve_errors.csv")
    lines = ["| method | curve | scope | geometries | MAE (mHa) | largest error (mHa) | at R (bohr) | all within 1.6 mHa |",
             "|---|---|---|---|---|---|---|---|"]
    for row in table[table["scope"].isin(["test", "all"])].itertuples(index=False):
        within = "yes" if str(row.within_chemical_accuracy) == "True" else "no"
        lines.append(f"| {row.method} | {row.curve} | {row.scope} | {row.count} | {row.mae_mha:.2f} | "
                     f"{row.max_abs_error_mha:.2f} | {row.at_separation:.2f} | {within} |")
    return "\n".join(lines)


def seed_table(run: Path) -> str:
    """Every seed: selected checkpoint, validation loss, H2 test MAE (mHa)."""
    seeds = pd.read_csv(run / "figures" / "tables" / "seeds.csv")
    lines = ["| model | seed | evaluations | selected checkpoint | validation loss | test MAE (mHa) | selected |",
             "|---|---|---|---|---|---|---|"]
    for row in seeds.itertuples(index=False):
        lines.append(f"| {row.model} | {row.seed} | {row.num_evaluations} | {row.selected_evaluation} | "
                     f"{row.validation_loss:.3e} | {1000 * row.test_mae:.2f} | {'**yes**' if row.selected else ''} |")
    return "\n".join(lines)


def one_electron_eigenvalue(system: System, grid) -> float:
    """Lowest eigenvalue (Ha) of T + v_ext (5-point T) by LAPACK's banded solver (``eig_banded``), a
    different route from the references' dense ``eigh``."""
    bands = kinetic_lower_band(grid)
    bands[0] += external_potential(system, grid)
    return float(scipy.linalg.eig_banded(bands, lower=True, eigvals_only=True, select="i", select_range=(0, 0))[0])


def curve_reference_files(run: Path, molecule: str) -> dict[float, Path]:
    """The run's reference files of one curve, by separation (bohr), sorted (loaded only where used)."""
    found = {}
    for path in (run / "results" / "references").glob(f"{molecule}-R*.npz"):
        if path.stem.rsplit("-R", 1)[0] == molecule:
            found[float(path.stem.rsplit("-R", 1)[1])] = path
    return dict(sorted(found.items()))


def most_stretched(files: dict[float, Path]):
    """(separation, reference) of the largest separation of a curve."""
    separation = max(files)
    return separation, load_reference(files[separation])


def shifted(values: np.ndarray, steps: int) -> np.ndarray:
    """``values`` moved by ``steps`` grid points, zero filled (what leaves the grid is dropped); shape (G,)."""
    out = np.zeros_like(values)
    if steps >= 0:
        out[steps:] = values[: values.size - steps]
    else:
        out[:steps] = values[-steps:]
    return out


def frozen_fragment_interaction(fragment, first_nuclei: tuple[float, float]) -> float:
    """First-order (electrostatic) interaction, Ha, of two copies of a fragment's exact charge density
    (nuclei of charges Z_a and electrons) whose first nuclei sit at ``first_nuclei`` (bohr, on the grid),
    under the exponential interaction: electrons-electrons + electrons-nuclei both ways + nuclei-nuclei."""
    grid, h = fragment.grid, fragment.grid.spacing
    steps = [int(round((x - fragment.system.nuclear_positions[0]) / h)) for x in first_nuclei]
    copies = [dataclasses.replace(fragment.system, nuclear_positions=tuple(x + k * h for x in fragment.system.nuclear_positions))
              for k in steps]
    densities = [shifted(fragment.density, k) for k in steps]
    electrons = h * h * densities[0] @ interaction_matrix(grid) @ densities[1]
    electrons_nuclei = h * densities[0] @ external_potential(copies[1], grid) + h * densities[1] @ external_potential(copies[0], grid)
    both = dataclasses.replace(copies[0], nuclear_charges=copies[0].nuclear_charges + copies[1].nuclear_charges,
                               nuclear_positions=copies[0].nuclear_positions + copies[1].nuclear_positions)
    nuclei = nuclear_repulsion(both) - nuclear_repulsion(copies[0]) - nuclear_repulsion(copies[1])
    return float(electrons + electrons_nuclei + nuclei)


def exactness_section(run: Path) -> str:
    """Checks of the references: H2+ against a second eigensolver; the most stretched geometry of each
    curve against its separated fragments (binding = E + E_NN - sum of the fragments' E + E_NN)."""
    h2_plus, h2 = curve_reference_files(run, "H2+"), curve_reference_files(run, "H2")
    h4, h2_h2 = curve_reference_files(run, "H4"), curve_reference_files(run, "H2-H2")
    lines = []
    if h2_plus:
        references = [load_reference(path) for path in h2_plus.values()]
        worst = max(abs(r.total_energy - one_electron_eigenvalue(r.system, r.grid)) for r in references)
        lines.append(f"- H2+ ({len(h2_plus)} geometries): largest |E - lowest eigenvalue of the 5-point one-electron "
                     f"Hamiltonian by LAPACK's banded solver| = {worst:.1e} Ha (a consistency check of the "
                     "exact-diagonalization path and the files).")
    if not h2:
        return "\n".join(lines) or "The run has no references yet."
    h2_stretched = most_stretched(h2)
    e_h = compute_reference(System("H", (1,), (0.0,), 1, 1), h2_stretched[1].grid).total_energy
    for label, stretched, count in (("H2", h2_stretched, 2), ("H4", most_stretched(h4) if h4 else None, 4)):
        if stretched:
            separation, ref = stretched
            binding = ref.total_energy + ref.nuclear_repulsion - count * e_h
            method = "DMRG" if ref.method == "dmrg" else "exact diagonalization"
            lines.append(f"- {label} at R = {separation:.2f} bohr ({method}) against {count} H atoms: binding "
                         f"{1000 * binding:+.3f} mHa.")
    if h2_h2 and H2_H2_BOND in h2:
        gap, ref = most_stretched(h2_h2)
        molecule = load_reference(h2[H2_H2_BOND])
        x = ref.system.nuclear_positions
        binding = ref.total_energy + ref.nuclear_repulsion - 2 * (molecule.total_energy + molecule.nuclear_repulsion)
        frozen = frozen_fragment_interaction(molecule, (x[0], x[2]))
        lines.append(f"- H2-H2 at gap {gap:.2f} bohr (DMRG, 4 electrons) against two H2 at R = {H2_H2_BOND:.2f} (exact "
                     f"diagonalization): binding {1000 * binding:+.3f} mHa; the electrostatic interaction of the "
                     f"two frozen exact H2 densities is {1000 * frozen:+.3f} mHa, so everything beyond first-order "
                     f"electrostatics (polarization, dispersion, exchange) comes to {1000 * (binding - frozen):+.3f} mHa.")
    lines.append("\nNeutral fragments still interact at these distances under the exponential interaction (range "
                 "2.39 bohr): the binding is not zero, and is positive where the fragments' electrostatic "
                 "repulsion wins.")
    return "\n".join(lines)


def learning_curve_section(run: Path) -> str:
    """The generalization experiment: the learning-curve table as the workflow wrote it, or a note."""
    table = run / "figures" / "tables" / "learning_curve.md"
    if not table.is_file():
        return "The run has no learning curve yet (the generalization experiment has not finished)."
    return table.read_text().strip() + (
        "\n\nFigures of the run: `figures/learning_curve.png` (test MAE against N_train) and "
        "`figures/generalization_curves.png` (every test curve at N_train = generalization.curves_at).")


def run_commit(run: Path) -> str:
    """The commit the run's checkout was at (the code that made the numbers)."""
    import subprocess

    result = subprocess.run(["git", "-C", str(run), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


def study_settings(config_path: Path) -> dict:
    """The settings the page states, read from the config the run used."""
    config = yaml.safe_load(config_path.read_text())
    training = config["training"]
    return dict(points=config["grid"]["num_points"], spacing=config["grid"]["spacing"],
                iterations=config["scf"]["train_iterations"], maxfun=training["max_evaluations"],
                seeds=training["num_seeds"], criterion=training["validation_loss"],
                models=", ".join(MODEL_LABELS[m] for m in training["models"]))


def main(run: Path, config_path: Path, pauses=()) -> str:
    direct = json.loads((run / "results" / "training" / "direct-ml" / "selection.json").read_text())
    timings = "\n".join(stage_times(run, pauses))
    study = study_settings(config_path)
    return f"""# The original KSR study through this workflow (config/ksr.yaml)

Generated by `tools/ksr_results_page.py` from the run in `{run}` (commit {run_commit(run)}). The study (docs/physics.md section 11):
{study['models']} (self-interaction gate) trained on H2 at R = 1.28 and 3.84 bohr only,
K = {study['iterations']} with reflection symmetry, maxfun {study['maxfun']}, {study['seeds']} seeds each, the checkpoint and seed with the lowest
validation loss (R = 1.68, 2.96, 4.40, 5.52; `training.validation_loss: {study['criterion']}`) selected; exact references on the
grid of {study['points']} points, h = {study['spacing']}: exact diagonalization for H2 and H2+, self-checked DMRG for H4 and H2-H2.
Baselines: LDA, the two published KSR-global models through our engine, and direct ML (energy from v_ext,
selected seed {direct['selected']['seed']}, training loss {direct['selected']['train_loss']:.2e}).

Wall time per stage, from the jobs' provenance records (2-core VM, two jobs at a time). Busy wall time:
the time during which at least one job of the stage ran (for a run made in parts, the gaps between the
parts{" and the listed pauses" if pauses else ""} are left out; work lost to interrupted jobs is not counted).

{timings}

## Checks of the references

{exactness_section(run)}

## Errors along the curves (KS minus exact)

Test: the 32 odd-m H2 separations outside validation; "all": every geometry of the curve (72 for H2, 50 for
H2+, 63 for H4, 31 for H2-H2; only the two H2 geometries are trained on).

{curve_table(run)}

The figure is `figures/dissociation_curves.png` of the run (figures are generated, not committed).

## Every seed

{seed_table(run)}

## Generalization: learning curve (H2 + H4 training sets)

KSR-global trained on N_train geometries each of H2 and H4 (evenly spread over the centred geometries),
by full KSR, energy-only KSR and direct ML; selected on four H2 and four H4 validation geometries; test
sets: odd-m H2 and H4 geometries, the whole H2+ curve, H2-H2 at odd multiples of 0.16 bohr.

{learning_curve_section(run)}
"""


if __name__ == "__main__":
    parser = command_line("Results page of a run of the KSR study.")
    parser.add_argument("config", type=Path, nargs="?", help="the config the run used (default RUN/config/ksr.yaml)")
    args = parser.parse_intermixed_args()  # RUN --pauses FILE CONFIG works too
    run_dir = args.run.resolve()
    pauses = read_pauses(args.pauses) if args.pauses else ()
    print(main(run_dir, args.config or run_dir / "config" / "ksr.yaml", pauses))
