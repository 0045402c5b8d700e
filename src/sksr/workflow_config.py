"""Semantic checks of the workflow configuration (what a JSON schema cannot express).

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; ``check_config`` checks that the
pieces fit together: split, fragment and ionization names exist among the systems, nuclei lie on grid
points, an ionization partner really has one electron fewer, ... It runs when the Snakefile is parsed, so
a bad config fails before any job starts, with every problem named.
"""

from __future__ import annotations

from typing import Mapping

from sksr.grid import Grid
from sksr.systems import PROTON, System

TRAINING_JOB_KEYS = frozenset({"models", "num_seeds", "first_seed", "gpu", "threads", "mem_mb", "runtime"})
"""Keys of the ``training`` config section that lay out jobs and resources; a seed's result does not
depend on them, so changing them must not retrain anything."""

DMRG_JOB_KEYS = frozenset({"max_sweeps", "checkpoint_every"})
"""Keys of ``references.dmrg`` that bound or checkpoint a run; a converged reference does not depend on
them (raising ``max_sweeps`` after a failure must not rerun the systems that converged)."""


def result_setting_keys(section: Mapping, prefix: str, job_keys: frozenset) -> list[str]:
    """Dotted config keys of ``section`` that a job's result depends on (``job_keys`` left out)."""
    return [f"{prefix}.{key}" for key in section if key not in job_keys]


MODEL_LABELS = {"lsda": "sKSR-LSDA", "gga": "sKSR-GGA", "global": "sKSR-global"}
BASELINE_LABELS = {"lsda": "LSDA"}


class ConfigError(ValueError):
    """A configuration that is well-typed but inconsistent; the message lists every problem."""


def _grid_problems(config: Mapping) -> tuple[Grid | None, list[str]]:
    try:
        return Grid.from_dict(dict(config["grid"])), []
    except (KeyError, TypeError, ValueError) as error:
        return None, [f"grid: {error}"]


def _system_problems(config: Mapping, grid: Grid | None) -> tuple[dict, list[str]]:
    systems, problems = {}, []
    for name, spec in config.get("systems", {}).items():
        if name == PROTON:
            problems.append(f"systems.{name}: the name 'p' is reserved for the bare proton")
            continue
        try:
            system = System.from_dict(dict(spec), name=name)
            if grid is not None:
                system.check_on_grid(grid)
        except (TypeError, ValueError) as error:
            problems.append(f"systems.{name}: {error}")
            continue
        systems[name] = system
    return systems, problems


def _split_problems(config: Mapping, names: set) -> list[str]:
    problems, seen = [], {}
    for part in ("train", "validation", "test"):
        for name in config.get("split", {}).get(part, []):
            if name not in names:
                problems.append(f"split.{part}: unknown system {name!r} (not in systems)")
            if name in seen:
                problems.append(f"split.{part}: system {name!r} is also in split.{seen[name]}")
            seen.setdefault(name, part)
    return problems


def _fragment_problems(config: Mapping, systems: Mapping[str, System]) -> list[str]:
    problems = []
    for molecule, fragments in config.get("atomization_fragments", {}).items():
        key = f"atomization_fragments.{molecule}"
        if molecule not in systems:
            problems.append(f"{key}: unknown molecule {molecule!r} (not in systems)")
            continue
        electrons, charge = 0, 0.0
        for fragment, count in fragments.items():
            if fragment == PROTON:
                charge += count
                continue
            if fragment not in systems:
                problems.append(f"{key}: unknown fragment {fragment!r} (not in systems, and not 'p')")
                electrons = None
                break
            electrons += count * systems[fragment].n_electrons
            charge += count * sum(systems[fragment].nuclear_charges)
        mol = systems[molecule]
        if electrons is None:
            continue
        if electrons != mol.n_electrons or abs(charge - sum(mol.nuclear_charges)) > 1e-9:
            problems.append(
                f"{key}: fragments hold {electrons} electrons and charge {charge:g}, but {molecule} has "
                f"{mol.n_electrons} electrons and charge {sum(mol.nuclear_charges):g}"
            )
    return problems


def _ionization_problems(config: Mapping, systems: Mapping[str, System]) -> list[str]:
    problems = []
    for ion, partner in config.get("ionization_pairs", {}).items():
        key = f"ionization_pairs.{ion}"
        if ion not in systems:
            problems.append(f"{key}: unknown system {ion!r}")
            continue
        if partner is None:
            if systems[ion].n_electrons != 1:
                problems.append(f"{key}: null partner (bare nucleus) needs a one-electron system")
            continue
        if partner not in systems:
            problems.append(f"{key}: unknown partner {partner!r}")
            continue
        a, b = systems[ion], systems[partner]
        same_nuclei = (a.nuclear_charges, a.nuclear_positions) == (b.nuclear_charges, b.nuclear_positions)
        if b.n_electrons != a.n_electrons - 1 or not same_nuclei:
            problems.append(f"{key}: {partner!r} must have the nuclei of {ion!r} and one electron fewer")
    return problems


def check_config(config: Mapping) -> dict:
    """Raise ConfigError listing every semantic problem; return ``{name: System}`` when consistent."""
    grid, problems = _grid_problems(config)
    systems, system_problems = _system_problems(config, grid)
    problems += system_problems
    problems += _split_problems(config, set(config.get("systems", {})))
    problems += _fragment_problems(config, systems)
    problems += _ionization_problems(config, systems)
    split_name = config.get("figures", {}).get("density_split", "test")
    if not config.get("split", {}).get(split_name):
        problems.append(f"figures.density_split: split {split_name!r} is empty; nothing to plot")
    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))
    return systems


def method_labels(config: Mapping) -> dict:
    """Method id (file names) -> label (tables, figures): baselines first, then the trained models."""
    labels = {b: BASELINE_LABELS[b] for b in config.get("evaluation", {}).get("baselines", [])}
    for model in config.get("training", {}).get("models", []):
        labels[f"sksr-{model}"] = MODEL_LABELS[model]
    return labels
