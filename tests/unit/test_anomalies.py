"""Anomalies against a trailing history: a history that barely varies does not make a one-row change one."""

from __future__ import annotations

import datetime as dt

from featurelake.lake.stage import Context
from featurelake.quality.anomalies import anomaly_outcomes
from featurelake.quality.outcomes import GateReport
from tests.cadence_projects import period_conf


def history_then(last: float, days: int = 8) -> dict:
    start = dt.date(2013, 12, 1)
    metrics = {start + dt.timedelta(days=i): {"row_count": 72.0} for i in range(days - 1)}
    metrics[start + dt.timedelta(days=days - 1)] = {"row_count": last}
    return metrics


def test_a_one_row_change_from_a_constant_history_is_no_anomaly(spark, settings):
    assert anomaly_outcomes(Context.of(spark, settings, "test"), "silver.weather", history_then(71.0)) == []


def test_a_real_collapse_from_a_constant_history_is_one_named_plainly(spark, settings):
    [flagged] = anomaly_outcomes(Context.of(spark, settings, "test"), "silver.weather", history_then(57.0))
    assert (flagged.run_date, flagged.expectation) == (dt.date(2013, 12, 8), "anomaly: row_count")
    assert flagged.observed_value == "57 against a trailing mean of 72 ± 0 (a constant history)"


def test_the_floors_come_from_conf_and_the_console_names_the_worst(spark, make_settings):
    strict = make_settings({"quality": {"anomaly": {"min_relative_deviation": 0.0, "min_absolute_deviation": 0.5}}})
    [one_row] = anomaly_outcomes(Context.of(spark, strict, "test"), "silver.weather", history_then(71.0))
    metrics = history_then(71.0) | {dt.date(2013, 12, 9): {"row_count": 30.0}}
    worst, second = anomaly_outcomes(Context.of(spark, strict, "test"), "silver.weather", metrics)
    assert (worst.run_date, second.run_date) == (dt.date(2013, 12, 9), dt.date(2013, 12, 8))
    line = GateReport("silver.weather", "quarantine", [worst, second]).line()
    assert line == (
        "gate silver.weather (quarantine): 0 passed, 0 failed, 2 anomalies (worst on 2013-12-09: anomaly: "
        "row_count = 30 against a trailing mean of 71.875 ± 0.331 (126.6 sigma)), 0 rows quarantined"
    )
    assert one_row.run_date == dt.date(2013, 12, 8)


def test_a_monthly_table_has_its_anomalies_with_the_default_window_of_periods(spark, make_settings):
    """The default window is 28 periods of the table's cadence: eight monthly reports are history enough,
    where a window of 28 days would hold one report and never fire."""
    monthly = make_settings(period_conf("market"))
    months = [dt.date(2013 + (m - 1) // 12, (m - 1) % 12 + 1, 1) for m in range(1, 10)]
    metrics = {month: {"row_count": 50.0 + (i % 2)} for i, month in enumerate(months[:-1])}
    metrics[months[-1]] = {"row_count": 20.0}
    [flagged] = anomaly_outcomes(Context.of(spark, monthly, "test"), "silver.market", metrics)
    assert flagged.run_date == dt.date(2013, 9, 1)
    assert flagged.observed_value == "20 against a trailing mean of 50.5 ± 0.5 (61.0 sigma)"
