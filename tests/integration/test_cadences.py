"""A monthly, a weekly and an hourly project of their own (tests/cadence_projects.py), each run by
`featurelake run --conf-dir` on a fresh lake through every stage: a period is ingested, refined, materialized
and scored once, the label looks one period ahead, scoring and monitoring follow the model's periods, and the
reports speak of the project's own nouns and labels. Each project runs once, in the test session's process
(conftest.py), over the fewest periods its assertions need."""

from __future__ import annotations

import datetime as dt
import statistics

import pytest
from pyspark.sql import functions as F

from featurelake.core.dates import utc_from_micros
from tests.cadence_projects import (
    CORRECTED_PRICE,
    CORRECTION_DAY,
    HOURLY,
    WEEKLY,
    arrival,
    berlin_hours,
    market_rows,
    monthly,
    reading_rows,
    sales_rows,
)
from tests.integration.conftest import WEEKLY_PACKAGE, settings_of

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

D = dt.date


def table(spark, lake, name: str):
    layer, short = name.split(".")
    return spark.read.format("delta").load(str(lake / layer / short))


def dates(frame, column: str = "_run_date") -> list[dt.date]:
    return sorted({r[0] for r in frame.select(column).distinct().collect()})


def ledger_dates(spark, lake, stage: str) -> list[dt.date]:
    ledger = table(spark, lake, "ops.run_ledger").where(F.col("stage") == stage)
    return dates(ledger, "run_date")


def test_a_monthly_report_runs_once_per_month_through_every_stage(spark, cadence_runs):
    lake, _ = cadence_runs("monthly")
    shape = monthly()
    months = shape.periods
    for stage in ("ingest", "refine", "features"):
        assert ledger_dates(spark, lake, stage) == months, stage
    delivered = market_rows(shape)
    bronze = table(spark, lake, "bronze.market")
    # the month before the last holds its report and the corrected one re-sent later (city_00's price), both
    resent = [{**r, "median_price": CORRECTED_PRICE} if r["city"] == "city_00" else r for r in delivered[months[-2]]]
    corrected = [(r["city"], r["year"], r["month"], r["listings"], r["median_price"]) for r in resent]
    expected = sorted(
        [(r["city"], r["year"], r["month"], r["listings"], r["median_price"]) for m in months for r in delivered[m]]
        + corrected
    )
    assert (
        sorted(tuple(r) for r in bronze.select("city", "year", "month", "listings", "median_price").collect())
        == expected
    )
    assert any(r[3] is None for r in expected)  # NA arrived as null

    # The label looks one month ahead: the next report's price is higher. Every training month has its next.
    training = {
        (r["city"], r["year"], r["month"]): r["price_up"] for r in table(spark, lake, "training_sets.market").collect()
    }
    prices = {(r["city"], m): r["median_price"] for m in months for r in delivered[m]}
    test_end = D(*map(int, shape.splits["test"][1].split("-")))
    labelled = [m for m in months if m <= test_end]
    assert len(training) == len(labelled) * shape.entities
    for (city, year, month), label in training.items():
        this = D(year, month, 1)
        following = months[months.index(this) + 1]
        assert label == int(prices[(city, following)] > prices[(city, this)]), (city, this)

    # run up to the window's end, the last month's labels had not landed: the build of that run left them out,
    # and the first production month's run built the training set again with them and trained on it
    _, at_window_end = cadence_runs("monthly-window")
    _, in_production = cadence_runs("monthly")
    assert f"rejected {shape.entities} label not landed yet" in at_window_end
    assert "label not landed yet" not in in_production and "train models.market [" in in_production
    first_build = spark.read.format("delta").option("versionAsOf", 0).load(str(lake / "training_sets" / "market"))
    assert first_build.count() == (len(labelled) - 1) * shape.entities

    predicted = dates(table(spark, lake, "predictions.market"))
    assert predicted == [m for m in months if m > test_end]
    # monitored every 3 periods after the window (its third scored month), and on the run's last period
    assert dates(table(spark, lake, "monitoring.market")) == [months[-4], months[-1]]
    card = (lake / "models" / "market" / "v1" / "model_card.html").read_text()
    assert "rising" in card and "report" in card and "flight" not in card and "delayed" not in card


def test_a_weekly_source_dated_by_iso_year_and_week_runs_on_mondays(spark, cadence_runs):
    lake, _ = cadence_runs("weekly")
    weeks = WEEKLY.periods
    assert all(w.weekday() == 0 for w in weeks) and ledger_dates(spark, lake, "features") == weeks
    silver = table(spark, lake, "silver.sales")
    # ISO week 1 of 2013 began on Monday 31 December 2012; its rows are in that week's folder
    first_of_2013 = (
        silver.where((F.col("year") == 2013) & (F.col("week") == 1)).select("_run_date", "week_ends_at").distinct()
    )
    assert [tuple(r) for r in first_of_2013.collect()] == [(D(2012, 12, 31), dt.datetime(2013, 1, 7))]
    delivered = sales_rows(WEEKLY)
    units = {(r["store"], w): r["units"] for w in weeks for r in delivered[w]}
    features = table(spark, lake, "features.store_trend").where(F.col("_run_date") == D(2013, 3, 4)).collect()
    for row in features:  # the mean of the week and the three before it
        window = [units[(row["store"], D(2013, 3, 4) - dt.timedelta(weeks=k))] for k in range(4)]
        assert row["units_4w"] == pytest.approx(statistics.fmean(window))
    training = table(spark, lake, "training_sets.sales").select("store", "year", "week", "busy").collect()
    for r in training:  # busy: more than 110 units in the week
        assert r["busy"] == int(units[(r["store"], D.fromisocalendar(r["year"], r["week"], 1))] > 110)
    test_end = D(2013, 1, 27)
    assert len(training) == WEEKLY.entities * len([w for w in weeks if w <= test_end])
    assert dates(table(spark, lake, "predictions.sales")) == [w for w in weeks if w > test_end]
    # "every: 2 months" on weekly periods: the week two months after the window's end (27 March is in the
    # week of the 25th), and so on, and the last week of the run
    assert dates(table(spark, lake, "monitoring.sales")) == [D(2013, 3, 25), D(2013, 4, 8)]
    # its own package and suites only, though the directory holds the demo's `features` and `expectations` too
    settings = settings_of(lake.parent / "conf", lake)
    assert set(settings.feature_groups) == {"store_trend"} and settings.features_package == WEEKLY_PACKAGE
    judged = table(spark, lake, "quality.results").where(F.col("table") == "features.store_trend")
    judged = judged.where(F.col("expectation_type").startswith("expect_"))  # not daily metrics nor anomalies
    expectations = {(r["suite"], r["expectation_type"], r["success"]) for r in judged.collect()}
    assert expectations == {("features.store_trend.json", "expect_column_values_to_not_be_null", True)}


def test_an_hourly_source_delivered_per_berlin_day_has_23_hours_when_the_clocks_go_forward(spark, cadence_runs):
    lake, _ = cadence_runs("hourly")
    days = HOURLY.periods
    silver = table(spark, lake, "silver.readings")
    per_day = {r["_run_date"]: r["n"] for r in silver.groupBy("_run_date").agg(F.count(F.lit(1)).alias("n")).collect()}
    assert per_day == {d: len(berlin_hours(d)) * HOURLY.entities for d in days}
    assert per_day[D(2014, 3, 30)] == 23 * HOURLY.entities
    delivered = reading_rows(HOURLY)
    readings = {(r["station"], r["measured_at"]): r["temperature"] for d in days for r in delivered[d]}
    # across the change: the mean of the reading at 01:00 UTC (03:00 summer time) and the two before it
    at = dt.datetime(2014, 3, 30, 1)
    [row] = (
        table(spark, lake, "features.station_trend")
        .where((F.col("station") == "station_0") & (F.col("measured_at") == F.lit(at)))
        .collect()
    )
    before = [f"{at - dt.timedelta(hours=h):%Y-%m-%dT%H:%M:%SZ}" for h in range(3)]
    assert row["temperature_3h"] == pytest.approx(statistics.fmean(readings[("station_0", t)] for t in before))
    assert dates(table(spark, lake, "predictions.readings")) == [D(2014, 4, 2), D(2014, 4, 3)]
    assert dates(table(spark, lake, "monitoring.readings")) == [D(2014, 4, 3)]
    # run under TZ=America/Los_Angeles: the engine's own times are still this UTC instant's, not 7 hours off
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for name, column in (("bronze.readings", "_ingested_at"), ("ops.run_ledger", "finished_at")):
        [latest] = table(spark, lake, name).agg(F.unix_micros(F.max(column))).first()
        assert dt.timedelta(0) < now - utc_from_micros(latest) < dt.timedelta(hours=1), name


def test_a_corrected_month_re_delivered_is_noticed_and_flows_downstream(spark, cadence_runs):
    """`featurelake run` again over the last two months, no --force: only the re-delivered month's ingest is
    due for its input, and what reads it (refine, the features whose look-back holds it, scoring) runs again."""
    lake, again = cadence_runs("monthly-redelivered")
    shape = monthly()
    corrected, last = shape.periods[-2], shape.periods[-1]
    assert f"ingest bronze.market: 1 delivery changed since it was last run ({corrected}), running again" in again
    # the correction arrived in the last month's window too, but holds no row of it: only its own month changed
    assert f"  {corrected}: {arrival(corrected, CORRECTION_DAY)}/market_{corrected}.csv added" in again
    assert "stale:" not in again, "a month after the training set's span: no build read it"
    silver = {(r["city"], r["_run_date"]): r["median_price"] for r in table(spark, lake, "silver.market").collect()}
    delivered = market_rows(shape)
    assert silver == {
        (r["city"], m): CORRECTED_PRICE if (r["city"], m) == ("city_00", corrected) else r["median_price"]
        for m in shape.periods
        for r in delivered[m]
    }
    ledger = table(spark, lake, "ops.run_ledger").groupBy("stage", "run_date").agg(F.count(F.lit(1)).alias("runs"))
    runs = {(r["stage"], r["run_date"]): r["runs"] for r in ledger.collect()}
    # the corrected month ran twice from ingest to scoring; the last month only where it reads the corrected one
    assert [runs[(s, corrected)] for s in ("ingest", "refine", "features", "score")] == [2, 2, 2, 2]
    assert [runs[(s, last)] for s in ("ingest", "refine", "features", "score")] == [1, 1, 2, 2]
    features = table(spark, lake, "features.city_trend").where(F.col("city") == "city_00")
    versions = sorted((r["_run_date"], r["_available_at"], r["price_3m"]) for r in features.collect())
    price_3m = {day: value for day, _, value in versions}  # the latest version of each month
    prices = [delivered[m][0]["median_price"] for m in shape.periods[-4:-2]] + [CORRECTED_PRICE]
    assert price_3m[corrected] == pytest.approx(statistics.fmean(prices))
    assert price_3m[last] == pytest.approx(statistics.fmean([*prices[1:], delivered[last][0]["median_price"]]))
    # the corrected month keeps the value known before the correction arrived: the end of each arrival day in
    # Chicago (summer time, UTC-5); the last month's report arrived after the correction, so it has one version
    first_report = [delivered[m][0]["median_price"] for m in shape.periods[-4:-1]]
    known = {day: [(at, value) for d, at, value in versions if d == day] for day in (corrected, last)}
    assert known[corrected] == [
        (
            dt.datetime.combine(arrival(corrected) + dt.timedelta(days=1), dt.time(5)),
            pytest.approx(statistics.fmean(first_report)),
        ),
        (
            dt.datetime.combine(arrival(corrected, CORRECTION_DAY) + dt.timedelta(days=1), dt.time(5)),
            price_3m[corrected],
        ),
    ]
    assert [at for at, _ in known[last]] == [dt.datetime.combine(arrival(last) + dt.timedelta(days=1), dt.time(5))]
