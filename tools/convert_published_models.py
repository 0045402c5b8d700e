#!/usr/bin/env python3
"""Convert the authors' published parameter pickles once into plain npz + JSON (run by hand, not by the product).

    .venv/bin/python tools/convert_published_models.py PICKLE_DIR [--out src/sksr/functionals/published_models]

PICKLE_DIR holds ``sksr_{lsda,gga,global}_params.pkl`` (Kalita et al. 2022, repository pedersor/ksr_dft,
folder models/, commit 283e23da20d127b28477a4d04a0894c523240b18) and ``ksr_global_h2_params.pkl``,
``ksr_global_h2_h4_nt8_params.pkl`` (Li et al. 2021, google-research/google-research, jax_dft/data/), all
Apache-2.0. The pickles are read with an unpickler that admits numpy arrays and nothing else; the product
only ever reads the npz/JSON written here (``sksr.functionals.published``).
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sksr.functionals.neural import NeuralXCSpec, save_params  # noqa: E402
from sksr.functionals.published import PUBLISHED, ksr_params_from_tree, sksr_params_from_tree  # noqa: E402

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class ArraysOnlyUnpickler(pickle.Unpickler):
    """Admits numpy arrays (and the builtin containers pickle needs no import for); refuses any other class."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only numpy arrays are admitted")


def read_tree(path: Path):
    with open(path, "rb") as handle:
        return ArraysOnlyUnpickler(handle).load()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pickle_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("src/sksr/functionals/published_models"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, entry in PUBLISHED.items():
        source = args.pickle_dir / entry["source_file"]
        tree = read_tree(source)
        metadata = {
            **{k: v for k, v in entry.items() if k != "kind"},
            "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        }
        if entry["kind"] in ("lsda", "gga", "global"):
            spec = NeuralXCSpec(entry["kind"], network_float32=True)
            params = sksr_params_from_tree(entry["kind"], tree)
        else:  # KSR-global with the self-interaction gate; the authors' gate width is kept for the record
            spec = NeuralXCSpec(entry["kind"], self_interaction_gate=True, network_float32=True)
            params = ksr_params_from_tree(tree)
            metadata["gate_width_as_published"] = float(np.asarray(tree[2][0]))
        save_params(args.out / name, spec, params, metadata)
        print(f"{source} -> {args.out / name}.npz|json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
