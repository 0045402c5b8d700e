"""Seed table rows and the selection rules beyond the paper (sksr.evaluation.tables, sksr.evaluation.seed_selection)."""

import numpy as np
import pandas as pd
import pytest

from sksr.evaluation import seed_selection as rules
from sksr.evaluation.tables import SEED_TABLE_COLUMNS, seed_row
from sksr.training.selection import exclusion_reason


def _record(seed, loss, status="ok"):
    selected = {"evaluation": 10 * seed, "validation_loss": loss} if status == "ok" else None
    return {"seed": seed, "status": status, "num_evaluations": 301, "selected": selected,
            "failure_reason": None if status == "ok" else "non-finite training loss (nan) at evaluation 7"}


SUMMARY = {"test_mae": 0.003, "all_mae": 0.002, "ip_mae": 0.001, "ae_mae": 0.004, "test_density_loss": 1e-4}


def test_seed_rows_account_for_every_seed():
    rows = [
        seed_row("global", record, summary, 0, exclusion_reason(record, 0.1))
        for record, summary in ((_record(0, 2e-6), SUMMARY), (_record(1, 0.3), SUMMARY),
                                (_record(2, 0.0, "failed"), None))
    ]
    table = pd.DataFrame(rows, columns=SEED_TABLE_COLUMNS)
    assert list(table["eligible"]) == [True, False, False]
    assert list(table["predictions_ok"]) == [True, True, False]
    assert list(table["selected"]) == [True, False, False]
    assert "not below 0.1" in table.loc[1, "note"] and "non-finite" in table.loc[2, "note"]
    assert np.isnan(table.loc[2, "test_mae"]) and table.loc[0, "selected_evaluation"] == 0


def test_rule_names_parse_or_fail_clearly():
    assert rules.parse_rule("ensemble-5") == ("ensemble", 5)
    assert rules.parse_rule("ions") == ("ions", 0)
    for bad in ("ensemble-0", "ensemble", "best", "ions-2"):
        with pytest.raises(ValueError, match="unknown selection rule"):
            rules.parse_rule(bad)
    assert rules.rule_label("sKSR-global", "ensemble-5") == "sKSR-global (ensemble of 5)"


def _seeds(losses, eligible=None):
    eligible = eligible or [True] * len(losses)
    return pd.DataFrame({"seed": range(len(losses)), "validation_loss": losses, "eligible": eligible,
                         "predictions_ok": [True] * len(losses), "test_mae": [np.nan] * len(losses)})


def test_ensemble_takes_the_best_validated_eligible_seeds_and_averages_them():
    seeds = _seeds([3e-6, 1e-6, 2e-6, 1e-7], eligible=[True, True, True, False])
    assert rules.choose_seeds("ensemble-2", seeds, {}, {}, []) == [1, 2]
    arrays = {s: {"names": np.array(["A", "B"]), "n_electrons": np.array([1, 2]), "spacing": 0.1,
                  "energies": np.full((2, 3), float(s)), "densities": np.full((2, 2, 4), float(s))}
              for s in (1, 2)}
    chosen, mean = rules.apply_rule("ensemble-2", seeds, arrays, {}, [])
    assert chosen == [1, 2]
    np.testing.assert_allclose(mean["energies"], 1.5)
    np.testing.assert_allclose(mean["densities"], 1.5)


def test_ion_rule_scores_only_the_selection_systems():
    seeds = _seeds([1e-6, 2e-6])
    references = {"Be+": (-6.0, None), "He+": (-1.5, None), "H2": (-2.0, None)}
    predictions = {
        0: {"Be+": (-6.004, None), "He+": (-1.504, None), "H2": (-2.0, None)},  # perfect on the test molecule
        1: {"Be+": (-6.001, None), "He+": (-1.501, None), "H2": (-2.1, None)},
    }
    assert rules.choose_seeds("ions", seeds, predictions, references, ["Be+", "He+"]) == [1]
    assert rules.apply_rule("paper", seeds, {s: {"names": np.array(["Be+"]), "n_electrons": np.array([3]),
                                                 "spacing": 0.1, "energies": np.zeros((1, 1)),
                                                 "densities": np.zeros((1, 2, 1))} for s in (0, 1)},
                            references, [])[0] == [0]


def test_no_eligible_seed_is_a_clear_error_and_subsets_are_disjoint():
    with pytest.raises(ValueError, match="no eligible seed"):
        rules.choose_seeds("ensemble-3", _seeds([1.0], eligible=[False]), {}, {}, [])
    assert rules.seed_subsets(range(25), 10) == [list(range(10)), list(range(10, 20))]
