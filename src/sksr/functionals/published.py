"""The authors' published trained functionals, as baselines run through our Kohn-Sham engine.

Five parameter sets, converted once from the authors' pickles (``tools/convert_published_models.py``,
an unpickler that admits numpy arrays only) into plain ``.npz`` + ``.json`` files in
``sksr/functionals/published_models/`` (Apache-2.0, attribution in its NOTICE.md). No pickle is ever
loaded here.

- ``sksr_lsda``, ``sksr_gga``, ``sksr_global``: the sKSR study (Kalita et al., JPCL 13, 2540 (2022)),
  each one checkpoint of one seed of the authors' 30-seed runs (see ``PUBLISHED[...]["selection"]``).
  They load as ordinary ``NeuralXCSpec`` models with ``network_float32=True`` (the authors evaluated
  the network in float32). The authors excluded some lower-validation LSDA/GGA seeds by hand, so these
  two are not what the paper's selection rule picks from the same runs.
- ``ksr_global_h2``, ``ksr_global_h2_h4_nt8``: KSR-global with the self-interaction gate from the
  original KSR study (Li et al., PRL 126, 036401 (2021)); stored as raw named arrays for the H2 study.

Layer mapping (the authors' ``stax`` trees; kernels are (tap, in, out), cross-correlation, SAME zero
padding, no biases): LSDA/GGA ``[(W0,), (), (W1,), (), (W2,), (), (W3,), ()]`` with ``W_k`` of shape
(1, in, out) -> ``dense_k = W_k[0]``, ``dense_out = W3[0]``; global
``[[(), ((), [(eta,)]), ()], (W0,), (), (W1,), (), (W2,), ()]`` -> ``global_eta = eta`` (7,),
``conv_0 = W0`` (3, 16, 16), ``conv_1 = W1``, ``conv_out = W2[0]`` (16, 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MODELS_DIR = Path(__file__).resolve().parent / "published_models"

_SKSR_SOURCE = {
    "repository": "GitHub pedersor/ksr_dft",
    "commit": "283e23da20d127b28477a4d04a0894c523240b18",
    "license": "Apache-2.0",
    "reference": "Kalita, Pederson, Chen, Li, Burke, J. Phys. Chem. Lett. 13, 2540 (2022)",
}
_KSR_SOURCE = {
    "repository": "GitHub google-research/google-research, folder jax_dft/data (also in pedersor/ksr_dft)",
    "commit": None,
    "license": "Apache-2.0",
    "reference": "Li, Hoyer, Pederson, Sun, Cubuk, Riley, Burke, Phys. Rev. Lett. 126, 036401 (2021)",
}

PUBLISHED: dict[str, dict[str, Any]] = {
    "sksr_lsda": {
        "kind": "lsda",
        "label": "published sKSR-LSDA",
        "source_file": "sksr_lsda_params.pkl",
        "source_path": "models/sksr_lsda_params.pkl",
        "selection": "seed 29, checkpoint at evaluation 210, validation loss 5.79e-5; six seeds with lower "
        "validation losses (4, 6, 7, 13, 16, 22) were excluded by hand, no reason recorded",
        **_SKSR_SOURCE,
    },
    "sksr_gga": {
        "kind": "gga",
        "label": "published sKSR-GGA",
        "source_file": "sksr_gga_params.pkl",
        "source_path": "models/sksr_gga_params.pkl",
        "selection": "seed 8, checkpoint at evaluation 220, validation loss 1.23e-5; seed 15 (9.45e-6) was "
        "excluded by hand, no reason recorded",
        **_SKSR_SOURCE,
    },
    "sksr_global": {
        "kind": "global",
        "label": "published sKSR-global",
        "source_file": "sksr_global_params.pkl",
        "source_path": "models/sksr_global_params.pkl",
        "selection": "seed 0, checkpoint at evaluation 240, validation loss 1.40e-6: the lowest of all 30 seeds",
        **_SKSR_SOURCE,
    },
    "ksr_global_h2": {
        "kind": "ksr-global",
        "label": "published KSR-global (H2, 2 geometries)",
        "source_file": "ksr_global_h2_params.pkl",
        "source_path": "jax_dft/data/h2_optimal.pkl",
        "selection": "trained on H2 at R = 1.28 and 3.84 bohr",
        **_KSR_SOURCE,
    },
    "ksr_global_h2_h4_nt8": {
        "kind": "ksr-global",
        "label": "published KSR-global (H2 + H4, N_train = 8)",
        "source_file": "ksr_global_h2_h4_nt8_params.pkl",
        "source_path": "jax_dft/data/h2_h4_Nt_8_optimal.pkl",
        "selection": "trained on 8 H2 and 8 H4 geometries",
        **_KSR_SOURCE,
    },
}

BASELINE_PREFIX = "published-"
PUBLISHED_BASELINES = {
    "published-lsda": "sksr_lsda",
    "published-gga": "sksr_gga",
    "published-global": "sksr_global",
    "published-ksr-global-h2": "ksr_global_h2",
    "published-ksr-global-h2-h4": "ksr_global_h2_h4_nt8",
}
"""Workflow baseline ids (config ``evaluation.baselines``) -> published parameter sets (``PUBLISHED``)."""


def published_name(baseline: str) -> str:
    """``"published-global"`` -> ``"sksr_global"`` (ValueError naming the known ids for anything else)."""
    if baseline not in PUBLISHED_BASELINES:
        raise ValueError(f"unknown published baseline {baseline!r}; known: {sorted(PUBLISHED_BASELINES)}")
    return PUBLISHED_BASELINES[baseline]


def published_baseline_labels() -> dict[str, str]:
    """Baseline id -> label in tables and figures (``"published-global"`` -> ``"published sKSR-global"``)."""
    return {baseline: PUBLISHED[name]["label"] for baseline, name in PUBLISHED_BASELINES.items()}


def published_files(name: str) -> list[Path]:
    """The ``.npz`` and ``.json`` of a published parameter set."""
    if name not in PUBLISHED:
        raise ValueError(f"unknown published model {name!r}; known: {sorted(PUBLISHED)}")
    return [MODELS_DIR / f"{name}.npz", MODELS_DIR / f"{name}.json"]


def load_published(name: str):
    """(spec, params, metadata) of a published model (``PUBLISHED``), ready for ``neural.build_xc``."""
    from sksr.functionals.neural import load_params

    if name not in PUBLISHED:
        raise ValueError(f"unknown published model {name!r}; known: {sorted(PUBLISHED)}")
    return load_params(MODELS_DIR / name)


# ---- conversion from the authors' parameter trees (used by tools/convert_published_models.py) -------
def _kernel(node, shape: tuple[int, ...], where: str) -> np.ndarray:
    """The single array of a ``(W,)`` layer node, checked against ``shape``."""
    if not (isinstance(node, (tuple, list)) and len(node) == 1):
        raise ValueError(f"{where}: expected a one-array layer (W,), got {type(node).__name__} of {len(node)}")
    array = np.asarray(node[0])
    if array.shape != shape or not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"{where}: expected a float array of shape {shape}, got {array.dtype} {array.shape}")
    return np.asarray(array, dtype=np.float64)


def _check_empty(nodes, where: str) -> None:
    if any(len(node) != 0 for node in nodes):
        raise ValueError(f"{where}: activation layers must hold no parameters")


def _global_tree_arrays(tree, num_widths: int, in_channels: int, where: str) -> dict[str, np.ndarray]:
    """eta + three conv kernels of a ``[[(), ((), [(eta,)]), ()], (W0,), (), (W1,), (), (W2,), ()]`` tree."""
    if not (isinstance(tree, (list, tuple)) and len(tree) == 7):
        raise ValueError(f"{where}: expected 7 layers (smoothing, conv, act, conv, act, conv, act)")
    smoothing = tree[0]
    try:
        eta = _kernel(smoothing[1][1][0], (num_widths,), f"{where} widths")
    except (IndexError, TypeError) as error:
        raise ValueError(f"{where}: the first layer is not the exponential smoothing [(), ((), [(eta,)]), ()]") from error
    _check_empty(tree[2::2], where)
    return {
        "eta": eta,
        "conv_0": _kernel(tree[1], (3, in_channels, 16), f"{where} conv 0"),
        "conv_1": _kernel(tree[3], (3, 16, 16), f"{where} conv 1"),
        "conv_out": _kernel(tree[5], (1, 16, 1), f"{where} conv out")[0],
    }


def sksr_params_from_tree(kind: str, tree) -> dict[str, np.ndarray]:
    """Our parameter dict (``neural.parameter_shapes``) from an authors' sKSR tree (see module docstring)."""
    if kind in ("lsda", "gga"):
        n_inputs = 2 if kind == "lsda" else 3
        if not (isinstance(tree, (list, tuple)) and len(tree) == 8):
            raise ValueError(f"sKSR-{kind}: expected 8 layers (4 x (dense, activation)), got {len(tree)}")
        _check_empty(tree[1::2], f"sKSR-{kind}")
        shapes = [(1, n_inputs, 16), (1, 16, 16), (1, 16, 16), (1, 16, 1)]
        names = ["dense_0", "dense_1", "dense_2", "dense_out"]
        return {
            name: _kernel(node, shape, f"sKSR-{kind} {name}")[0]
            for name, node, shape in zip(names, tree[0::2], shapes)
        }
    if kind == "global":
        arrays = _global_tree_arrays(tree, 7, 16, "sKSR-global")
        return {"global_eta": arrays.pop("eta"), **arrays}
    raise ValueError(f"unknown sKSR kind {kind!r}")


def ksr_params_from_tree(tree) -> dict[str, np.ndarray]:
    """Our ``"ksr-global"`` parameter dict (gate included) from a KSR-global-with-gate tree
    ``[(), ((), [global tree]), (w,)]`` (PRL 2021).

    The authors' gate holds its width ``w`` itself (``beta = exp(-((N - 1) / w)^2)``); ours holds
    ``si_log_width = log |w|`` (only ``w^2`` enters).
    """
    if not (isinstance(tree, (list, tuple)) and len(tree) == 3):
        raise ValueError("KSR-global: expected [(), ((), [global network]), (gate,)]")
    arrays = _global_tree_arrays(tree[1][1], 15, 16, "KSR-global")
    width = float(_kernel(tree[2], (), "KSR-global gate"))
    if width == 0.0:
        raise ValueError("KSR-global gate: width w = 0")
    return {"global_eta": arrays.pop("eta"), **arrays, "si_log_width": np.array(np.log(abs(width)))}
