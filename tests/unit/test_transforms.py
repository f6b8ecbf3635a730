"""Refine and ingest transforms on hand-made rows that make each rule visible."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import INGESTED_AT, REASONS, RUN_DATE, SOURCE_FILE
from featurelake.core.conf.data import Derivation
from featurelake.ingest.bronze import CORRUPT, MALFORMED_REASON, classify
from featurelake.ingest.refine import add_minutes, derive, local_clock_to_utc, null_key_reasons, rank_within_key
from featurelake.testing import frame_of

UTC = dt.UTC


def utc(*parts) -> dt.datetime:
    # Spark returns naive datetimes in the session time zone, which is UTC.
    return dt.datetime(*parts)


def test_local_clock_to_utc_across_both_2013_dst_changes(spark):
    rows = [
        (2013, 3, 9, 1530, utc(2013, 3, 9, 20, 30)),  # EST, UTC-5
        (2013, 3, 10, 130, utc(2013, 3, 10, 6, 30)),  # still EST just before the change
        (2013, 3, 10, 230, utc(2013, 3, 10, 7, 30)),  # 02:30 does not exist: moves forward to 03:30 EDT
        (2013, 3, 10, 300, utc(2013, 3, 10, 7, 0)),  # EDT, UTC-4
        (2013, 11, 3, 30, utc(2013, 11, 3, 4, 30)),  # EDT
        (2013, 11, 3, 130, utc(2013, 11, 3, 5, 30)),  # 01:30 happens twice: the earlier (EDT) is taken
        (2013, 11, 3, 200, utc(2013, 11, 3, 7, 0)),  # EST again
        (2013, 12, 31, 2359, utc(2014, 1, 1, 4, 59)),  # the UTC date is the next day
        (2013, 6, 1, 2575, None),  # no valid clock time: null, not a failed job
        (2013, 6, 1, None, None),
    ]
    schema = "year int, month int, day int, hhmm int, expected timestamp"
    frame = frame_of(spark, rows, schema)
    actual = frame.withColumn("ts", local_clock_to_utc("year", "month", "day", "hhmm", "America/New_York"))
    assert_df_equality(
        actual.select("hhmm", "ts"), frame.select("hhmm", F.col("expected").alias("ts")), ignore_row_order=True
    )


@pytest.mark.parametrize(
    ("ambiguous", "repeated"),
    [("earlier", utc(2014, 10, 26, 0, 30)), ("later", utc(2014, 10, 26, 1, 30)), ("refuse", None)],
)
def test_a_local_time_without_offset_takes_the_rule_for_the_repeated_hour(spark, ambiguous, repeated):
    rows = [
        ("2014-03-30 01:30", utc(2014, 3, 30, 0, 30)),  # CET, UTC+1
        ("2014-03-30 02:30", None),  # the hour the clocks skip: no such time in Berlin
        ("2014-03-30 03:30", utc(2014, 3, 30, 1, 30)),  # CEST, UTC+2
        ("2014-10-26 01:59", utc(2014, 10, 25, 23, 59)),  # CEST, the UTC date the day before
        ("2014-10-26 02:30", repeated),  # twice: 00:30 UTC (CEST), then 01:30 UTC (CET)
        ("2014-10-26 03:00", utc(2014, 10, 26, 2, 0)),  # CET
        ("2014-10-26T04:15:00", utc(2014, 10, 26, 3, 15)),
        ("26.10.2014 04:15", None),  # no date-time: null, not a failed job
        (None, None),
    ]
    derivation = Derivation.model_validate(
        {"name": "measured_at", "local_time": {"column": "local", "timezone": "Europe/Berlin", "ambiguous": ambiguous}}
    )
    frame = frame_of(spark, rows, "local string, expected timestamp")
    actual = frame.transform(derive([derivation]))
    assert_df_equality(
        actual.select("local", "measured_at"),
        frame.select("local", F.col("expected").alias("measured_at")),
        ignore_row_order=True,
    )


def test_add_minutes_crosses_midnight_and_keeps_nulls(spark):
    frame = frame_of(
        spark,
        [(utc(2013, 1, 1, 23, 59), 11.0), (utc(2013, 1, 2, 10, 0), -5.0), (utc(2013, 1, 2, 10, 0), None), (None, 3.0)],
        "ts timestamp, minutes double",
    )
    result = [r["out"] for r in frame.select(add_minutes("ts", "minutes").alias("out")).collect()]
    assert result == [utc(2013, 1, 2, 0, 10), utc(2013, 1, 2, 9, 55), None, None]


def test_derive_applies_derivations_in_order(spark):
    derivations = [
        Derivation.model_validate(
            {
                "name": "sched",
                "local_clock": {"year": "y", "month": "m", "day": "d", "hhmm": "hhmm", "timezone": "America/New_York"},
            }
        ),
        Derivation.model_validate({"name": "actual", "add_minutes": {"timestamp": "sched", "minutes": "delay"}}),
    ]
    frame = frame_of(spark, [(2013, 1, 1, 2350, 20.0)], "y int, m int, d int, hhmm int, delay double")
    row = frame.transform(derive(derivations)).first()
    assert row["sched"] == utc(2013, 1, 2, 4, 50)
    assert row["actual"] == utc(2013, 1, 2, 5, 10)


def test_rank_within_key_keeps_the_latest_delivery_deterministically(spark):
    early, late = utc(2013, 1, 1, 1), utc(2013, 1, 2, 1)
    rows = [
        ("AA", 1, 10.0, "f1.csv", early),
        ("AA", 1, 12.0, "f1.csv", late),  # a later ingestion of the same key wins
        ("UA", 7, 1.0, "a.csv", early),
        ("UA", 7, 2.0, "b.csv", early),  # same ingestion: the later file name wins
        ("DL", 3, 5.0, "x.csv", early),
        ("DL", 3, 6.0, "x.csv", early),  # identical lineage: greatest values first, never by chance
        ("B6", 9, None, "x.csv", early),
    ]
    frame = frame_of(
        spark, rows, f"carrier string, flight int, delay double, {SOURCE_FILE} string, {INGESTED_AT} timestamp"
    )
    kept = frame.repartition(3).transform(rank_within_key(["carrier", "flight"])).where("_key_rank = 1")
    expected = frame_of(
        spark,
        [("AA", 1, 12.0), ("UA", 7, 2.0), ("DL", 3, 6.0), ("B6", 9, None)],
        "carrier string, flight int, delay double",
    )
    assert_df_equality(kept.select("carrier", "flight", "delay"), expected, ignore_row_order=True)


def test_null_key_reasons_name_each_null_key(spark):
    frame = frame_of(spark, [("AA", 1), (None, 2), (None, None)], "carrier string, flight int")
    reasons = [r[0] for r in frame.select(null_key_reasons(["carrier", "flight"])).collect()]
    assert reasons == [[], ["carrier: key is null"], ["carrier: key is null", "flight: key is null"]]


def test_classify_names_every_problem_of_a_row(spark, settings):
    conf = settings.source("weather")
    columns = list(conf.columns)
    good = {c: "1" for c in columns} | {"origin": "EWR", "time_hour": "2013-01-01T06:00:00Z"}
    bad_types = good | {"temp": "hot", "hour": "1.5"}
    undated = good | {"day": None}
    rows = [
        tuple(good[c] for c in columns) + (None,),
        tuple(bad_types[c] for c in columns) + (None,),
        tuple(undated[c] for c in columns) + (None,),
        tuple(None for _ in columns) + ('{"origin": "EWR", "temp": ',),
    ]
    schema = T.StructType([T.StructField(c, T.StringType()) for c in [*columns, CORRUPT]])
    frame = (
        frame_of(spark, rows, schema)
        .withColumn(SOURCE_FILE, F.lit("w.jsonl"))
        .withColumn(RUN_DATE, F.lit(dt.date(2013, 1, 1)))
    )
    reasons = [r[REASONS] for r in classify(frame, conf).collect()]
    assert reasons == [
        [],
        ["hour: not a int", "temp: not a double"],
        ["day: missing, the row cannot be dated"],
        [MALFORMED_REASON],
    ]


def test_period_time_from_date_parts_or_a_date_in_local_time_across_dst(spark):
    """A monthly report known on the 15th of the next month; a day's start and end around the spring change."""
    monthly = Derivation.model_validate(
        {
            "name": "known_at",
            "period_time": {
                "year": "year",
                "month": "month",
                "timezone": "America/New_York",
                "offset": {"months": 1, "days": 14},
            },
        }
    )
    month_end = Derivation.model_validate(
        {"name": "month_ends", "period_time": {"year": "year", "month": "month", "timezone": "UTC", "at": "end"}}
    )
    day_start = Derivation.model_validate(
        {"name": "starts", "period_time": {"date": "day", "timezone": "America/New_York"}}
    )
    day_end = Derivation.model_validate(
        {"name": "ends", "period_time": {"date": "day", "timezone": "America/New_York", "at": "end"}}
    )
    rows = frame_of(
        spark,
        [(2013, 1, dt.date(2013, 3, 10)), (2013, 12, dt.date(2013, 11, 3)), (2013, 13, None)],
        "year int, month int, day date",
    )
    got = rows.transform(derive([monthly, month_end, day_start, day_end])).collect()
    assert [(r["known_at"], r["month_ends"]) for r in got] == [
        (dt.datetime(2013, 2, 15, 5), dt.datetime(2013, 2, 1)),  # 15 February, New York midnight (EST)
        (dt.datetime(2014, 1, 15, 5), dt.datetime(2014, 1, 1)),  # December's report: into the next year
        (None, None),  # month 13 makes no date: null, not a failed job
    ]
    assert (got[0]["starts"], got[0]["ends"]) == (dt.datetime(2013, 3, 10, 5), dt.datetime(2013, 3, 11, 4))
    assert (got[1]["starts"], got[1]["ends"]) == (dt.datetime(2013, 11, 3, 4), dt.datetime(2013, 11, 4, 5))
    with pytest.raises(ValueError, match="period_time gives year; give date, or year and month"):
        Derivation.model_validate({"name": "x", "period_time": {"year": "year", "timezone": "UTC"}})
