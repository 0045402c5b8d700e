"""Issue 8's experiments beyond the paper: the config overlays and the checkpoint-selection rules of
tools/checkpoint_validation_experiment.py (results in docs/results.md)."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sksr.pipeline.config_files import check_files

ROOT = Path(__file__).resolve().parents[1]
OVERLAYS = sorted((ROOT / "config" / "overlays").glob("*.yaml"))
TEST = ["A", "B"]


def _experiment_module(name="checkpoint_validation_experiment"):
    """A tool, imported as a module (a script, not part of the package; it puts tools/ on sys.path)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.stem for p in OVERLAYS])
def test_overlays_pass_the_config_check_and_leave_the_test_split_alone(overlay):
    """Each overlay, layered on the paper config, is a valid config whose test molecules are the paper's
    and whose added systems are neither test systems nor test geometries."""
    paper = check_files([ROOT / "config" / "config.yaml"]).config
    merged = check_files([ROOT / "config" / "config.yaml", overlay]).config
    assert merged["split"]["test"] == paper["split"]["test"]
    added = set(merged["systems"]) - set(paper["systems"])
    assert added, f"{overlay.name} adds no system"
    test_geometries = {tuple(paper["systems"][n]["nuclear_positions"]) + tuple(paper["systems"][n]["nuclear_charges"])
                       for n in paper["split"]["test"]}
    for name in added:
        system = merged["systems"][name]
        assert tuple(system["nuclear_positions"]) + tuple(system["nuclear_charges"]) not in test_geometries
    seen_by_selection = set(merged["split"]["train"]) | set(merged["split"]["validation"])
    seen_by_selection |= set(merged["selection"]["extra_validation"])
    assert added <= seen_by_selection, "an added system that no training or selection step uses"


def _candidates():
    """Three seeds x two checkpoints; selection errors favour seed 1 @ 10, test errors favour seed 2 @ 0."""
    rows = []
    for seed, evaluation, sel, test in [(0, 0, 3.0, [4.0, -4.0]), (0, 10, 2.0, [3.0, -1.0]),
                                        (1, 0, 1.5, [-2.0, 2.0]), (1, 10, 0.5, [2.0, 4.0]),
                                        (2, 0, 4.0, [0.5, -0.5]), (2, 10, 5.0, [6.0, 6.0])]:
        rows.append({"seed": seed, "evaluation": evaluation, "selection_mae": sel,
                     "test_mae": float(np.mean(np.abs(test))), "test_max": float(np.max(np.abs(test))),
                     "err:A": test[0], "err:B": test[1], "sel:X": sel, "sel:Y": 2 * sel})
    return pd.DataFrame(rows)


def test_checkpoint_rules_use_the_selection_systems_and_the_oracle_the_test_answers():
    tool = _experiment_module()
    table = _candidates()
    seeds = pd.DataFrame({"seed": [0, 1, 2], "selected_evaluation": [10, 0, 0],
                          "validation_loss": [1e-6, 2e-6, 3e-6]})
    rows = {r["rule"]: r for r in tool.rule_rows(table, seeds, TEST, [2])}
    assert rows["paper"]["chosen"] == "0@10" and rows["paper"]["test_mae"] == pytest.approx(2.0)
    assert rows["checkpoint"]["chosen"] == "1@10"
    # the committee takes each seed's best checkpoint once: 1@10 and 0@10, not 1@0
    assert rows["checkpoint-committee-2"]["chosen"] == "1@10 0@10"
    assert rows["checkpoint-committee-2"]["test_mae"] == pytest.approx(np.mean(np.abs([2.5, 1.5])))
    assert rows["oracle (test answers)"]["chosen"] == "2@0"


def test_fitted_committee_zeroes_the_selection_errors_when_it_can():
    """Every candidate's selection errors lie along (1, 2) except two: 1@10 along (1, 0.5) and 2@0 along
    (-1, -0.5). Only 2/3 of the first and 1/3 of the second cancel, and the linear program finds them."""
    tool = _experiment_module()
    table = _candidates()
    table.loc[3, ["sel:X", "sel:Y"]] = [0.5, 0.25]  # 1@10
    table.loc[4, ["sel:X", "sel:Y"]] = [-1.0, -0.5]  # 2@0
    row = tool.fitted_committee_row(table, TEST)
    weights = {m.rsplit(":", 1)[0]: float(m.rsplit(":", 1)[1]) for m in row["chosen"].split()}
    assert weights == pytest.approx({"1@10": 2 / 3, "2@0": 1 / 3}, abs=0.01)
    assert row["test_mae"] == pytest.approx(np.mean(np.abs([2 / 3 * 2.0 + 1 / 3 * 0.5, 2 / 3 * 4.0 - 1 / 3 * 0.5])),
                                            abs=0.02)


def test_published_start_noise_is_relative_to_each_array_and_reproducible():
    """The perturbed warm starts of tools/published_start_experiment.py: scale 0 is the published point,
    the noise of each array has standard deviation scale * rms(array), and a replica number fixes it."""
    tool = _experiment_module("published_start_experiment")
    rng = np.random.default_rng(0)
    params = {"conv_0": 3.0 * rng.standard_normal((3, 16, 16)), "global_eta": 0.01 * rng.standard_normal(7)}
    for name, value in tool.perturbed(params, 0.0, 1).items():
        np.testing.assert_array_equal(value, params[name])
    noisy = tool.perturbed(params, 0.1, 1)
    for name, value in params.items():
        rms = np.sqrt(np.mean(value**2))
        relative = (noisy[name] - value) / (0.1 * rms)
        assert abs(np.std(relative) - 1) < (0.1 if value.size > 100 else 0.6)
    again, other = tool.perturbed(params, 0.1, 1), tool.perturbed(params, 0.1, 2)
    np.testing.assert_array_equal(again["conv_0"], noisy["conv_0"])
    assert not np.allclose(other["conv_0"], noisy["conv_0"])
    names = [name for name, _, _ in tool.starts(params, [0.1], 2, [0, 1])]
    assert names == ["published", "published+0.1#0", "published+0.1#1", "seed 0", "seed 1"]
