"""Monitoring's estimators on small frames against computations by hand: the performance expected from the
probabilities (CBPE), the Jensen-Shannon distance, and the drift thresholds calibrated on windows of the
reference."""

from __future__ import annotations

import datetime as dt
import math
import random

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.periods import Grain, TimeWindow
from featurelake.monitoring.calibration import (
    MEMBERSHIP_SCHEMA,
    calibrated_thresholds,
    membership,
    reference_windows,
    window_statistics,
)
from featurelake.monitoring.drift import (
    bin_shares,
    categorical_binning,
    jensen_shannon_distance,
    numeric_binning,
    population_stability_index,
)
from featurelake.monitoring.estimated import CALIBRATED, calibrated, daily_estimates, estimate, fit_calibrator
from featurelake.testing import frame_of

D = dt.date


def brute_force_expected_auc(scores: list[float], chances: list[float] | None = None) -> float:
    """Every ordered pair of distinct rows, weighted by the chance the first is the positive and the second the
    negative; concordant when the positive scores higher, ties one half."""
    chances = chances or scores
    concordant = pairs = 0.0
    for i, (s, p) in enumerate(zip(scores, chances, strict=True)):
        for j, (t, q) in enumerate(zip(scores, chances, strict=True)):
            if i == j:
                continue
            weight = p * (1 - q)
            pairs += weight
            concordant += weight * (1.0 if s > t else 0.5 if s == t else 0.0)
    return concordant / pairs


def test_expected_metrics_are_the_brute_force_ones_per_day_and_over_all(spark):
    generator = random.Random(7)
    first = [round(generator.random(), 1) for _ in range(30)]  # ties on purpose
    second = [0.9, 0.9, 0.2, 0.6, 0.05]
    rows = [(p, D(2013, 1, 1)) for p in first] + [(p, D(2013, 1, 2)) for p in second]
    frame = calibrated(frame_of(spark, rows, "probability double, _run_date date"), None)

    days = daily_estimates(frame, threshold=0.6)

    assert [d.day for d in days] == [D(2013, 1, 1), D(2013, 1, 2)]
    for day, scores in zip(days, (first, second), strict=True):
        e = day.estimate
        assert e.rows == len(scores)
        assert e.auc_roc == pytest.approx(brute_force_expected_auc(scores), abs=1e-12)
        above = [p for p in scores if p >= 0.6]
        assert e.precision == pytest.approx(sum(above) / len(above), abs=1e-12)  # E[TP] / predicted positives
        assert e.recall == pytest.approx(sum(above) / sum(scores), abs=1e-12)  # E[TP] / E[positives]
        assert e.positive_rate == pytest.approx(sum(scores) / len(scores), abs=1e-12)
    both = estimate(frame, threshold=0.6)
    assert both.rows == 35 and both.auc_roc == pytest.approx(brute_force_expected_auc(first + second), abs=1e-12)
    one = calibrated(frame_of(spark, [(0.1, D(2013, 1, 1))], "probability double, _run_date date"), None)
    nothing_above = estimate(one, 0.6)
    assert nothing_above.precision is None and nothing_above.recall == 0.0 and nothing_above.auc_roc is None


def test_the_estimates_rank_by_the_model_and_weigh_by_probabilities_calibrated_on_labelled_rows(spark):
    # the model's probabilities are twice too high: its label comes one time in two, at every score here
    labelled = frame_of(
        spark,
        [(0.2, 0), (0.2, 1), (0.4, 1), (0.4, 0), (0.8, 1), (0.8, 1), (0.8, 1), (0.8, 0)],
        "probability double, is_delayed int",
    )
    calibrator = fit_calibrator(labelled, "is_delayed")
    raw = [0.2, 0.4, 0.8, 0.8, 0.3]
    frame = frame_of(spark, [(p, D(2013, 1, 1)) for p in raw], "probability double, _run_date date")
    scored = calibrated(frame, calibrator)
    # isotonic: 0.2 and 0.4 pooled at 1/2 (monotone), 0.8 at 3/4; 0.3 between 0.2 and 0.4: 1/2
    chances = {r["probability"]: r[CALIBRATED] for r in scored.collect()}
    assert chances == pytest.approx({0.2: 0.5, 0.4: 0.5, 0.8: 0.75, 0.3: 0.5})
    e = estimate(scored, threshold=0.5)
    weights = [chances[p] for p in raw]
    assert e.auc_roc == pytest.approx(brute_force_expected_auc(raw, weights), abs=1e-12)
    assert e.precision == pytest.approx(0.75) and e.recall == pytest.approx(1.5 / sum(weights))
    assert e.positive_rate == pytest.approx(sum(weights) / 5)
    assert fit_calibrator(labelled.where("is_delayed = 1"), "is_delayed") is None, "one class calibrates nothing"


def test_jensen_shannon_distance_by_hand():
    assert jensen_shannon_distance([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert jensen_shannon_distance([1.0, 0.0], [0.0, 1.0]) == pytest.approx(1.0)
    # m = (0.75, 0.25); KL(p||m) = 0.5 ln(2/3) + 0.5 ln 2, KL(q||m) = ln(4/3); JSD = their mean, in bits
    divergence = (0.5 * math.log(2 / 3) + 0.5 * math.log(2) + math.log(4 / 3)) / 2
    assert jensen_shannon_distance([0.5, 0.5], [1.0, 0.0]) == pytest.approx(math.sqrt(divergence / math.log(2)))


def test_reference_windows_lie_inside_the_reference_on_its_grain():
    days = [D(2013, 1, d) for d in range(1, 9)]
    assert reference_windows(days, TimeWindow(4), Grain()) == [
        DateRange(D(2013, 1, d - 3), D(2013, 1, d)) for d in range(4, 9)
    ]
    months = [D(2013, m, 1) for m in range(1, 7)]
    monthly = Grain("month")
    assert reference_windows(months, TimeWindow(3), monthly) == [
        DateRange(D(2013, m - 2, 1), D(2013, m, 1)) for m in range(3, 7)
    ]
    assert reference_windows(days[:2], TimeWindow(4), Grain()) == []
    assert membership([D(2013, 1, 1), D(2013, 1, 2), D(2013, 1, 3)], [DateRange(D(2013, 1, 2), D(2013, 1, 3))]) == [
        (0, D(2013, 1, 2)),
        (0, D(2013, 1, 3)),
    ]


def _reference(spark):
    generator = random.Random(3)
    rows = []
    for d in range(1, 9):
        for _ in range(20 + d):
            x = generator.gauss(d, 2.0) if generator.random() > 0.1 else None  # drifting, with nulls
            rows.append((x, generator.choice(["UA", "AA", "B6" if d > 4 else "UA"]), D(2013, 1, d)))
    return frame_of(spark, rows, "x double, carrier string, _run_date date")


def test_window_statistics_are_each_window_against_the_rest_of_the_reference(spark):
    reference = _reference(spark)
    binnings = [numeric_binning("x", [2.0, 4.0, 6.0]), categorical_binning("carrier", ["UA", "AA"])]
    days = [D(2013, 1, d) for d in range(1, 9)]
    windows = reference_windows(days, TimeWindow(3), Grain())
    members = frame_of(spark, membership(days, windows), MEMBERSHIP_SCHEMA)

    found = {(r["window"], r["column"]): r for r in window_statistics(reference, binnings, members).collect()}

    assert len(found) == len(windows) * 2
    for i, span in enumerate(windows):
        inside = reference.where(reference["_run_date"].between(span.start, span.end))
        rest = reference.where(~reference["_run_date"].between(span.start, span.end))
        window_shares, rest_shares = bin_shares(inside, binnings), bin_shares(rest, binnings)
        for column in ("x", "carrier"):
            psi = population_stability_index(rest_shares[column], window_shares[column])
            js = jensen_shannon_distance(rest_shares[column], window_shares[column])
            assert found[(i, column)]["psi"] == pytest.approx(psi, abs=1e-9), (span, column)
            assert found[(i, column)]["js"] == pytest.approx(js, abs=1e-9), (span, column)


def test_thresholds_are_a_quantile_of_the_window_statistics_with_a_floor_on_the_psi(spark):
    reference = _reference(spark)
    binnings = [numeric_binning("x", [2.0, 4.0, 6.0]), categorical_binning("carrier", ["UA", "AA"])]
    days = [D(2013, 1, d) for d in range(1, 9)]
    members = frame_of(spark, membership(days, reference_windows(days, TimeWindow(3), Grain())), MEMBERSHIP_SCHEMA)
    statistics = window_statistics(reference, binnings, members).collect()

    def linear_quantile(values: list[float], q: float) -> float:
        ordered = sorted(values)
        position = q * (len(ordered) - 1)
        low = math.floor(position)
        high = min(low + 1, len(ordered) - 1)
        return ordered[low] + (ordered[high] - ordered[low]) * (position - low)

    thresholds = calibrated_thresholds(reference, binnings, members, quantile=0.8, min_psi=0.0)
    for column in ("x", "carrier"):
        psis = [r["psi"] for r in statistics if r["column"] == column]
        jss = [r["js"] for r in statistics if r["column"] == column]
        assert thresholds[column].windows == 6
        assert thresholds[column].psi == pytest.approx(linear_quantile(psis, 0.8), abs=1e-9)
        assert thresholds[column].js == pytest.approx(linear_quantile(jss, 0.8), abs=1e-9)
    floored = calibrated_thresholds(reference, binnings, members, quantile=0.8, min_psi=50.0)
    assert floored["x"].psi == 50.0 and floored["x"].js == thresholds["x"].js
