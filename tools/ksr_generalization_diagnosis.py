#!/usr/bin/env python3
"""Diagnose a KSR generalization training set (issue 12; docs/results_ksr.md, "Why the first learning curve failed").

    .venv/bin/python tools/ksr_generalization_diagnosis.py RUN_DIR N_TRAIN systems [PARAMS]
    .venv/bin/python tools/ksr_generalization_diagnosis.py RUN_DIR N_TRAIN gradient [PARAMS] [--float64]
    .venv/bin/python tools/ksr_generalization_diagnosis.py RUN_DIR N_TRAIN checkpoints SEED_DIR [CURVE ...]

RUN_DIR is a checkout in which config/ksr.yaml ran at least as far as
``results/generalization/datasets/{train-n<N_TRAIN>,validation}.npz`` (and, for ``checkpoints``, the test
references that exist are used). PARAMS is a parameter stem (``.../best`` or
``.../checkpoints/eval_000600``); default: the published KSR-global trained on H2 + H4 with N_train = 8.

- ``systems``: the KSR loss of PARAMS on the training and validation sets (config/ksr.yaml training
  settings, K = 15, reflection symmetry), then per system the energy error at iterations 15 and 11
  (the last and the first kept by the loss), ``h sum (dn)^2 / N`` and ``h sum |dn|`` of the final density.
- ``gradient``: the training loss's gradient along three random unit directions against central finite
  differences with steps 1e-3, 1e-4, 1e-5, with the network in float32 (the study's setting) or, with
  ``--float64``, in float64. Where the two disagree at small steps the loss is rounding noise there.
- ``checkpoints``: the test MAE (mHa) of every checkpoint of one finished seed (those its run.json
  lists) on each CURVE's test geometries (default H2 and H4) whose references exist in RUN_DIR.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.core.curves import curve_system  # noqa: E402
from sksr.core.grid import Grid  # noqa: E402
from sksr.evaluation.prediction import checkpoint_energies  # noqa: E402
from sksr.functionals.neural import build_xc, flatten_params, load_params  # noqa: E402
from sksr.functionals.published import load_published  # noqa: E402
from sksr.ks.scf import run_scf  # noqa: E402
from sksr.pipeline.workflow_config import TRAINING_JOB_KEYS  # noqa: E402
from sksr.references.files import reference_energy_and_density  # noqa: E402
from sksr.training.loss import ksr_loss  # noqa: E402
from sksr.training.objective import _Problem, load_training_data  # noqa: E402
from sksr.training.settings import TrainingSettings  # noqa: E402
from sksr.training.training_sets import test_sets  # noqa: E402

PUBLISHED = "ksr_global_h2_h4_nt8"


def study_settings(run: Path, float64_network: bool | None = None) -> tuple[dict, TrainingSettings]:
    """(config, the ``training`` section's TrainingSettings at K = scf.train_iterations)."""
    config = yaml.safe_load((run / "config" / "ksr.yaml").read_text())
    training = {**config["training"], "num_iterations": config["scf"]["train_iterations"]}
    if float64_network is not None:
        training["network_float32"] = not float64_network
    return config, TrainingSettings.from_config(training, ignore=TRAINING_JOB_KEYS)


def parameters(stem: str | None, settings: TrainingSettings):
    """(spec, params) of a stem or of the published model; the spec takes the settings' network precision."""
    spec, params, _ = load_published(PUBLISHED) if stem is None else load_params(stem)
    return dataclasses.replace(spec, network_float32=settings.network_float32), params


def datasets(run: Path, n_train: int):
    folder = run / "results" / "generalization" / "datasets"
    return load_training_data(folder / f"train-n{n_train}.npz", folder / "validation.npz")


def per_system(args) -> None:
    _, settings = study_settings(args.run)
    spec, params = parameters(args.params, settings)
    train_batch, train_refs, valid_batch, valid_refs = datasets(args.run, args.n_train)
    first_kept = settings.num_iterations - settings.kept_iterations
    for name, batch, refs in (("training", train_batch, train_refs), ("validation", valid_batch, valid_refs)):
        grid = batch.layout.grid
        trajectory = run_scf(batch, build_xc(spec, params, grid), settings.num_iterations,
                             solver=settings.eigensolver, reflection_symmetry=settings.reflection_symmetry)
        parts = ksr_loss(trajectory, refs, grid.spacing, settings.loss_settings())
        print(f"{name} loss {float(parts.total):.4e} (energy {float(parts.energy):.4e}, density {float(parts.density):.4e})")
        energies = np.asarray(trajectory.total_energy)
        density = np.asarray(trajectory.density[:, -1].sum(1))
        print("| system | E - E_ref, last (mHa) | E - E_ref, first kept (mHa) | h sum dn^2 / N | h sum abs(dn) |")
        print("|---|---:|---:|---:|---:|")
        for i, system in enumerate(batch.layout.names):
            error = 1e3 * (energies[i] - float(refs.energies[i]))
            dn = density[i] - np.asarray(refs.densities[i])
            print(f"| {system} | {error[-1]:+.3f} | {error[first_kept]:+.3f} | "
                  f"{grid.spacing * np.sum(dn**2) / float(refs.n_electrons[i]):.2e} | {grid.spacing * np.sum(np.abs(dn)):.3f} |")


def gradient_check(args) -> None:
    _, settings = study_settings(args.run, float64_network=args.float64)
    spec, params = parameters(args.params, settings)
    train_batch, train_refs, _, _ = datasets(args.run, args.n_train)
    problem = _Problem(train_batch, train_refs, spec, settings)
    x = flatten_params(spec, params)
    _, gradient = problem.loss_and_gradient(x)
    rng = np.random.default_rng(0)
    print(f"network {'float64' if args.float64 else 'float32'}")
    print("| direction | step | finite difference | gradient . direction |")
    print("|---|---|---:|---:|")
    for trial in range(3):
        direction = rng.normal(size=x.size)
        direction /= np.linalg.norm(direction)
        for step in (1e-3, 1e-4, 1e-5):
            plus = problem.loss_and_gradient(x + step * direction)[0].total
            minus = problem.loss_and_gradient(x - step * direction)[0].total
            print(f"| {trial} | {step:.0e} | {(plus - minus) / (2 * step):+.6e} | {gradient @ direction:+.6e} |")


def checkpoint_errors(args) -> None:
    config, settings = study_settings(args.run)
    grid = Grid.from_dict(config["grid"])
    tests = test_sets(config["generalization"])
    for curve in args.curves or ["H2", "H4"]:
        names = [n for n in tests[curve] if (args.run / "results" / "references" / f"{n}.npz").exists()]
        if not names:
            print(f"{curve}: no test references in {args.run}")
            continue
        systems = [curve_system(curve, float(n.rsplit("-R", 1)[1]), grid.spacing) for n in names]
        exact = np.array([reference_energy_and_density(args.run / "results" / "references" / f"{n}.npz")[0] for n in names])
        print(f"{curve}: {len(names)} test geometries\n| evaluation | MAE (mHa) | largest error (mHa) | at |\n|---:|---:|---:|---|")
        evaluations, energies = checkpoint_energies(
            args.seed_dir, systems, grid, settings.num_iterations, settings.reflection_symmetry
        )  # (C,), (C, B) Ha: one Kohn-Sham batch for every checkpoint
        for evaluation, error in zip(evaluations, 1e3 * (energies - exact)):
            worst = int(np.argmax(np.abs(error)))
            print(f"| {evaluation} | {np.mean(np.abs(error)):.2f} | {error[worst]:+.2f} | {names[worst]} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("n_train", type=int)
    commands = parser.add_subparsers(dest="command", required=True)
    systems = commands.add_parser("systems")
    systems.add_argument("params", nargs="?")
    systems.set_defaults(action=per_system)
    gradient = commands.add_parser("gradient")
    gradient.add_argument("params", nargs="?")
    gradient.add_argument("--float64", action="store_true")
    gradient.set_defaults(action=gradient_check)
    checkpoints = commands.add_parser("checkpoints")
    checkpoints.add_argument("seed_dir", type=Path)
    checkpoints.add_argument("curves", nargs="*")
    checkpoints.set_defaults(action=checkpoint_errors)
    args = parser.parse_args(argv)
    args.action(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
