"""The one-pass gate against GX itself: for every expectation type the engine computes, the result GX builds
from the one pass equals the result of GX's own validation of the same rows (success, observed value, counts,
percentages, ``mostly``); a type the engine does not compute is validated by GX, in the same result."""

from __future__ import annotations

import datetime as dt

import great_expectations as gx
import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.quality import metrics
from featurelake.quality.metrics import RESULT_FORMAT
from featurelake.quality.suites import load_suite
from featurelake.quality.validation import gx_context, judge
from featurelake.testing import frame_of
from tests.integration.test_gate import EXPECTATIONS, ROWS, SCHEMA, write_suite

pytestmark = pytest.mark.integration

BETWEEN = {"min_value": 0, "max_value": 4}
AGGREGATES = [
    {"type": f"expect_column_{stat}_to_be_between", "kwargs": {"column": column, **bounds}}
    for stat in ("mean", "min", "max", "sum", "stdev")
    for column, bounds in (("x", BETWEEN), ("a", {"min_value": 1}), ("b", {"max_value": 2, "strict_max": True}))
] + [
    {"type": "expect_column_min_to_be_between", "kwargs": {"column": "day", "min_value": "2013-01-02"}},
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "day", "max_value": "2013-01-02"}},
    {"type": "expect_column_unique_value_count_to_be_between", "kwargs": {"column": "code", "min_value": 4}},
    {"type": "expect_column_unique_value_count_to_be_between", "kwargs": {"column": "x", "max_value": 5}},
    {"type": "expect_column_proportion_of_unique_values_to_be_between", "kwargs": {"column": "x", "min_value": 0.9}},
    {"type": "expect_column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "a", "min_value": 0.5}},
    {"type": "expect_column_proportion_of_non_null_values_to_be_between", "kwargs": {"column": "b", "max_value": 0.5}},
]
MOSTLY = [
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "mostly": 0.8}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "code", "value_set": ["LGA"], "mostly": 0.3}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "word", "regex": "^N", "mostly": 0.99}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "code", "mostly": 0.5}},
]
# Not computed by the one pass: GX validates these itself.
BY_GX = [
    {"type": "expect_column_value_lengths_to_be_between", "kwargs": {"column": "word", "min_value": 3}},
    {"type": "expect_column_median_to_be_between", "kwargs": {"column": "x", "min_value": 1}},
    {
        "type": "expect_column_values_to_not_be_null",
        "kwargs": {"column": "a", "row_condition": "b > 1", "condition_parser": "spark"},
    },
]


def rows(spark):
    frame = frame_of(spark, ROWS, SCHEMA)
    day = F.when(F.col("id") <= 3, F.lit(dt.date(2013, 1, 1))).otherwise(F.lit(dt.date(2013, 1, 2)))
    return frame.withColumn("day", day).withColumn(RUN_DATE, day)


def gx_alone(frame, expectations: list[dict]) -> list:
    """GX's own validation, in a context of its own: one result per expectation, in the order given."""
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_spark(name="alone", persist=False)
        .add_dataframe_asset(name="rows")
        .add_batch_definition_whole_dataframe("all")
    )
    implementations = [gx.expectations.registry.get_expectation_impl(e["type"])(**e["kwargs"]) for e in expectations]
    suite = context.suites.add(gx.ExpectationSuite(name="alone", expectations=implementations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="alone", data=batch, suite=suite))
    results = definition.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT).results
    by_id = {r.expectation_config.id: r for r in results}
    return [by_id[e.id] for e in suite.expectations]


@pytest.fixture
def warned_settings(make_settings):
    """silver.test gated by a warn policy: any GX expectation type is allowed in its suite."""
    settings = make_settings({"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "warn"}}}})
    settings.expectations_dir.mkdir(exist_ok=True)
    return settings


def test_one_pass_results_are_gx_results_for_every_supported_type(spark, warned_settings):
    gated_settings = warned_settings
    expectations = EXPECTATIONS + MOSTLY + AGGREGATES + BY_GX
    write_suite(gated_settings, "silver.test", expectations)
    frame = rows(spark).cache()
    suite = load_suite(gated_settings, "silver.test", frame.columns)
    plan = metrics.plan(suite, frame)
    engine = {r.name for r in suite.rules if r.name in plan.metrics}
    assert [r.name for r in plan.gx_rules] == [r.name for r in suite.rules if r.name not in engine]
    assert len(plan.gx_rules) == len(BY_GX)
    found = metrics.one_pass(
        frame.transform(metrics.with_flags(suite)).transform(metrics.with_reasons(suite)), plan.aggregates
    )
    ours = judge(gx_context(gated_settings), gated_settings, frame, suite, plan, found)
    theirs = gx_alone(frame, expectations)
    assert list(ours) == [r.name for r in suite.rules]
    for (name, mine), reference, expectation in zip(ours.items(), theirs, expectations, strict=True):
        assert mine.expectation_config.type == reference.expectation_config.type == expectation["type"]
        assert (mine.success, mine.result) == (reference.success, reference.result), (name, expectation)
        assert mine.exception_info.get("raised_exception") is False, name
    # the cases are built so that both outcomes occur, and values are there to compare
    assert {mine.success for mine in ours.values()} == {True, False}
    observed = {name: mine.result.get("observed_value") for name, mine in ours.items() if name in engine}
    assert observed["expect_column_mean_to_be_between(x)"] == pytest.approx(4.8)
    assert observed["expect_column_unique_value_count_to_be_between(code)"] == 4
    by_gx = {name: ours[name].result for name in ours if name not in engine}
    assert by_gx["expect_column_median_to_be_between(x)"]["observed_value"] == 5.0


def test_the_pass_counts_each_run_date_and_the_rows_to_quarantine(spark, gated_settings):
    write_suite(gated_settings, "silver.test", EXPECTATIONS[:4])
    frame = rows(spark)
    suite = load_suite(gated_settings, "silver.test", frame.columns)
    plan = metrics.plan(suite, frame)
    found = metrics.one_pass(
        frame.transform(metrics.with_flags(suite)).transform(metrics.with_reasons(suite)), plan.aggregates
    )
    assert found.total["row_count"] == 6 and found.total["failing"] == 4
    assert {day: values["row_count"] for day, values in found.days.items()} == {
        dt.date(2013, 1, 1): 3,
        dt.date(2013, 1, 2): 3,
    }
    assert {day: values["nulls(x)"] for day, values in found.days.items()} == {
        dt.date(2013, 1, 1): 1,
        dt.date(2013, 1, 2): 0,
    }
    empty = metrics.one_pass(
        frame.where(F.lit(False)).transform(metrics.with_flags(suite)).transform(metrics.with_reasons(suite)),
        plan.aggregates,
    )
    assert (empty.total["row_count"], empty.days) == (0, {})
