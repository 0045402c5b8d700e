"""Training settings (:class:`TrainingSettings`): everything that defines a run besides the model kind, the
seed and the data; the defaults are the authors' published protocol (``sksr.training``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import numpy as np

from sksr.functionals.neural import NeuralXCSpec
from sksr.ks.eigensolver import SOLVERS
from sksr.training.loss import LossSettings


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"training setting {name!r} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"training setting {name!r} must be >= {minimum}, got {value}")


def _check_float(name: str, value, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"training setting {name!r} must be a number, got {value!r}")
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bracket = "(" if low_open else "["
        raise ValueError(f"training setting {name!r} must lie in {bracket}{low}, {high}], got {value}")


def lbfgs_options(max_evaluations: int, history: int, factr: float, pgtol: float) -> dict:
    """SciPy ``minimize(method="L-BFGS-B")`` options from the authors' ``fmin_l_bfgs_b`` settings
    (``maxfun``, ``m``, ``factr``, ``pgtol``; ``ftol = factr * eps``)."""
    return dict(
        maxcor=int(history), maxfun=int(max_evaluations), ftol=float(factr) * np.finfo(np.float64).eps,
        gtol=float(pgtol), maxls=20,
    )


VALIDATION_LOSSES = {"total": 0, "energy": 1}
"""Validation criteria -> their column in the (M, 3) validation losses (total, energy, density)."""


@dataclasses.dataclass(frozen=True)
class TrainingSettings:
    """Everything that defines a training run besides the model kind, the seed and the data.

    Defaults are the authors' published protocol (docs/physics.md section 8, "The published runs").

    Attributes:
      max_evaluations: SciPy's ``maxfun``: L-BFGS-B stops at the end of the first iteration after more
        than this many loss evaluations (300: evaluations 0..300).
      num_iterations: K, SCF iterations in the training (and validation) loss.
      energy_loss_weight: w in ``L = w L_E + (1 - w) L_n``.
      discount: d of the trajectory energy loss.
      kept_iterations: number of final iterations in the energy loss (1 = the last only, as published).
      checkpoint_every: save parameters at evaluations 0, c, 2c, ...
      lbfgs_history: L-BFGS memory (number of correction pairs), SciPy ``m``.
      lbfgs_factr: SciPy ``factr``; stop when the relative loss decrease is below factr * machine eps.
      lbfgs_pgtol: SciPy ``pgtol``; stop when the largest gradient component is below it.
      network_float32: evaluate the network in float32 (the KS machinery stays float64), as published.
      self_interaction_gate: add the trainable self-interaction gate to the network.
      eigensolver: SCF eigensolver (``sksr.ks.eigensolver``): ``"banded"`` (host LAPACK), ``"dense"``
        (jnp.linalg.eigh) or ``"device"`` (banded in JAX: no host callback, fastest on CPU, for GPUs).
      reflection_symmetry: enforce each molecule's mirror symmetry in the SCF (``sksr.ks.scf.run_scf``), as
        the original KSR study did for its H2 / H4 curves; every system must be mirror symmetric.
      validation_loss: what picks a seed's checkpoint (and then the seed): ``"total"``, the training loss
        on the validation systems (the sKSR runs), or ``"energy"``, its energy term alone (the KSR study's
        training scored checkpoints by the energy only).
    """

    max_evaluations: int = 300
    num_iterations: int = 10
    energy_loss_weight: float = 0.5
    discount: float = 0.9
    kept_iterations: int = 1
    checkpoint_every: int = 10
    lbfgs_history: int = 20
    lbfgs_factr: float = 1.0
    lbfgs_pgtol: float = 1e-14
    network_float32: bool = True
    self_interaction_gate: bool = False
    eigensolver: str = "device"
    reflection_symmetry: bool = False
    validation_loss: str = "total"

    def __post_init__(self):
        _check_int("max_evaluations", self.max_evaluations, 1)
        _check_int("num_iterations", self.num_iterations, 1)
        _check_int("kept_iterations", self.kept_iterations, 1)
        _check_int("checkpoint_every", self.checkpoint_every, 1)
        _check_int("lbfgs_history", self.lbfgs_history, 1)
        _check_float("energy_loss_weight", self.energy_loss_weight, 0.0, 1.0)
        _check_float("discount", self.discount, 0.0, 1.0, low_open=True)
        _check_float("lbfgs_factr", self.lbfgs_factr, 0.0, 1e20)
        _check_float("lbfgs_pgtol", self.lbfgs_pgtol, 0.0, 1e20)
        for name in ("network_float32", "self_interaction_gate", "reflection_symmetry"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(
                    f"training setting {name!r} must be true or false, got {getattr(self, name)!r}"
                )
        if self.validation_loss not in VALIDATION_LOSSES:
            raise ValueError(
                f"training setting 'validation_loss' must be one of {tuple(VALIDATION_LOSSES)}, "
                f"got {self.validation_loss!r}"
            )
        if self.eigensolver not in SOLVERS:
            raise ValueError(
                f"training setting 'eigensolver' must be one of {SOLVERS}, got {self.eigensolver!r}"
            )
        if self.kept_iterations > self.num_iterations:
            raise ValueError(
                f"training setting 'kept_iterations' ({self.kept_iterations}) exceeds "
                f"'num_iterations' ({self.num_iterations})"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any], ignore: frozenset = frozenset()) -> "TrainingSettings":
        """Build from a config mapping (e.g. the workflow's ``training`` section plus ``num_iterations``).

        Keys in ``ignore`` (the workflow passes its resource and job-layout keys) are skipped; any other
        unknown key is an error that names it, and so is a value of the wrong type or range.
        """
        allowed = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - allowed - set(ignore))
        if unknown:
            raise ValueError(f"training settings: unknown keys {unknown} (allowed: {sorted(allowed)})")
        return cls(**{k: v for k, v in config.items() if k in allowed})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def loss_settings(self) -> LossSettings:
        return LossSettings(
            energy_weight=float(self.energy_loss_weight),
            discount=float(self.discount),
            kept_iterations=int(self.kept_iterations),
        )

    def model_spec(self, model_kind: str) -> NeuralXCSpec:
        return NeuralXCSpec(
            kind=model_kind,
            self_interaction_gate=self.self_interaction_gate,
            network_float32=self.network_float32,
        )


def settings_from_job(job_settings: Mapping[str, Any]) -> TrainingSettings:
    """TrainingSettings from a training job's config slice ``{"training.<key>": value, ...,
    "scf.train_iterations": K}`` (the workflow's ``params.settings``)."""
    training = {k.removeprefix("training."): v for k, v in job_settings.items() if k.startswith("training.")}
    return TrainingSettings.from_config({**training, "num_iterations": job_settings["scf.train_iterations"]})
