"""Periods and windows: which run date names a period, how periods follow, and windows counted in them."""

import datetime as dt

import pytest
from pydantic import ValidationError

from featurelake.core.conf.data import SourceConf
from featurelake.core.dates import DateRange
from featurelake.core.periods import Grain, TimeWindow
from featurelake.core.schedule import after, contiguous, every_period, monitored

D = dt.date
MONTHLY, WEEKLY_SUNDAY, QUARTERLY = Grain.of("monthly"), Grain.of("weekly", "sunday"), Grain.of("quarterly")


def test_a_run_date_names_the_period_by_its_first_day():
    assert MONTHLY.start(D(2014, 3, 17)) == D(2014, 3, 1) and MONTHLY.end(D(2014, 2, 3)) == D(2014, 2, 28)
    assert QUARTERLY.start(D(2014, 8, 31)) == D(2014, 7, 1) and QUARTERLY.label(D(2014, 8, 31)) == "2014-Q3"
    # 2014-03-12 is a Wednesday; its Sunday-first week began on the 9th, its Monday-first one on the 10th
    assert WEEKLY_SUNDAY.start(D(2014, 3, 12)) == D(2014, 3, 9)
    assert Grain.of("weekly").start(D(2014, 3, 12)) == D(2014, 3, 10)
    assert Grain.of("hourly") == Grain.of("daily") == Grain()  # an hourly source delivers a day's hours
    assert MONTHLY.starts(DateRange(D(2014, 1, 15), D(2014, 4, 1))) == [D(2014, 2, 1), D(2014, 3, 1), D(2014, 4, 1)]
    assert MONTHLY.shift(D(2014, 1, 31), -13) == D(2012, 12, 1) and MONTHLY.label(D(2014, 1, 31)) == "2014-01"


@pytest.mark.parametrize(
    ("text", "window"),
    [
        ("3 periods", TimeWindow(3)),
        ("12 months", TimeWindow(12, "month")),
        ("90 days", TimeWindow(90, "day")),
        ("1 year", TimeWindow(1, "year")),
        (4, TimeWindow(4)),
        (" 2 Weeks ", TimeWindow(2, "week")),
        ("24 hours", TimeWindow(24, "hour")),
        ("1 hour", TimeWindow(1, "hour")),
    ],
)
def test_a_window_is_a_count_and_a_unit_or_a_bare_count_of_periods(text, window):
    assert TimeWindow.parse(text) == window


def test_a_window_that_is_not_one_is_refused_with_the_units_it_could_be():
    with pytest.raises(ValueError, match="'3 fortnights' is not a window.*periods, hours, days, weeks, months"):
        TimeWindow.parse("3 fortnights")


def test_windows_count_back_in_periods_of_the_grain_or_in_their_own_unit():
    assert TimeWindow(3).back(D(2014, 3, 1), MONTHLY) == D(2013, 12, 1)
    assert TimeWindow(3).back(D(2014, 3, 1)) == D(2014, 2, 26)  # days, for a daily table
    assert TimeWindow(1, "month").back(D(2014, 3, 31)) == D(2014, 2, 28)
    assert TimeWindow(7).last(D(2014, 7, 1), MONTHLY) == DateRange(D(2014, 1, 1), D(2014, 7, 1))
    assert TimeWindow(7, "day").last(D(2014, 7, 10)) == DateRange(D(2014, 7, 4), D(2014, 7, 10))
    assert TimeWindow(1).ahead(D(2018, 12, 31), MONTHLY) == D(2019, 1, 1)


def test_hours_count_in_the_days_that_hold_them_a_short_day_included():
    # back from a day's first hour: 3 hours are in the day before; 23 still are (a 23-hour day holds them);
    # 24 may not be (after the change to summer time, 24 hours before midnight are two days back)
    assert TimeWindow(3, "hour").back(D(2014, 3, 31)) == D(2014, 3, 30)
    assert TimeWindow(23, "hour").back(D(2014, 3, 31)) == D(2014, 3, 30)
    assert TimeWindow(24, "hour").back(D(2014, 3, 31)) == D(2014, 3, 29)
    assert TimeWindow(1, "hour").ahead(D(2014, 3, 31)) == D(2014, 4, 1)  # a next-hour label: the next day too
    assert TimeWindow(0, "hour").ahead(D(2014, 3, 31)) == D(2014, 3, 31)
    # a window ending with a day: "24 hours" is the day, "168 hours" a week of days, "36 hours" two days
    assert TimeWindow(24, "hour").last(D(2014, 3, 31)) == DateRange.single(D(2014, 3, 31))
    assert TimeWindow(168, "hour").last(D(2014, 3, 31)) == DateRange(D(2014, 3, 25), D(2014, 3, 31))
    assert TimeWindow(36, "hour").last(D(2014, 3, 31)) == DateRange(D(2014, 3, 30), D(2014, 3, 31))


def test_a_monthly_step_is_due_once_per_month_and_consecutive_months_run_as_one_job():
    year = DateRange(D(2014, 1, 1), D(2014, 12, 31))
    due = every_period(MONTHLY, {D(2014, 5, 1)})(year, year)
    assert due == [D(2014, m, 1) for m in range(1, 13) if m != 5]
    assert contiguous(due, MONTHLY) == [
        DateRange(D(2014, 1, 1), D(2014, 4, 1)),
        DateRange(D(2014, 6, 1), D(2014, 12, 1)),
    ]
    assert contiguous(due, MONTHLY, frozenset({D(2014, 5, 1)})) == [DateRange(D(2014, 1, 1), D(2014, 12, 1))]


def test_scoring_and_monitoring_follow_the_models_periods_after_the_training_window():
    year = DateRange(D(2014, 1, 1), D(2014, 12, 31))
    assert after(D(2014, 6, 30), MONTHLY)(year, year) == [D(2014, m, 1) for m in range(7, 13)]
    monthly_every_2 = monitored(D(2014, 6, 30), MONTHLY, TimeWindow(2))
    assert monthly_every_2(year, year) == [D(2014, 8, 1), D(2014, 10, 1), D(2014, 12, 1)]
    # a daily model monitored each month: the same day a month on, and the last day of every run
    daily = monitored(D(2013, 6, 30), Grain(), TimeWindow(1, "month"))
    half = DateRange(D(2013, 7, 1), D(2013, 9, 15))
    assert daily(half, half) == [D(2013, 7, 30), D(2013, 8, 30), D(2013, 9, 15)]


def source(**changes) -> dict:
    conf = {"format": "csv", "cadence": "monthly", "table": "bronze.sales", "columns": {"y": "int", "m": "int"}}
    return {**conf, "date_columns": {"year": "y", "month": "m"}, **changes}


def test_a_source_dates_its_rows_in_a_shape_that_can_place_them_in_its_period():
    assert SourceConf.model_validate(source()).date_columns.columns == {"year": "y", "month": "m"}
    with pytest.raises(ValidationError, match=r"date_columns \(year, month\) cannot place a row in a weekly period"):
        SourceConf.model_validate(source(cadence="weekly"))
    with pytest.raises(ValidationError, match="a monthly source needs date_columns"):
        SourceConf.model_validate(source(date_columns=None))
    with pytest.raises(ValidationError, match="give one of: year, month, day | year, month"):
        SourceConf.model_validate(source(date_columns={"year": "y"}))
    with pytest.raises(ValidationError, match="week_starts applies to a weekly source only"):
        SourceConf.model_validate(source(week_starts="sunday"))
    hourly = source(
        cadence="hourly", columns={"at": "timestamp"}, date_columns={"timestamp": "at", "timezone": "Europe/Berlin"}
    )
    assert SourceConf.model_validate(hourly).date_columns.unit == "hour"
    with pytest.raises(ValidationError, match="declared int; it must be timestamp"):
        SourceConf.model_validate({**hourly, "columns": {"at": "int"}})


def test_a_source_whose_folders_are_arrival_days_says_how_late_a_delivery_may_come():
    arriving = SourceConf.model_validate(source(folders="arrival", arrives_within="1 month"))
    assert arriving.arrives_within == TimeWindow(1, "month")
    with pytest.raises(ValidationError, match="folders: arrival needs arrives_within"):
        SourceConf.model_validate(source(folders="arrival"))
    with pytest.raises(ValidationError, match="arrives_within applies to folders: arrival only"):
        SourceConf.model_validate(source(arrives_within="1 month"))


@pytest.mark.parametrize(
    ("grain", "window"),
    [
        (Grain("month"), TimeWindow(1, "month")),
        (Grain("month"), TimeWindow(20, "day")),
        (Grain("month"), TimeWindow(2, "period")),
        (Grain("quarter"), TimeWindow(1, "year")),
        (Grain("week", 6), TimeWindow(3, "week")),
        (Grain("day"), TimeWindow(36, "hour")),
        (Grain("day"), TimeWindow(1, "period")),
    ],
)
def test_the_arrival_window_in_spark_ends_where_the_drivers_does(spark, grain, window):
    from pyspark.sql import functions as F

    from featurelake.ingest.dating import arrival_window, arrival_window_end

    starts = sorted({grain.start(D(2011, 12, 20) + dt.timedelta(days=n)) for n in range(0, 800, 3)})
    frame = spark.createDataFrame([(s,) for s in starts], "start date")
    ends = dict(frame.select("start", arrival_window_end(F.col("start"), grain, window).alias("end")).collect())
    assert ends == {s: arrival_window(s, grain, window)[1] for s in starts}
    # a month's window ends on a month's last day or clipped to it, never before the period's own end
    assert all(end >= grain.end(start) for start, end in ends.items())
