"""Refine on a fresh lake: UTC conversion on real DST days, one row per key, dimension MERGEs."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError, NotReady
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import DUPLICATE_REASON, SUPERSEDED_REASON, refine
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.testing import deliver
from tests.conftest import UNGATED, deliver_real
from tests.integration.test_ingest import FLIGHTS_HEADER, GOOD_FLIGHT

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(make_settings):
    """The demo conf without quality gates: these tests are about what the stage itself does."""
    return make_settings(UNGATED)


SPRING = DateRange(dt.date(2013, 3, 9), dt.date(2013, 3, 11))
AUTUMN = DateRange(dt.date(2013, 11, 2), dt.date(2013, 11, 4))


def table(spark, settings, name):
    return spark.read.format("delta").load(settings.table_path(name))


def ingest_and_refine(spark, settings, source, silver, run_dates, run_id="run-1"):
    ingest(Context.of(spark, settings, run_id), source, run_dates)
    return refine(Context.of(spark, settings, run_id), silver, run_dates)


def test_scheduled_departure_is_utc_across_both_dst_changes_on_real_data(spark, settings, demo_landing):
    for run_dates in (SPRING, AUTUMN):
        deliver_real(settings, demo_landing, "flights", *(str(d) for d in run_dates.days()))
        [summary] = ingest_and_refine(spark, settings, "flights", "silver.flights", run_dates)
        assert summary.published == summary.rows_in > 2000
    silver = table(spark, settings, "silver.flights")
    declared = list(settings.source("flights").columns.items())
    assert silver.dtypes == [
        *declared,
        ("sched_dep_ts", "timestamp"),
        ("dep_ts", "timestamp"),
        ("_source_file", "string"),
        ("_ingested_at", "timestamp"),
        ("_run_id", "string"),
        ("_run_date", "date"),
    ]
    # time_hour is the source's own UTC hour of the scheduled departure: every row must agree with it.
    disagreeing = silver.where(F.date_trunc("hour", "sched_dep_ts") != F.col("time_hour"))
    assert disagreeing.count() == 0
    offsets = {
        (r["day"], r["offset"])
        for r in silver.select(
            "day",
            (
                (
                    F.unix_timestamp("sched_dep_ts")
                    - F.unix_timestamp(
                        F.to_timestamp(
                            F.format_string("%d-%02d-%02d %02d:%02d", "year", "month", "day", "hour", "minute")
                        )
                    )
                )
                / 3600
            ).alias("offset"),
        )
        .distinct()
        .collect()
    }
    assert offsets == {(9, 5.0), (10, 4.0), (11, 4.0), (2, 4.0), (3, 5.0), (4, 5.0)}
    row = silver.where((F.col("day") == 10) & (F.col("month") == 3)).orderBy("sched_dep_ts").first()
    assert (row["sched_dep_time"], row["sched_dep_ts"]) == (500, dt.datetime(2013, 3, 10, 9, 0))
    delayed = silver.where(F.col("dep_delay") > 0).first()
    assert delayed["dep_ts"] - delayed["sched_dep_ts"] == dt.timedelta(minutes=delayed["dep_delay"])


def test_second_delivery_of_a_flight_is_one_row_and_counted(spark, settings):
    day = dt.date(2013, 1, 1)
    other = GOOD_FLIGHT.replace("UA,1545", "AA,11")
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n{other}\n", "flights_a.csv")
    corrected = GOOD_FLIGHT.replace(",2,830,819,11,", ",2,830,819,45,")
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{corrected}\n", "flights_b.csv")
    [summary] = ingest_and_refine(spark, settings, "flights", "silver.flights", DateRange.single(day))
    assert (summary.rows_in, summary.published, summary.rejected) == (3, 2, {DUPLICATE_REASON: 1})
    silver = table(spark, settings, "silver.flights")
    rows = {r["carrier"]: r for r in silver.collect()}
    assert set(rows) == {"UA", "AA"}
    assert rows["UA"]["arr_delay"] == 45.0 and rows["UA"]["_source_file"].endswith("flights_b.csv")


def test_null_key_goes_to_quarantine_and_rerun_changes_nothing(spark, settings):
    day = DateRange.single(dt.date(2013, 1, 1))
    no_origin = GOOD_FLIGHT.replace("UA,1545,N14228,EWR", "UA,1546,N14228,")
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n{no_origin}\n")
    [first] = ingest_and_refine(spark, settings, "flights", "silver.flights", day)
    assert (first.rows_in, first.published, first.quarantined) == (2, 1, 1)
    quarantined = table(spark, settings, "quarantine.silver_flights").first()
    assert quarantined["_reasons"] == ["origin: key is null"] and '"flight":1546' in quarantined["_raw"]
    before = sorted(repr(r) for r in table(spark, settings, "silver.flights").drop("_run_id").collect())
    [again] = refine(Context.of(spark, settings, "run-2"), "silver.flights", day)
    assert (again.published, again.quarantined) == (1, 1)
    assert sorted(repr(r) for r in table(spark, settings, "silver.flights").drop("_run_id").collect()) == before
    assert table(spark, settings, "quarantine.silver_flights").count() == 1


def test_refine_of_a_date_not_ingested_is_not_ready_and_writes_nothing(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "flights", "2013-03-09")
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 3, 9)))
    with pytest.raises(
        NotReady,
        match=r"bronze.flights has no rows for 2013-03-10 \(and 1 more run dates\); ingest those run dates first",
    ):
        refine(Context.of(spark, settings, "run-1"), "silver.flights", SPRING)
    assert not Catalog(spark, settings).exists("silver.flights")


AIRLINES = "carrier,name\nAA,American Airlines Inc.\nUA,United Air Lines Inc.\n"


def test_snapshot_merge_is_idempotent_updates_changes_and_never_undoes_newer_data(spark, settings):
    deliver(settings, "airlines", "2013-01-01", AIRLINES)
    [first] = ingest_and_refine(spark, settings, "airlines", "silver.airlines", DateRange.single(dt.date(2013, 1, 1)))
    assert (first.published, first.detail) == (2, "merged: 2 inserted, 0 updated")
    [rerun] = refine(Context.of(spark, settings, "run-2"), "silver.airlines", DateRange.single(dt.date(2013, 1, 1)))
    assert rerun.detail.endswith("0 updated")

    renamed = "carrier,name\nAA,American Airlines Group\nUA,United Air Lines Inc.\nB6,JetBlue Airways\n"
    deliver(settings, "airlines", "2013-06-01", renamed)
    [june] = ingest_and_refine(spark, settings, "airlines", "silver.airlines", DateRange.single(dt.date(2013, 6, 1)))
    assert june.detail == "merged: 1 inserted, 1 updated"

    deliver(settings, "airlines", "2013-03-01", "carrier,name\nAA,American (backfilled)\nUA,United Air Lines Inc.\n")
    ingest_and_refine(spark, settings, "airlines", "silver.airlines", DateRange.single(dt.date(2013, 3, 1)))
    names = {r["carrier"]: (r["name"], r["_run_date"]) for r in table(spark, settings, "silver.airlines").collect()}
    assert names == {
        "AA": ("American Airlines Group", dt.date(2013, 6, 1)),
        "UA": ("United Air Lines Inc.", dt.date(2013, 1, 1)),
        "B6": ("JetBlue Airways", dt.date(2013, 6, 1)),
    }


def test_duplicate_key_in_a_snapshot_is_an_error(spark, settings):
    deliver(settings, "airlines", "2013-01-01", AIRLINES + "AA,American again\n")
    ingest(Context.of(spark, settings, "run-1"), "airlines", DateRange.single(dt.date(2013, 1, 1)))
    with pytest.raises(InputError, match="The bronze.airlines snapshot of 2013-01-01 holds 2 rows with carrier=AA"):
        refine(Context.of(spark, settings, "run-1"), "silver.airlines", DateRange.single(dt.date(2013, 1, 1)))

    assert not Catalog(spark, settings).exists("silver.airlines")


def test_a_snapshot_history_in_one_job_leaves_what_applying_each_delivery_in_order_leaves(spark, settings):
    """Three deliveries (AA renamed in March and back in June, UA unchanged, B6 new in June): one refine of the
    whole range gives the same rows and lineage as three refines, one per delivery, oldest first."""
    deliveries = {
        "2013-01-01": "carrier,name\nAA,American Airlines Inc.\nUA,United Air Lines Inc.\n",
        "2013-03-01": "carrier,name\nAA,American (renamed)\nUA,United Air Lines Inc.\n",
        "2013-06-01": "carrier,name\nAA,American Airlines Inc.\nUA,United Air Lines Inc.\nB6,JetBlue Airways\n",
    }
    for day, text in deliveries.items():
        deliver(settings, "airlines", day, text)
    history = DateRange(dt.date(2013, 1, 1), dt.date(2013, 6, 1))
    ingest(Context.of(spark, settings, "run-1"), "airlines", history)
    for day in deliveries:
        refine(Context.of(spark, settings, "run-1"), "silver.airlines", DateRange.single(dt.date.fromisoformat(day)))
    lineage = ("carrier", "name", "_run_date", "_source_file", "_ingested_at")
    one_by_one = sorted(table(spark, settings, "silver.airlines").select(*lineage).collect())
    shutil.rmtree(settings.table_path("silver.airlines"))

    [together] = refine(Context.of(spark, settings, "run-2"), "silver.airlines", history)
    assert sorted(table(spark, settings, "silver.airlines").select(*lineage).collect()) == one_by_one
    assert [(r["carrier"], r["name"], r["_run_date"]) for r in one_by_one] == [
        ("AA", "American Airlines Inc.", dt.date(2013, 6, 1)),  # changed twice: the June delivery's row
        ("B6", "JetBlue Airways", dt.date(2013, 6, 1)),
        ("UA", "United Air Lines Inc.", dt.date(2013, 1, 1)),  # never changed: the row January brought
    ]
    assert (together.rows_in, together.published, together.rejected) == (7, 3, {SUPERSEDED_REASON: 4})
    assert together.detail == "merged: 3 inserted, 0 updated from 3 snapshots"


def test_features_of_a_date_not_refined_are_not_ready_and_replace_nothing(spark, settings, demo_landing):
    """A slice of features is never replaced by the features of input rows that are not there yet."""
    from featurelake.featurestore.materialize import materialize

    deliver_real(settings, demo_landing, "flights", "2013-03-09")
    ingest_and_refine(spark, settings, "flights", "silver.flights", DateRange.single(dt.date(2013, 3, 9)))
    materialize(Context.of(spark, settings, "run-1"), "carrier_performance", DateRange.single(dt.date(2013, 3, 9)))
    before = table(spark, settings, "features.carrier_performance").count()
    with pytest.raises(NotReady, match=r"silver.flights has no rows for 2013-03-10 \(and 1 more run dates\); refine"):
        materialize(Context.of(spark, settings, "run-2"), "carrier_performance", SPRING)
    features = table(spark, settings, "features.carrier_performance")
    assert features.count() == before and {r["_run_id"] for r in features.select("_run_id").collect()} == {"run-1"}
