"""The feature-group declaration is checked when it is made, and the engine's contract holds its output."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import DataFrame

from featurelake import DateRange, Entity, Feature, feature_group
from featurelake.core.errors import ConfigError
from featurelake.testing import frame_of, run_group

STATION = Entity("station", join_keys={"station": "string"})
DAY = DateRange(dt.date(2024, 3, 1), dt.date(2024, 3, 1))


def declare(function, **overrides):
    arguments = {
        "entity": STATION,
        "inputs": {"readings": "silver.readings"},
        "event_time": "measured_at",
        "features": [Feature("temp_c", "double", "temperature, degrees C")],
        **overrides,
    }
    return feature_group(**arguments)(function)


def readings(readings: DataFrame) -> DataFrame:
    return readings


def test_a_parameter_bound_to_no_input_is_refused_when_declared():
    def group(readings: DataFrame, stations: DataFrame) -> DataFrame:
        return readings

    with pytest.raises(ConfigError, match="Feature group group .*: parameter stations is bound to no input"):
        declare(group)


def test_an_input_that_is_no_parameter_is_refused():
    with pytest.raises(ConfigError, match=r"input sensors \(silver.sensors\) is no parameter of readings"):
        declare(readings, inputs={"readings": "silver.readings", "sensors": "silver.sensors"})


def test_unknown_types_and_repeated_names_are_refused():
    with pytest.raises(ConfigError, match="Feature temp_c declares temp_c as 'float64'; use one of string, int"):
        Feature("temp_c", "float64", "temperature")
    with pytest.raises(ConfigError, match="declares station twice"):
        declare(readings, features=[Feature("station", "string", "the station again")])


def test_the_contract_casts_safely_and_names_a_type_it_cannot_cast(spark):
    group = declare(readings, features=[Feature("temp_c", "double", "temperature"), Feature("n", "bigint", "count")])
    rows = frame_of(
        spark,
        [
            ("s1", dt.datetime(2024, 3, 1, 12), 21, 3, dt.date(2024, 3, 1), "extra"),
            ("s1", dt.datetime(2024, 2, 29, 12), 20, 2, dt.date(2024, 2, 29), "extra"),
        ],
        "station string, measured_at timestamp, temp_c int, n int, _run_date date, note string",
    )
    out = run_group(group, DAY, readings=rows)
    assert out.columns == ["station", "measured_at", "_available_at", "temp_c", "n", "_run_date"]  # note dropped
    assert [(r["temp_c"], r["n"]) for r in out.collect()] == [(21.0, 3)]  # int -> double, int -> bigint; 1 March
    assert dict(out.dtypes)["temp_c"] == "double" and dict(out.dtypes)["n"] == "bigint"
    text = rows.selectExpr("station", "measured_at", "cast(temp_c as string) as temp_c", "n", "_run_date")
    with pytest.raises(ConfigError, match="returns temp_c as string, but declares it double"):
        run_group(group, DAY, readings=text)


def test_run_group_names_a_missing_or_unknown_input(spark):
    group = declare(readings)
    with pytest.raises(ConfigError, match=r"needs its input readings \(silver.readings\)"):
        run_group(group, DAY)
    with pytest.raises(ConfigError, match="has no input weather; its inputs are readings"):
        run_group(group, DAY, weather=spark.range(1))


def test_keeping_versions_needs_the_column_that_says_when_each_was_known():
    with pytest.raises(ConfigError, match="keep_versions keeps a row's versions by when each was known; declare"):
        declare(readings, keep_versions=True)
    assert declare(readings, keep_versions=True, created_time="received_at").keep_versions
