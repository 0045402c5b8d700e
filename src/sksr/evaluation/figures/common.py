"""What every figure shares: the mHa scale, the generalization methods' colours, and the reading of a
rule's input lists."""

from __future__ import annotations

import os


MHA = 1000.0
GENERALIZATION_COLORS = {"ksr": "C0", "ksr-energy": "C1", "direct-ml": "C2"}
"""One colour per method of the generalization experiment, the same in its two figures."""


def _as_list(value) -> list[str]:
    return [str(value)] if isinstance(value, (str, os.PathLike)) else [str(v) for v in value]
