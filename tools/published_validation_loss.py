#!/usr/bin/env python3
"""The published sKSR models on our validation loss, against the authors' logged values (issue 8).

    .venv/bin/python tools/published_validation_loss.py RUN_DIR [--gga-gradient-float64]

RUN_DIR is a checkout in which the paper config ran (its results/datasets/{train,validation}.npz are
read). For each published model this prints our Be+ validation loss (K = 10, the paper protocol's
``TrainingSettings``) with its two unweighted terms, energy E and density n, the value the authors' log
recorded for the same parameters (from the model's metadata, ``sksr.functionals.published``), and the
Be+ energy error (mHa) that the log implies if its loss is E + n (weights 1) and its density term is ours:
``sqrt(N (logged - n))`` with N = 3 electrons.

``--gga-gradient-float64`` computes the sKSR-GGA's |dn/dx|/2 input from the float64 density before the
cast to float32 (the product computes it in float32), to measure what that precision changes. It
replaces ``sksr.functionals.neural._gga_eps`` in this process only, before anything is compiled.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import jax.numpy as jnp  # noqa: E402

import sksr.functionals.neural as neural  # noqa: E402
from sksr.functionals import published  # noqa: E402
from sksr.functionals.neural import flatten_params  # noqa: E402
from sksr.training.objective import _Problem, load_training_data  # noqa: E402
from sksr.training.settings import TrainingSettings  # noqa: E402

MODELS = ("sksr_lsda", "sksr_gga", "sksr_global")


def gga_eps_float64_gradient(kernels, spacing, n_up, n_dn):
    """sKSR-GGA eps (G,) with the gradient input computed from the float64 density, then cast."""
    dtype = kernels[0].dtype
    gradient = neural.density_gradient_feature(n_up + n_dn, jnp.asarray(spacing, n_up.dtype)).astype(dtype)
    features = jnp.stack([n_up.astype(dtype), n_dn.astype(dtype), gradient], axis=-1)
    return neural._pointwise_mlp(kernels, features).astype(n_up.dtype)


def logged_validation_loss(metadata: dict) -> float:
    """The validation loss the authors' log recorded for the published checkpoint (metadata 'selection')."""
    match = re.search(r"validation loss ([0-9.]+e-?[0-9]+)", metadata["selection"])
    if match is None:
        raise ValueError(f"no validation loss in the metadata: {metadata['selection']!r}")
    return float(match.group(1))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="checkout in which the paper config ran")
    parser.add_argument("--gga-gradient-float64", action="store_true")
    args = parser.parse_args(argv)
    if args.gga_gradient_float64:
        neural._gga_eps = gga_eps_float64_gradient
    datasets = args.run / "results" / "datasets"
    _, _, batch, references = load_training_data(datasets / "train.npz", datasets / "validation.npz")
    print("| model | ours: total | E | n | authors' log | log / ours | Be+ energy error implied by the log (mHa) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in MODELS:
        spec, params, metadata = published.load_published(name)
        parts = _Problem(batch, references, spec, TrainingSettings()).loss_and_gradient(flatten_params(spec, params))[0]
        logged = logged_validation_loss(metadata)
        implied = 1000 * math.sqrt(3 * (logged - parts.density)) if logged > parts.density else float("nan")
        print(f"| {name} | {parts.total:.6e} | {parts.energy:.4e} | {parts.density:.4e} | {logged:.3e} | "
              f"{logged / parts.total:.3f} | {implied:.2f} (ours {1000 * math.sqrt(3 * parts.energy):.2f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
