"""The project's feature groups and label, on hand-made rows that make each rule visible; every group runs
through the engine's own contract (featurelake.testing.run_group), as `featurelake features` runs it."""

from __future__ import annotations

import datetime as dt

import pytest

from featurelake.core.dates import DateRange
from featurelake.testing import assert_rows, frame_of, run_group
from features.aircraft import aircraft
from features.calendar import calendar, us_federal_holidays
from features.carrier import carrier_performance
from features.flight_stats import daily_outcomes, end_of_day, trailing_rates
from features.labels import is_delayed

FLIGHTS = "carrier string, dep_time int, arr_delay double, _run_date date"
D = dt.date


def test_trailing_rates_sum_the_window_and_skip_days_without_flights(spark):
    flights = frame_of(
        spark,
        [
            ("AA", 900, 20.0, D(2013, 1, 1)),  # delayed
            ("AA", 905, 5.0, D(2013, 1, 1)),
            ("AA", None, None, D(2013, 1, 1)),  # cancelled
            ("AA", 910, 16.0, D(2013, 1, 2)),  # delayed
            ("AA", 915, None, D(2013, 1, 4)),  # diverted: departed, never arrived
            ("UA", 930, -10.0, D(2013, 1, 4)),
        ],
        FLIGHTS,
    )
    windows = {1: ["delayed_share", "mean_arr_delay", "cancel_rate"], 3: ["delayed_share", "cancel_rate"]}
    rows = flights.transform(daily_outcomes(["carrier"])).transform(trailing_rates(["carrier"], windows, "c"))
    got = {(r["carrier"], r["_run_date"].day): r for r in rows.collect()}
    assert got[("AA", 1)]["c_delayed_share_1d"] == pytest.approx(0.5)
    assert got[("AA", 1)]["c_mean_arr_delay_1d"] == pytest.approx(12.5)
    assert got[("AA", 1)]["c_cancel_rate_1d"] == pytest.approx(1 / 3)
    assert got[("AA", 2)]["c_delayed_share_3d"] == pytest.approx(2 / 3)  # days 1-2: 2 of 3 arrived late
    # day 4's 3-day window holds days 2-4 (day 1 has left it); its only flight never arrived
    assert got[("AA", 4)]["c_delayed_share_1d"] is None  # no arrival: null, not a division by zero
    assert got[("AA", 4)]["c_delayed_share_3d"] == pytest.approx(1.0)
    assert got[("AA", 4)]["c_cancel_rate_3d"] == pytest.approx(0.0)
    assert got[("UA", 4)]["c_delayed_share_3d"] == pytest.approx(0.0)  # keys never mix


def test_a_day_ends_at_new_york_midnight_across_daylight_saving(spark):
    days = frame_of(spark, [(D(2013, 3, 9),), (D(2013, 3, 10),), (D(2013, 11, 3),)], "_run_date date")
    ends = {r["_run_date"]: r["day_ends_at"] for r in days.transform(end_of_day).collect()}
    assert ends[D(2013, 3, 9)] == dt.datetime(2013, 3, 10, 5)  # EST: UTC-5
    assert ends[D(2013, 3, 10)] == dt.datetime(2013, 3, 11, 4)  # EDT from 10 March: UTC-4
    assert ends[D(2013, 11, 3)] == dt.datetime(2013, 11, 4, 5)  # back to EST on 3 November


def test_us_federal_holidays_of_2013():
    assert us_federal_holidays(2013) == [
        D(2013, 1, 1),
        D(2013, 1, 21),
        D(2013, 2, 18),
        D(2013, 5, 27),
        D(2013, 7, 4),
        D(2013, 9, 2),
        D(2013, 10, 14),
        D(2013, 11, 11),
        D(2013, 11, 28),
        D(2013, 12, 25),
    ]


def test_calendar_rows_every_hour_published_the_day_before(spark):
    rows = run_group(calendar, DateRange(D(2013, 11, 27), D(2013, 11, 30))).collect()
    assert len(rows) == 4 * 24
    by_key = {(r["month"], r["day"], r["hour"]): r for r in rows}
    wednesday = by_key[(11, 27, 18)]
    assert (wednesday["cal_weekday"], wednesday["cal_is_weekend"], wednesday["cal_days_to_holiday"]) == (3, 0, 1)
    assert wednesday["published_at"] == dt.datetime(2013, 11, 26)
    assert wednesday["cal_hour"] == 18
    saturday = by_key[(11, 30, 6)]
    assert (saturday["cal_weekday"], saturday["cal_is_weekend"], saturday["cal_days_to_holiday"]) == (6, 1, 2)


def test_aircraft_restated_monthly_with_the_age_in_that_year(spark):
    planes = frame_of(
        spark,
        [
            ("N1", 2000, 150, 2, "Fixed wing", "Turbo-fan", D(2013, 1, 1)),
            ("N2", None, 10, 1, "Fixed wing", "Piston", D(2013, 1, 15)),
        ],
        "tailnum string, year int, seats int, engines int, type string, engine string, _run_date date",
    )
    rows = run_group(aircraft, DateRange(D(2013, 1, 1), D(2013, 2, 3)), planes=planes).collect()
    got = {(r["tailnum"], r["_run_date"]): r for r in rows}
    assert set(got) == {("N1", D(2013, 1, 1)), ("N1", D(2013, 2, 1)), ("N2", D(2013, 2, 1))}  # N2 known from the 15th
    assert got[("N1", D(2013, 2, 1))]["aircraft_age_years"] == 13
    assert got[("N1", D(2013, 2, 1))]["valid_from"] == dt.datetime(2013, 2, 1, 5)  # New York midnight, in UTC
    assert got[("N2", D(2013, 2, 1))]["aircraft_age_years"] is None  # unknown build year stays unknown


@pytest.mark.parametrize(
    ("cancelled", "diverted", "expected"),
    [("positive", "positive", [1, 0, 0, 1, 1]), ("negative", "exclude", [1, 0, 0, 0, None])],
)
def test_is_delayed_labels_cancelled_and_diverted_flights_as_configured(spark, cancelled, diverted, expected):
    flights = frame_of(
        spark,
        [(1, 900, 16.0), (2, 900, 15.0), (3, 900, -5.0), (4, None, None), (5, 900, None)],
        "id int, dep_time int, arr_delay double",
    )
    label = is_delayed(flights, threshold_minutes=15, cancelled=cancelled, diverted=diverted)
    rows = flights.select("id", label.alias("label")).orderBy("id").collect()
    assert [r["label"] for r in rows] == expected


def test_is_delayed_refuses_an_unknown_treatment(spark):
    flights = frame_of(spark, [(1, 900, 16.0)], "id int, dep_time int, arr_delay double")
    with pytest.raises(ValueError, match="cancelled must be one of positive, negative, exclude"):
        is_delayed(flights, threshold_minutes=15, cancelled="drop", diverted="positive")


def test_carrier_performance_through_the_engine_contract(spark):
    """The README's example: a group's rows as `featurelake features` writes them, asserted with chispa."""
    flights = frame_of(
        spark,
        [("AA", 900, 20.0, D(2013, 1, 1)), ("AA", 905, 5.0, D(2013, 1, 1)), ("AA", 910, 16.0, D(2013, 1, 2))],
        FLIGHTS,
    )
    rows = run_group(carrier_performance, DateRange(D(2013, 1, 2), D(2013, 1, 2)), flights=flights)
    assert rows.columns[:3] == ["carrier", "day_ends_at", "_available_at"]  # keys, event time, availability
    assert_rows(
        rows,
        [
            {
                "carrier": "AA",
                "_run_date": D(2013, 1, 2),  # only the run dates asked for; 1 January was the look-back
                "day_ends_at": dt.datetime(2013, 1, 3, 5),  # New York midnight, in UTC
                "_available_at": dt.datetime(2013, 1, 3, 11),  # six hours later, when the arrivals are in
                "carrier_delayed_share_1d": 1.0,
                "carrier_delayed_share_7d": 2 / 3,
            }
        ],
    )
