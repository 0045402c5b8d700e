"""The paper's checkpoint and seed selection: the seed whose best checkpoint has the lowest validation loss.

Reads the run directories that ``sksr.training`` writes (``run.json``, ``best.npz|json``) and needs neither
SciPy nor TeNPy, so the workflow's ``select_seed`` job runs in the analysis environment. Rules beyond the
paper's are in ``sksr.evaluation.seed_selection``.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping, Sequence

from sksr.io.atomic import atomic_write_json

RUN_RECORD = "run.json"  # file names of a training run directory (written by sksr.training)
BEST_STEM = "best"


def checkpoint_stem(run_dir: Path, evaluation: int) -> Path:
    """``<run>/checkpoints/eval_NNNNNN``: the parameter files (.npz, .json) of one checkpoint of a run."""
    return Path(run_dir) / "checkpoints" / f"eval_{evaluation:06d}"


class SelectionError(RuntimeError):
    """No seed can be selected (every run failed or none finished)."""


def load_run_record(run_dir: str | os.PathLike) -> dict:
    """The ``run.json`` of a run directory; SelectionError naming the file if it is missing or unreadable."""
    path = Path(run_dir) / RUN_RECORD
    if not path.exists():
        raise SelectionError(f"{path}: missing (the run did not finish, or its record was removed)")
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SelectionError(f"{path}: unreadable run record ({error})") from error
    if not isinstance(record, dict) or "status" not in record or "seed" not in record:
        raise SelectionError(f"{path}: not a run record (no 'status' or 'seed')")
    return record


DEFAULT_MAX_VALIDATION_LOSS = 0.1
"""Seeds whose selected validation loss is not below this are never selected (the published runs)."""


def exclusion_reason(record: Mapping, max_validation_loss: float = DEFAULT_MAX_VALIDATION_LOSS) -> str:
    """Why selection never picks the seed of a run record ("" when it is eligible): it failed, has no
    finite validation loss, or its loss is not below ``max_validation_loss``."""
    selected = record.get("selected")
    if record.get("status") != "ok" or not selected:
        return record.get("failure_reason") or "no selected checkpoint"
    loss = selected.get("validation_loss")
    if not isinstance(loss, (int, float)) or not math.isfinite(loss):
        return "no finite validation loss"
    if loss >= max_validation_loss:
        return f"validation loss {loss:.3g} is not below {max_validation_loss:g}"
    return ""


def _candidate_or_reason(run_dir, record: dict, max_validation_loss: float) -> tuple[dict | None, str]:
    """A run's candidate entry, or None and why it is excluded."""
    reason = exclusion_reason(record, max_validation_loss)
    if reason:
        return None, reason
    selected = record["selected"]
    loss = selected["validation_loss"]
    return {
        "run_dir": str(run_dir),
        "seed": record["seed"],
        "model_kind": record["model_kind"],
        "evaluation": selected["evaluation"],
        "validation_loss": loss,
        "train_loss": selected["train_loss"],
        "num_evaluations": record.get("num_evaluations"),
        "params": str(Path(run_dir) / selected["params"]),
    }, ""


def select_best_seed(
    run_dirs: Sequence[str | os.PathLike],
    out_dir: str | os.PathLike | None = None,
    max_validation_loss: float = DEFAULT_MAX_VALIDATION_LOSS,
    require_records: bool = False,
) -> dict:
    """Pick the run whose selected checkpoint has the lowest validation loss (ties: lowest seed).

    Runs that failed (non-finite loss, no finite validation loss) or whose loss is not below
    ``max_validation_loss`` are excluded and listed with their reasons. A run directory without a
    readable ``run.json`` is excluded too, unless ``require_records`` (the workflow's setting: every
    seed job finished, so a missing record is damage, not a failed seed), where it raises
    ``SelectionError`` naming the file. Raises ``SelectionError`` naming every run's reason when no run
    is left. With ``out_dir``, writes ``out_dir/selection.json`` (the returned record) and copies the
    winner's parameters to ``out_dir/params.npz`` + ``out_dir/params.json``.

    Returns:
      ``{"selected": {seed, run_dir, model_kind, evaluation, validation_loss, train_loss, params},
      "candidates": [...], "failed": [{run_dir, seed, reason}, ...], "max_validation_loss": float}``.
    """
    if len(run_dirs) == 0:
        raise SelectionError("no runs to select from")
    candidates, failed = [], []
    for run_dir in run_dirs:
        try:
            record = load_run_record(run_dir)
        except SelectionError as error:
            if require_records:
                raise
            failed.append({"run_dir": str(run_dir), "seed": None, "reason": str(error)})
            continue
        candidate, reason = _candidate_or_reason(run_dir, record, max_validation_loss)
        if candidate is None:
            failed.append({"run_dir": str(run_dir), "seed": record.get("seed"), "reason": reason})
        else:
            candidates.append(candidate)
    if not candidates:
        reasons = "; ".join(f"seed {f['seed']} ({f['run_dir']}): {f['reason']}" for f in failed)
        raise SelectionError(
            f"no seed can be selected from {len(run_dirs)} runs (every seed failed or has a validation "
            f"loss not below {max_validation_loss:g}): {reasons}"
        )
    kinds = {c["model_kind"] for c in candidates}
    if len(kinds) > 1:
        raise SelectionError(f"runs of different model kinds cannot be compared: {sorted(kinds)}")
    best = min(candidates, key=lambda c: (c["validation_loss"], c["seed"]))
    selection = {
        "selected": best,
        "candidates": candidates,
        "failed": failed,
        "max_validation_loss": max_validation_loss,
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        from sksr.functionals.neural import load_params, save_params  # JAX only where parameters are copied

        spec, params, metadata = load_params(Path(best["run_dir"]) / BEST_STEM)
        save_params(out_dir / "params", spec, params, {**metadata, "selected_from": len(run_dirs)})
        atomic_write_json(out_dir / "selection.json", selection)
    return selection
