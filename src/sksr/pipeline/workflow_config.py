"""Semantic checks of the workflow configuration (what a JSON schema cannot express).

The schema (workflow/schemas/config.schema.yaml) checks types and ranges; ``check_config`` checks that the
pieces fit together: split, fragment and ionization names exist among the systems, nuclei lie on grid
points, an ionization partner really has one electron fewer, ... It runs when the Snakefile is parsed, so
a bad config fails before any job starts, with every problem named.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping, Sequence

from sksr.core.curves import curve_geometries
from sksr.core.grid import Grid
from sksr.core.systems import PROTON, System
from sksr.functionals import MODEL_LABELS
from sksr.functionals.published import published_baseline_labels
from sksr.training.training_sets import generalization_problems

TRAINING_JOB_KEYS = frozenset(
    {"models", "num_seeds", "first_seed", "seeds_per_job", "gpu", "threads", "mem_mb", "runtime"}
)
"""Keys of the ``training`` config section that lay out jobs and resources; a seed's result does not
depend on them, so changing them must not retrain anything."""

DMRG_JOB_KEYS = frozenset({"max_sweeps", "checkpoint_every"})
"""Keys of ``references.dmrg`` that bound or checkpoint a run; a converged reference does not depend on
them (raising ``max_sweeps`` after a failure must not rerun the systems that converged)."""


def result_setting_keys(section: Mapping, prefix: str, job_keys: frozenset) -> list[str]:
    """Dotted config keys of ``section`` that a job's result depends on (``job_keys`` left out)."""
    return [f"{prefix}.{key}" for key in section if key not in job_keys]


BASELINE_LABELS = {"lsda": "LSDA", **published_baseline_labels(), "direct-ml": "direct ML"}
"""Baselines: fixed functionals (LSDA) and the authors' published parameters run through this engine."""


class ConfigError(ValueError):
    """A configuration that is well-typed but inconsistent; the message lists every problem."""


def _grid_problems(config: Mapping) -> tuple[Grid | None, list[str]]:
    try:
        return Grid.from_dict(dict(config["grid"])), []
    except (KeyError, TypeError, ValueError) as error:
        return None, [f"grid: {error}"]


def _system_problems(config: Mapping, grid: Grid | None) -> tuple[dict, set, list[str]]:
    """Valid systems by name, the names of invalid ones (reported here, not again as unknown), problems."""
    systems, invalid, problems = {}, set(), []
    for name, spec in (config.get("systems") or {}).items():
        if name == PROTON:
            problems.append(f"systems.{name}: the name 'p' is reserved for the bare proton")
            invalid.add(name)
            continue
        try:
            system = System.from_dict(dict(spec), name=name)
            if grid is not None:
                system.check_on_grid(grid)
        except (TypeError, ValueError) as error:
            problems.append(f"systems.{name}: {error}")
            invalid.add(name)
            continue
        systems[name] = system
    return systems, invalid, problems


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


def _fragment_problems(config: Mapping, systems: Mapping[str, System], invalid: set = frozenset()) -> list[str]:
    problems = []
    for molecule, fragments in config.get("atomization_fragments", {}).items():
        key = f"atomization_fragments.{molecule}"
        if molecule in invalid:
            continue  # already reported under systems.<name>
        if molecule not in systems:
            problems.append(f"{key}: unknown molecule {molecule!r} (not in systems)")
            continue
        electrons, charge = 0, 0.0
        for fragment, count in fragments.items():
            if fragment == PROTON:
                charge += count
                continue
            if fragment not in systems:
                if fragment not in invalid:
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


def _ionization_problems(config: Mapping, systems: Mapping[str, System], invalid: set = frozenset()) -> list[str]:
    problems = []
    for ion, partner in config.get("ionization_pairs", {}).items():
        key = f"ionization_pairs.{ion}"
        if ion in invalid or partner in invalid:
            continue  # already reported under systems.<name>
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


def _setting_problem(prefix: str, error: Exception, fields: Sequence[str], aliases: Mapping[str, str]) -> str:
    """One line for a settings constructor's error, naming the config key it is about.

    The key is the setting named first in the message (``aliases`` maps settings that come from elsewhere in
    the config, e.g. the training's ``num_iterations`` is ``scf.train_iterations``).
    """
    message = str(error)
    found = []
    for name in fields:
        match = re.search(rf"(?<![\w]){re.escape(name)}(?![\w])", message)
        if match:
            found.append((match.start(), -len(name), name))
    key = prefix
    if found:
        name = min(found)[2]
        key = aliases.get(name, f"{prefix}.{name}")
    notes = [f"{name} is {alias}" for name, alias in aliases.items() if re.search(rf"\b{name}\b", message)]
    return f"{key}: {message}" + (f" ({'; '.join(notes)})" if notes else "")


def dmrg_settings_input(config: Mapping) -> dict:
    """What a reference job passes to ``DMRGSettings.from_dict`` (workflow/scripts/reference.py)."""
    return dict((config.get("references") or {}).get("dmrg") or {})


def self_check_settings_input(config: Mapping) -> dict:
    """What a reference job passes to ``SelfCheckSettings.from_dict`` (workflow/scripts/reference.py)."""
    return dict((config.get("references") or {}).get("self_check") or {})


def training_settings_input(config: Mapping) -> dict:
    """What a training job passes to ``TrainingSettings.from_config`` (workflow/scripts/train_seed.py): the
    ``training`` section plus ``num_iterations`` from ``scf.train_iterations``."""
    values = dict(config.get("training") or {})
    scf = config.get("scf") or {}
    if "train_iterations" in scf:
        values["num_iterations"] = scf["train_iterations"]
    return values


def _settings_problems(config: Mapping) -> list[str]:
    """Build the job-level settings objects from the config exactly as the jobs do, so that every rule
    they enforce (ranges, types, cross-field rules such as min_sweeps <= max_sweeps or kept_iterations <=
    scf.train_iterations) fails here, before any job starts, instead of in a job after Snakemake has deleted
    the job's old outputs."""
    import dataclasses
    import functools

    from sksr.references.dmrg.settings import DMRGSettings
    from sksr.references.self_checked import SelfCheckSettings
    from sksr.training.settings import TrainingSettings

    problems = []
    checks = [
        ("references.dmrg", DMRGSettings, DMRGSettings.from_dict, dmrg_settings_input(config), {}),
        ("references.self_check", SelfCheckSettings, SelfCheckSettings.from_dict, self_check_settings_input(config),
         {}),
        (
            "training",
            TrainingSettings,
            functools.partial(TrainingSettings.from_config, ignore=TRAINING_JOB_KEYS),
            training_settings_input(config),
            {"num_iterations": "scf.train_iterations"},
        ),
    ]
    for prefix, cls, build, values, aliases in checks:
        fields = [f.name for f in dataclasses.fields(cls)]
        # A constructor stops at its first error: leave the blamed setting out (its default) and try again,
        # so that several bad settings are all reported at once.
        for _ in range(len(fields) + 1):
            try:
                build(values)
                break
            except (TypeError, ValueError) as error:
                line = _setting_problem(prefix, error, fields, aliases)
                problems.append(line)
                blamed = line.split(":", 1)[0].rsplit(".", 1)[-1]
                blamed = {alias: name for name, alias in aliases.items()}.get(line.split(":", 1)[0], blamed)
                if blamed not in values:
                    break
                values = {k: v for k, v in values.items() if k != blamed}
    return problems


def config_problems(config: Mapping) -> tuple[dict, list[str]]:
    """``({name: System}, problems)``: every semantic problem of a schema-valid config, one line each,
    each starting with the dotted config key it is about."""
    grid, problems = _grid_problems(config)
    systems, invalid, system_problems = _system_problems(config, grid)
    problems += system_problems
    if not config.get("systems"):
        problems.append("systems: no systems (give systems, or curves that expand into them)")
    problems += _split_problems(config, set(config.get("systems") or {}))
    problems += _fragment_problems(config, systems, invalid)
    problems += _ionization_problems(config, systems, invalid)
    split_name = (config.get("figures") or {}).get("density_split", "test")
    if not (config.get("split") or {}).get(split_name):
        problems.append(f"figures.density_split: split {split_name!r} is empty; nothing to plot")
    problems += _settings_problems(config)
    problems += _selection_problems(config)
    problems += generalization_problems(config.get("generalization") or {}, config.get("systems") or {})
    return systems, problems


def expand_curves(config: dict) -> list[str]:
    """Add one system per geometry of config ``curves`` to config ``systems`` (in place); return problems.

    Runs after the schema check and before ``check_config`` (the Snakefile) and when the audit reads a
    config, so jobs and records see the expanded systems. A curve system whose name is already among the
    systems is a problem, as is a separation that is not a whole number of grid steps.
    """
    curves = config.get("curves") or {}
    if not curves:
        return []
    grid, problems = _grid_problems(config)
    if grid is None:
        return problems
    systems = config.setdefault("systems", {})
    for molecule, spec in curves.items():
        try:
            geometries = curve_geometries(molecule, spec["first"], spec["last"], spec["step"], grid.spacing)
        except (KeyError, TypeError, ValueError) as error:
            problems.append(f"curves.{molecule}: {error}")
            continue
        for _, system in geometries:
            if system.name in systems:
                problems.append(f"curves.{molecule}: system {system.name!r} is also given under systems")
                continue
            systems[system.name] = {k: v for k, v in system.to_dict().items() if k != "name"}
    return problems


def _selection_problems(config: Mapping) -> list[str]:
    """``selection.extra_validation`` names systems outside the training and test splits."""
    split = config.get("split") or {}
    problems = []
    for name in (config.get("selection") or {}).get("extra_validation", []):
        if name not in (config.get("systems") or {}):
            problems.append(f"selection.extra_validation: unknown system {name!r} (not in systems)")
        elif name in split.get("train", []) or name in split.get("test", []):
            problems.append(
                f"selection.extra_validation: {name!r} is a training or test system; selection must not see it"
            )
    return problems


def check_config(config: Mapping, locate: Callable[[str], str] | None = None) -> dict:
    """Raise ConfigError listing every semantic problem; return ``{name: System}`` when consistent.

    ``locate(key)`` may give the ``file:line`` that set a key (see ``sksr.pipeline.config_files``); it prefixes
    each problem line.
    """
    systems, problems = config_problems(config)
    if problems:
        raise ConfigError(format_problems(problems, locate))
    return systems


def format_problems(problems: Sequence[str], locate: Callable[[str], str] | None = None) -> str:
    """``invalid config:`` and one line per problem, each prefixed by where its key was set."""
    lines = []
    for problem in problems:
        where = locate(problem.split(":", 1)[0]) if locate else ""
        lines.append(f"{where}: {problem}" if where else problem)
    return f"invalid config ({len(lines)} problem{'s' if len(lines) != 1 else ''}):\n  - " + "\n  - ".join(lines)


def method_labels(config: Mapping) -> dict:
    """Method id (file names) -> label (tables, figures): baselines first, then the trained models."""
    from sksr.evaluation.seed_selection import rule_label

    labels = {b: BASELINE_LABELS[b] for b in config.get("evaluation", {}).get("baselines", [])}
    rules = config.get("selection", {}).get("alternatives", [])
    for model in config.get("training", {}).get("models", []):
        labels[f"sksr-{model}"] = MODEL_LABELS[model]
        for rule in rules:
            labels[f"sksr-{model}-{rule}"] = rule_label(MODEL_LABELS[model], rule)
    return labels


def published_baseline_of(model: str, config: Mapping) -> str | None:
    """The published baseline id of a trained model kind (``"published-global"``), if the config has it."""
    baseline = f"published-{model}"
    return baseline if baseline in config.get("evaluation", {}).get("baselines", []) else None
