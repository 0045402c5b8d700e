"""The training objective: the KSR loss and its gradient on flat parameter vectors, jitted at module level
(the compile cache is shared across seeds), single and vmapped over seeds; the data it runs on.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any

import sksr.ks.float64  # noqa: F401 (JAX in float64 before any array exists)
import jax
import jax.numpy as jnp
import numpy as np

from sksr.core.grid import Grid
from sksr.functionals.neural import NeuralXCSpec, build_xc, unflatten_params
from sksr.ks.scf import run_scf
from sksr.training.loss import LossParts, References, ksr_loss
from sksr.training.settings import TrainingSettings


LOGGER = logging.getLogger("sksr.training")


def _loss_parts(
    vector, batch, references, spec, grid, loss_settings, num_iterations, solver, reflection_symmetry=False
) -> LossParts:
    """KSR loss at a flat parameter vector (P,): build xc, run K SCF iterations, compare."""
    xc = build_xc(spec, unflatten_params(spec, vector), grid)
    trajectory = run_scf(
        batch, xc, num_iterations, solver=solver, energy_iterations=loss_settings.kept_iterations,
        reflection_symmetry=reflection_symmetry,
    )  # only the kept iterations' energies enter the loss: the others are not computed
    return ksr_loss(trajectory, references, grid.spacing, loss_settings)


def _loss_and_gradient(vector, batch, references, **static):
    def total(v):
        parts = _loss_parts(v, batch, references, **static)
        return parts.total, parts

    (_, parts), gradient = jax.value_and_grad(total, has_aux=True)(vector)
    return parts, gradient


def _batched(function):
    """vmap ``function(vector, batch, references, **static)`` over a leading axis of ``vector``."""

    def batched(vectors, batch, references, **static):
        return jax.vmap(lambda v: function(v, batch, references, **static))(vectors)

    return batched


_STATIC = ("spec", "grid", "loss_settings", "num_iterations", "solver", "reflection_symmetry")
_jit_loss_and_gradient = jax.jit(_loss_and_gradient, static_argnames=_STATIC)
_jit_batched_loss_and_gradient = jax.jit(_batched(_loss_and_gradient), static_argnames=_STATIC)
_jit_loss = jax.jit(_loss_parts, static_argnames=_STATIC)
_jit_batched_loss = jax.jit(_batched(_loss_parts), static_argnames=_STATIC)


def load_training_data(train_path: str | os.PathLike, validation_path: str | os.PathLike) -> tuple:
    """(train batch, train References, validation batch, validation References) from two dataset files."""
    from sksr.ks.scf import prepare_batch
    from sksr.training.datasets import load_dataset

    train, validation = load_dataset(train_path), load_dataset(validation_path)
    return (
        prepare_batch(list(train.systems), train.grid),
        train.references(),
        prepare_batch(list(validation.systems), validation.grid),
        validation.references(),
    )


def _system_names(batch) -> tuple:
    """System names of a Kohn-Sham batch (empty if it carries none)."""
    return tuple(getattr(getattr(batch, "layout", None), "names", ()) or ())


def _grid_of(batch) -> Grid:
    try:
        return batch.layout.grid
    except AttributeError as error:
        raise TypeError(
            "expected a Kohn-Sham batch from sksr.ks.scf.prepare_batch (with .layout.grid)"
        ) from error


def _check_data(batch, references: References, what: str) -> None:
    n_batch = int(np.shape(batch.external_potential)[0])
    n_refs = int(np.shape(references.energies)[0])
    if n_batch != n_refs:
        raise ValueError(f"{what}: the SCF batch has {n_batch} systems but the references have {n_refs}")
    grid = _grid_of(batch)
    if np.shape(references.densities) != (n_refs, grid.num_points):
        raise ValueError(
            f"{what}: reference densities must have shape ({n_refs}, {grid.num_points}), "
            f"got {np.shape(references.densities)}"
        )
    batch_counts = np.asarray(batch.num_electrons)
    if not np.array_equal(batch_counts, np.asarray(references.n_electrons)):
        raise ValueError(
            f"{what}: electron counts of the references {np.asarray(references.n_electrons).tolist()} do not "
            f"match the SCF batch {batch_counts.tolist()} (same systems, same order?)"
        )


@dataclasses.dataclass(frozen=True)
class _Problem:
    """A batch + references + everything static about the loss."""

    batch: Any
    references: References
    spec: NeuralXCSpec
    settings: TrainingSettings

    def _static(self) -> dict:
        return dict(
            spec=self.spec,
            grid=_grid_of(self.batch),
            loss_settings=self.settings.loss_settings(),
            num_iterations=self.settings.num_iterations,
            solver=self.settings.eigensolver,
            reflection_symmetry=self.settings.reflection_symmetry,
        )

    def loss_and_gradient(self, vector: np.ndarray):
        """(LossParts of floats, gradient (P,)) at one parameter vector."""
        parts, gradient = _jit_loss_and_gradient(
            jnp.asarray(vector), self.batch, self.references, **self._static()
        )
        return LossParts(*(float(p) for p in parts)), np.asarray(gradient)

    def batched_loss_and_gradient(self, vectors: np.ndarray):
        """(LossParts of (S,) arrays, gradients (S, P)) at S parameter vectors."""
        parts, gradients = _jit_batched_loss_and_gradient(
            jnp.asarray(vectors), self.batch, self.references, **self._static()
        )
        return LossParts(*(np.asarray(p) for p in parts)), np.asarray(gradients)

    def losses(self, vectors: np.ndarray, chunk: int) -> np.ndarray:
        """Loss parts at M vectors, shape (M, 3) [total, energy, density]; vmapped in chunks of ``chunk``.

        A chunk that raises (e.g. the eigensolver refusing a non-finite potential) is redone one vector
        at a time; a vector that still raises gets NaN. Both are logged as warnings.
        """
        results = np.full((len(vectors), 3), np.nan)
        for start in range(0, len(vectors), chunk):
            block = vectors[start : start + chunk]
            if chunk > 1:
                padded = np.concatenate([block, np.repeat(block[-1:], chunk - len(block), axis=0)])
                try:
                    parts = _jit_batched_loss(jnp.asarray(padded), self.batch, self.references, **self._static())
                    results[start : start + len(block)] = np.stack([np.asarray(p) for p in parts], 1)[
                        : len(block)
                    ]
                    continue
                except Exception as error:  # noqa: BLE001 -- redo the block one vector at a time below
                    LOGGER.warning("validation of checkpoints %d..%d as one batch raised %s: %s; one at a time",
                                   start, start + len(block) - 1, type(error).__name__, error)
            for i, vector in enumerate(block):
                try:
                    parts = _jit_loss(jnp.asarray(vector), self.batch, self.references, **self._static())
                    results[start + i] = [float(p) for p in parts]
                except Exception as error:  # noqa: BLE001 -- the vector that raises keeps NaN
                    LOGGER.warning("validation loss of checkpoint %d set to NaN: %s: %s",
                                   start + i, type(error).__name__, error)
        return results
