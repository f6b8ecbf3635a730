"""Exact metrics against values computed by hand on a small set with ties."""

from __future__ import annotations

import math

import pytest

from featurelake.ml.evaluation import (
    auc_roc,
    best_f1_threshold,
    calibration_table,
    evaluate,
    ranking_metrics,
    segment_table,
)
from featurelake.testing import frame_of

# (segment, label, score): 3 positives, 4 negatives, one tie across the classes at 0.7
ROWS = [
    ("a", 1, 0.9),
    ("a", 0, 0.8),
    ("a", 1, 0.7),
    ("b", 0, 0.7),
    ("b", 1, 0.6),
    ("b", 0, 0.2),
    ("b", 0, 0.1),
]


@pytest.fixture(scope="module")
def predictions(spark):
    return frame_of(spark, ROWS, "segment string, label int, score double")


def test_auc_counts_ties_as_one_half(predictions):
    # positive 0.9 beats all 4 negatives; 0.7 beats 0.2 and 0.1 and ties 0.7; 0.6 beats 0.2 and 0.1
    assert auc_roc(predictions, "label", "score").first()["auc_roc"] == pytest.approx(8.5 / 12, abs=1e-12)


def test_average_precision_is_the_step_area_under_the_pr_curve(predictions):
    # thresholds 0.9, 0.7 (both tied rows at once) and 0.6 each add a third of recall at precision 1, 2/4, 3/5
    auc, average_precision = ranking_metrics(predictions, "label", "score")
    assert average_precision == pytest.approx(1 / 3 + 1 / 6 + 1 / 5, abs=1e-12)
    assert auc == pytest.approx(8.5 / 12, abs=1e-12)  # the same pass gives the AUC, ties one half


def test_threshold_maximizes_f1(predictions):
    # F1 at 0.9: 0.5, 0.8: 0.4, 0.7: 4/7, 0.6: 0.75, 0.2: 2/3, 0.1: 0.6
    assert best_f1_threshold(predictions, "label", "score") == 0.6


def test_evaluate_at_a_threshold(predictions):
    scores = evaluate(predictions, "label", "score", threshold=0.6)
    expected_log_loss = -sum(math.log(score) if label else math.log(1 - score) for _, label, score in ROWS) / len(ROWS)
    expected_brier = sum((score - label) ** 2 for _, label, score in ROWS) / len(ROWS)
    assert scores.rows == 7 and scores.positive_rate == pytest.approx(3 / 7)
    assert scores.log_loss == pytest.approx(expected_log_loss, abs=1e-12)
    assert scores.brier == pytest.approx(expected_brier, abs=1e-12)
    assert (scores.precision, scores.recall, scores.f1) == (pytest.approx(3 / 5), 1.0, pytest.approx(0.75))
    assert scores.auc_roc == pytest.approx(8.5 / 12)


def test_a_segment_exactly_the_drop_below_is_flagged(spark):
    # overall 0.60, segment AUC 0.55 (11 of 20 pairs): 0.60 - 0.55 < 0.05 in floating point
    rows = [("s", 1, p) for p in (1.5, 1.5, 2.5, 3.5, 4.5)] + [("s", 0, n) for n in (1.0, 2.0, 3.0, 4.0)]
    table = segment_table(
        frame_of(spark, rows, "segment string, label int, score double"),
        "label",
        "score",
        ["segment"],
        overall_auc=0.60,
        drop=0.05,
        min_rows=1,
    )
    assert table[0].auc_roc == pytest.approx(0.55) and table[0].flagged


def test_segments_are_flagged_below_the_overall_auc(predictions):
    table = segment_table(predictions, "label", "score", ["segment"], overall_auc=0.95, drop=0.05, min_rows=2)
    by_value = {row.value: row for row in table}
    # a: the positives 0.9 and 0.7 against the negative 0.8 -> 1/2; b: 0.6 against 0.7, 0.2, 0.1 -> 2/3
    assert by_value["a"].auc_roc == pytest.approx(0.5) and by_value["a"].flagged
    assert by_value["b"].auc_roc == pytest.approx(2 / 3) and by_value["b"].flagged
    assert (by_value["a"].rows, by_value["b"].rows) == (3, 4)
    small = segment_table(predictions, "label", "score", ["segment"], overall_auc=0.75, drop=0.05, min_rows=4)
    assert [(r.value, r.auc_roc, r.flagged) for r in small] == [("a", None, False), ("b", 2 / 3, True)]


def test_calibration_bins(predictions):
    table = calibration_table(predictions, "label", "score")
    assert [b.bin for b in table] == [f"{i / 10:.1f}-{(i + 1) / 10:.1f}" for i in range(10)]
    bins = {b.bin: b for b in table if b.rows}
    assert set(bins) == {"0.1-0.2", "0.2-0.3", "0.6-0.7", "0.7-0.8", "0.8-0.9", "0.9-1.0"}
    assert bins["0.7-0.8"].rows == 2 and bins["0.7-0.8"].observed_rate == 0.5
    assert bins["0.7-0.8"].mean_predicted == pytest.approx(0.7)
