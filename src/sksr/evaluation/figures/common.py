"""What every figure shares: the mHa scale and the reading of a rule's input lists."""

from __future__ import annotations

import os


MHA = 1000.0


def _as_list(value) -> list[str]:
    return [str(value)] if isinstance(value, (str, os.PathLike)) else [str(v) for v in value]
