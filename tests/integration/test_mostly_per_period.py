"""``mostly`` judged per period where a suite says so (``"meta": {"judged_per": "period"}``): each run date's rows are
judged on their own, so a backfill gives the verdict a day-by-day run gives; without it the run's rows are judged
together, as GX judges a batch."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.core.errors import GateFailed, SuiteError
from featurelake.lake.stage import Context
from featurelake.quality.gate import run_gate
from featurelake.quality.suites import load_suite
from featurelake.testing import frame_of
from tests.integration.test_gate import write_suite

pytestmark = pytest.mark.integration

FIRST, SECOND = dt.date(2013, 1, 1), dt.date(2013, 1, 2)
BOTH = DateRange(FIRST, SECOND)


def rows(spark):
    """Ten rows on the 1st, two of them without a value (80% present); thirty on the 2nd, all present: 95% of the
    forty present together."""
    first = [(i, None if i < 2 else 1.0, FIRST) for i in range(10)]
    second = [(i, 1.0, SECOND) for i in range(10, 40)]
    return frame_of(spark, first + second, "id int, a double, _run_date date")


def gate(spark, settings, meta: dict | None, run_dates: DateRange):
    expectation = {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "mostly": 0.9}}
    write_suite(settings, "silver.test", [{**expectation, **({"meta": meta} if meta else {})}])
    frame = rows(spark).where(F.col(RUN_DATE).between(F.lit(run_dates.start), F.lit(run_dates.end)))
    suite = load_suite(settings, "silver.test", frame.columns)
    _, report = run_gate(frame, Context.of(spark, settings, "t"), "silver.test", suite, run_dates)
    [outcome] = [o for o in report.outcomes if o.expectation == "expect_column_values_to_not_be_null(a)"]
    return outcome


@pytest.fixture
def warned(make_settings):
    """A project whose silver.test has a gate that only reports (its outcomes are what these tests read)."""
    settings = make_settings({"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "warn"}}}})
    settings.expectations_dir.mkdir(exist_ok=True)
    return settings


def test_a_rule_judged_per_period_fails_a_backfill_as_it_fails_that_day_alone(spark, warned, gated_settings):
    per_period = {"judged_per": "period"}
    backfill = gate(spark, warned, per_period, BOTH)
    that_day = gate(spark, warned, per_period, DateRange.single(FIRST))
    assert (backfill.success, backfill.run_date, backfill.unexpected_count, backfill.element_count) == (
        False,
        FIRST,
        2,
        10,
    )
    assert (that_day.success, that_day.unexpected_count, that_day.element_count) == (False, 2, 10)
    clean = gate(spark, warned, per_period, DateRange.single(SECOND))
    assert (clean.success, clean.unexpected_count, clean.element_count, clean.run_date) == (True, 0, 30, None)
    # per batch (the default), the forty rows together hold 95%: the backfill passes
    together = gate(spark, warned, None, BOTH)
    assert (together.success, together.unexpected_count, together.element_count) == (True, 2, 40)
    # a gate that decides names the run date that failed
    with pytest.raises(GateFailed) as failed:
        gate(spark, gated_settings, per_period, BOTH)
    assert str(failed.value) == (
        "The gate of silver.test failed 1 expectation(s): expect_column_values_to_not_be_null(a) on 2013-01-01 "
        "(observed 2 unexpected rows); nothing was published."
    )


def test_an_unknown_judged_per_is_one_sentence(spark, warned):
    with pytest.raises(SuiteError, match=r"expectation 1 \(expect_column_values_to_not_be_null\(a\)\) has meta\."):
        gate(spark, warned, {"judged_per": "week"}, BOTH)


def test_a_rule_the_one_pass_does_not_compute_cannot_be_judged_per_period(spark, warned):
    median = {"type": "expect_column_median_to_be_between", "kwargs": {"column": "a", "min_value": 0, "max_value": 2}}
    write_suite(warned, "silver.test", [{**median, "meta": {"judged_per": "period"}}])
    frame = rows(spark)
    suite = load_suite(warned, "silver.test", frame.columns)
    with pytest.raises(SuiteError) as refused:
        run_gate(frame, Context.of(spark, warned, "t"), "silver.test", suite, BOTH)
    assert str(refused.value) == (
        f"{suite.path}: expect_column_median_to_be_between(a) is judged per period (meta.judged_per), which "
        "featurelake does only for expectations its one pass computes; judge it per batch, or use a column-values "
        "expectation."
    )
