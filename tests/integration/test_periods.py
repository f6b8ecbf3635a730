"""Sources with a cadence other than daily, ingested and refined on a fresh lake: one slice per period, rows
checked against the period their folder names, missing periods and hours refused, a corrected period
re-delivered."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import refine
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from tests.cadence_projects import SOURCES, berlin_hours, period_conf

pytestmark = pytest.mark.integration

D = dt.date
QUARTER = DateRange(D(2014, 1, 1), D(2014, 3, 31))


@pytest.fixture
def settings(make_settings):
    """The demo conf with the cadence projects' monthly, weekly and hourly sources added."""
    conf = {"sources": {}, "tables": {}}
    for name in SOURCES:
        for section, entries in period_conf(name).items():
            conf[section].update(entries)
    return make_settings(conf)


def market_csv(month: dt.date, prices: dict[str, float], listings: str = "120") -> str:
    rows = [f"{month.year},{month.month},{city},{listings},{price}" for city, price in prices.items()]
    return "year,month,city,listings,median_price\n" + "\n".join(rows) + "\n"


def rows(spark, settings, table: str, *columns: str) -> list[tuple]:
    frame = Catalog(spark, settings).read(table).select(*columns)
    return sorted(tuple(r) for r in frame.collect())


def test_a_monthly_source_dated_by_year_and_month_lands_one_slice_per_month(spark, settings, deliver):
    for i, month in enumerate((D(2014, 1, 1), D(2014, 2, 1), D(2014, 3, 1))):
        deliver("market", month, market_csv(month, {"austin": 300.0 + i, "boise": 200.0 + i}, "NA" if i == 1 else "9"))
    [summary] = [ingest(Context.of(spark, settings, "run-1"), "market", QUARTER)]
    assert summary.published == 6
    assert rows(spark, settings, "bronze.market", "_run_date", "city", "listings", "median_price") == [
        (D(2014, 1, 1), "austin", 9, 300.0),
        (D(2014, 1, 1), "boise", 9, 200.0),
        (D(2014, 2, 1), "austin", None, 301.0),  # NA is a missing value (options: nullValue)
        (D(2014, 2, 1), "boise", None, 201.0),
        (D(2014, 3, 1), "austin", 9, 302.0),
        (D(2014, 3, 1), "boise", 9, 202.0),
    ]
    refine(Context.of(spark, settings, "run-1"), "silver.market", QUARTER)
    # each month's report is known on the 15th of the next month at midnight in Chicago: CST, then CDT
    assert rows(spark, settings, "silver.market", "month", "reported_at")[::2] == [
        (1, dt.datetime(2014, 2, 15, 6)),
        (2, dt.datetime(2014, 3, 15, 5)),
        (3, dt.datetime(2014, 4, 15, 5)),
    ]


def test_a_missing_month_is_an_error_naming_it(spark, settings, deliver):
    for month in (D(2014, 1, 1), D(2014, 3, 1)):
        deliver("market", month, market_csv(month, {"austin": 300.0}))
    with pytest.raises(
        InputError, match=r"No market delivery for 2014-02-01 \(2014-02, delivered in the folder of its first day\)"
    ):
        ingest(Context.of(spark, settings, "run-1"), "market", QUARTER)
    assert not Catalog(spark, settings).exists("bronze.market")


def test_a_folder_named_by_another_day_of_the_month_is_refused_not_left_out(spark, settings, deliver):
    deliver("market", D(2014, 1, 1), market_csv(D(2014, 1, 1), {"austin": 300.0}))
    deliver("market", D(2014, 2, 15), market_csv(D(2014, 2, 1), {"austin": 300.0}))
    with pytest.raises(
        InputError, match=r"2014-02-15 is not the first day of a month: .* goes in the folder 2014-02-01"
    ):
        ingest(Context.of(spark, settings, "run-1"), "market", DateRange(D(2014, 1, 1), D(2014, 2, 28)))
    with pytest.raises(
        InputError,
        match=r"No month of bronze.market \(monthly\) begins in 2014-01-05.*so ingest --source market 2014-01-01",
    ):
        ingest(Context.of(spark, settings, "run-1"), "market", DateRange(D(2014, 1, 5), D(2014, 1, 31)))


def test_rows_of_another_month_are_refused_with_an_example(spark, settings, deliver):
    text = market_csv(D(2014, 1, 1), {"austin": 300.0}) + "2014,2,boise,1,1.0\n"
    deliver("market", D(2014, 1, 1), text)
    with pytest.raises(InputError, match=r"holds 1 rows dated outside the month of its folder \(for example 2014-2\)"):
        ingest(Context.of(spark, settings, "run-1"), "market", DateRange(D(2014, 1, 1), D(2014, 1, 31)))


def test_a_corrected_month_re_delivered_replaces_that_month_only(spark, settings, deliver):
    for month in (D(2014, 1, 1), D(2014, 2, 1), D(2014, 3, 1)):
        deliver("market", month, market_csv(month, {"austin": 300.0, "boise": 200.0}))
    ingest(Context.of(spark, settings, "run-1"), "market", QUARTER)
    refine(Context.of(spark, settings, "run-1"), "silver.market", QUARTER)
    deliver(
        "market", D(2014, 2, 1), market_csv(D(2014, 2, 1), {"austin": 333.0, "boise": 200.0}), "market_2014-02-01.csv"
    )
    february = DateRange(D(2014, 2, 1), D(2014, 2, 28))
    ingest(Context.of(spark, settings, "run-2"), "market", february)
    refine(Context.of(spark, settings, "run-2"), "silver.market", february)
    assert rows(spark, settings, "silver.market", "month", "city", "median_price", "_run_id") == [
        (1, "austin", 300.0, "run-1"),
        (1, "boise", 200.0, "run-1"),
        (2, "austin", 333.0, "run-2"),
        (2, "boise", 200.0, "run-2"),
        (3, "austin", 300.0, "run-1"),
        (3, "boise", 200.0, "run-1"),
    ]


def test_iso_week_one_of_2013_is_delivered_in_the_week_of_its_monday_in_2012(spark, settings, deliver):
    week = D(2012, 12, 31)
    deliver("sales", week, "year,week,store,units,price\n2013,1,s1,100,2.5\n")
    deliver("sales", D(2013, 1, 7), "year,week,store,units,price\n2013,2,s1,90,2.5\n2013,3,s1,80,2.5\n")
    with pytest.raises(InputError, match=r"holds 1 rows dated outside the week of its folder \(for example 2013-W3\)"):
        ingest(Context.of(spark, settings, "run-1"), "sales", DateRange(week, D(2013, 1, 13)))
    ingest(Context.of(spark, settings, "run-1"), "sales", DateRange.single(week))
    refine(Context.of(spark, settings, "run-1"), "silver.sales", DateRange.single(week))
    # the week is over at midnight UTC of the following Monday
    assert rows(spark, settings, "silver.sales", "_run_date", "week", "week_ends_at") == [
        (week, 1, dt.datetime(2013, 1, 7))
    ]


def readings_jsonl(day: dt.date, skip: int | None = None) -> str:
    hours = [h for i, h in enumerate(berlin_hours(day)) if i != skip]
    return "".join(
        json.dumps({"station": "s1", "measured_at": f"{h:%Y-%m-%dT%H:%M:%SZ}", "temperature": 1.5}) + "\n"
        for h in hours
    )


def test_an_hourly_day_holds_its_23_hours_when_the_clocks_go_forward_and_a_missing_hour_is_named(
    spark, settings, deliver
):
    spring = D(2014, 3, 30)  # Berlin: 02:00 does not exist
    deliver("readings", spring, readings_jsonl(spring))
    ingest(Context.of(spark, settings, "run-1"), "readings", DateRange.single(spring))
    hours = rows(spark, settings, "bronze.readings", "measured_at")
    assert [h for (h,) in hours] == [dt.datetime(2014, 3, 29, 23), *[dt.datetime(2014, 3, 30, h) for h in range(22)]]
    deliver("readings", spring + dt.timedelta(days=1), readings_jsonl(spring + dt.timedelta(days=1), skip=5))
    with pytest.raises(
        InputError,
        match=r"lacks 1 of the 24 hours of that day in Europe/Berlin \(the first: 2014-03-31 05:00 \(\+02:00\)\)",
    ):
        ingest(Context.of(spark, settings, "run-2"), "readings", DateRange.single(spring + dt.timedelta(days=1)))


def test_metadata_times_are_utc_whatever_the_process_time_zone(spark, settings, deliver, monkeypatch):
    """_ingested_at and the ledger's finished_at are the instant they happened, also when the Python
    process runs in another time zone (a naive datetime would be stored as local time, 8 hours off here)."""
    import time

    from pyspark.sql import functions as F

    from featurelake.core.dates import utc_from_micros
    from featurelake.lake import ledger

    january = DateRange(D(2014, 1, 1), D(2014, 1, 31))
    deliver("market", D(2014, 1, 1), market_csv(D(2014, 1, 1), {"austin": 300.0}))
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        before = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ingest(Context.of(spark, settings, "run-1"), "market", january)
        catalog = Catalog(spark, settings)
        returned = ledger.record(catalog, "ingest", "market", january, "run-1", [], 1.0, [D(2014, 1, 1)])
        after = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        [ingested] = [
            utc_from_micros(r[0]) for r in catalog.read("bronze.market").select(F.unix_micros("_ingested_at")).collect()
        ]
        [stored] = [
            utc_from_micros(r[0]) for r in catalog.read("ops.run_ledger").select(F.unix_micros("finished_at")).collect()
        ]
        read_back = ledger.finished_steps(catalog, january)[("ingest", "market", D(2014, 1, 1))].finished_at
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before <= ingested <= stored <= after
    assert returned == stored == read_back
