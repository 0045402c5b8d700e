"""Training sets of the KSR generalization experiment (docs/physics.md section 11, config ``generalization``).

The poster trains on N_train = 4, 6, ..., 20 geometries each of H2 and H4 and does not record which ones.
This module chooses them reproducibly: the N_train geometries of a curve are spread evenly over that
curve's pool (config ``generalization.pool``: the non-test, non-validation geometries, here the centred
even-m ones), first and last included, by rounding ``linspace(0, P - 1, N_train)`` to indices. A curve's
test set is its ``generalization.test`` range without the validation geometries.

Names only (``"H2-R1.28"``); the systems themselves come from ``sksr.core.curves``. NumPy only.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from sksr.core.curves import curve_name, separations

METHODS = ("ksr", "ksr-energy", "direct-ml")
"""The experiment's methods: full KSR (energy and density loss), energy-only KSR, direct ML."""

METHOD_LABELS = {"ksr": "KSR", "ksr-energy": "KSR (energy only)", "direct-ml": "direct ML"}

REQUIRED_KEYS = ("pool", "validation", "test")
"""Keys that must be non-empty once ``generalization.n_train`` asks for the experiment."""

ENERGY_ONLY_WEIGHT = 1.0
"""``training.energy_loss_weight`` of energy-only KSR (the density term dropped)."""


def range_members(molecule: str, spec: Mapping) -> list[str]:
    """System names of ``molecule``'s curve at ``spec`` = ``{first, last, step}`` (bohr), in order."""
    return [curve_name(molecule, r) for r in separations(spec["first"], spec["last"], spec["step"])]


def evenly_spread(pool: Sequence[str], count: int) -> list[str]:
    """``count`` members of ``pool`` evenly spread over it (first and last included), in pool order."""
    if not 1 <= count <= len(pool):
        raise ValueError(f"cannot take {count} geometries from a pool of {len(pool)}")
    if count == 1:
        return [pool[0]]
    indices = np.round(np.linspace(0, len(pool) - 1, count)).astype(int)
    return [pool[i] for i in indices]


def _ranges_without_validation(section: Mapping, part: str) -> dict[str, list[str]]:
    """``{curve: [names]}`` of ``section[part]`` (curve -> range) without the validation geometries."""
    held_out = set(section.get("validation", []))
    return {
        molecule: [n for n in range_members(molecule, spec) if n not in held_out]
        for molecule, spec in (section.get(part) or {}).items()
    }


def pools(section: Mapping) -> dict[str, list[str]]:
    """``{curve: [names]}``: each training curve's pool without the validation geometries."""
    return _ranges_without_validation(section, "pool")


def training_set(section: Mapping, n_train: int) -> list[str]:
    """The ``n_train``-per-curve training set: ``n_train`` names of every pool, curve after curve."""
    return [name for pool in pools(section).values() for name in evenly_spread(pool, n_train)]


def training_sets(section: Mapping) -> dict[int, list[str]]:
    """``{N_train: names}`` for every ``generalization.n_train``."""
    return {int(n): training_set(section, int(n)) for n in section.get("n_train", [])}


def test_sets(section: Mapping) -> dict[str, list[str]]:
    """``{curve: [names]}``: the learning curve's test sets (``generalization.test`` minus validation)."""
    return _ranges_without_validation(section, "test")


def training_overrides(section: Mapping, method: str) -> dict:
    """Dotted training keys a generalization ``method`` sets in place of the ``training`` section:
    the experiment's own ``generalization.training`` settings, and for energy-only KSR the energy
    weight 1 (no density term). Example: ``{"training.max_evaluations": 3000,
    "training.energy_loss_weight": 1.0}``."""
    if method not in METHODS:
        raise ValueError(f"unknown generalization method {method!r}; known: {METHODS}")
    overrides = {
        f"training.{key}": value for key, value in (section.get("training") or {}).items() if value is not None
    }  # null: the training section's value
    if method == "ksr-energy":
        overrides["training.energy_loss_weight"] = ENERGY_ONLY_WEIGHT
    return overrides


def is_configured(section: Mapping) -> bool:
    """Whether config ``generalization`` asks for the experiment: a non-empty ``n_train`` (the schema's
    defaults, with ``n_train: []``, mean no experiment)."""
    return bool((section or {}).get("n_train"))


def generalization_problems(section: Mapping, systems: Mapping) -> list[str]:
    """Every inconsistency of config ``generalization`` against the expanded ``systems``, one line each."""
    if not is_configured(section):
        return []
    key = "generalization"
    problems = [f"{key}.{k}: required (non-empty) when {key}.n_train is given"
                for k in REQUIRED_KEYS if not section.get(k)]
    if problems:
        return problems
    named = {}
    for part in ("pool", "test"):
        for molecule, spec in (section.get(part) or {}).items():
            try:
                names = range_members(molecule, spec)
            except (KeyError, TypeError, ValueError) as error:
                problems.append(f"{key}.{part}.{molecule}: {error}")
                continue
            missing = [n for n in names if n not in systems]
            if missing:
                problems.append(f"{key}.{part}.{molecule}: {len(missing)} geometries are not among the systems "
                                f"(add the curve under curves), first {missing[0]!r}")
            named[part] = named.get(part, set()) | set(names)
    for name in section.get("validation", []):
        if name not in systems:
            problems.append(f"{key}.validation: unknown system {name!r} (not in systems)")
    overlap = sorted((named.get("pool", set()) & named.get("test", set())) - set(section.get("validation", [])))
    if overlap:
        problems.append(f"{key}: pool and test share {len(overlap)} geometries, first {overlap[0]!r}")
    if problems:
        return problems
    sizes = {molecule: len(pool) for molecule, pool in pools(section).items()}
    for n in section.get("n_train", []):
        for molecule, size in sizes.items():
            if n > size:
                problems.append(f"{key}.n_train: {n} exceeds the {size} pool geometries of {molecule}")
    if section.get("curves_at") not in section.get("n_train", []):
        problems.append(f"{key}.curves_at: {section.get('curves_at')!r} is not one of generalization.n_train")
    return problems
