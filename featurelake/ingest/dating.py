"""Dating rows: the date a row's date columns name, the period it falls in, and the hours an hourly day has.

A delivery's folder names its period by the period's first day (featurelake.core.periods); every row must
fall in that period. A source whose folders are arrival days (``folders: arrival``) takes each row's period from
its date columns instead, within the days a delivery of that period may arrive (``arrival_window``). The
columns may be (year, month, day), (year, month), ISO (year, week), a DATE, or a TIMESTAMP read in the
source's time zone (the session's time zone is UTC, so a TIMESTAMP is an instant). Parts that make no date
(month 13, week 0) give null: the row cannot be dated and is quarantined.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from featurelake.core.conf.data import DATE_SHAPES, DateColumns
from featurelake.core.periods import SHORTEST_DAY_HOURS, Grain, TimeWindow

_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def _make_date(year: Column, month: Column, day: Column) -> Column:
    zero = F.lit(0)
    return F.try_make_timestamp(years=year, months=month, days=day, hours=zero, mins=zero, secs=zero).cast("date")


def row_date(columns: DateColumns, column: Callable[[str], Column] = F.col) -> Column:
    """The local date a row is dated on: its day, the first of its month, the Monday of its ISO week, or the
    day of its timestamp in the time zone (``column`` gives each named column; default the frame's)."""
    c = {part: column(name) for part, name in columns.columns.items()}
    shape = DATE_SHAPES[tuple(columns.columns)]
    if shape == "day":
        return _make_date(c["year"], c["month"], c["day"])
    if shape == "month":
        return _make_date(c["year"], c["month"], F.lit(1))
    if shape == "week":
        return iso_week_start(c["year"], c["week"])
    if shape == "date":
        return c["date"]
    return F.to_date(F.from_utc_timestamp(c["timestamp"], columns.timezone or "UTC"))


def iso_week_start(year: Column, week: Column) -> Column:
    """The Monday that starts ISO week ``week`` of ``year`` (null for a week outside 1-53)."""
    january_4th = _make_date(year, F.lit(1), F.lit(4))  # always in ISO week 1
    monday = F.date_sub(january_4th, F.weekday(january_4th))
    return F.when(week.between(1, 53), F.date_add(monday, (week - 1) * 7))


def row_text(columns: DateColumns) -> Column:
    """How a row's dating reads in a message: 2013-01-02, 2013-01, 2013-W05, or the local timestamp."""
    c = {part: F.col(name) for part, name in columns.columns.items()}
    shape = DATE_SHAPES[tuple(columns.columns)]
    if shape == "day":
        return F.format_string("%s-%s-%s", c["year"], c["month"], c["day"])
    if shape == "month":
        return F.format_string("%s-%s", c["year"], c["month"])
    if shape == "week":
        return F.format_string("%s-W%s", c["year"], c["week"])
    if shape == "date":
        return c["date"].cast("string")
    local = F.from_utc_timestamp(c["timestamp"], columns.timezone or "UTC")
    return F.concat(F.date_format(local, "yyyy-MM-dd HH:mm"), F.lit(f" {columns.timezone or 'UTC'}"))


def period_start(day: Column, grain: Grain) -> Column:
    """The run date of the period a date falls in: the day, its week's first day, its month's or quarter's."""
    if grain.unit == "day":
        return day
    if grain.unit == "week":
        return F.date_sub(day, F.pmod(F.weekday(day) - F.lit(grain.week_start), F.lit(7)))
    return F.trunc(day, grain.unit)


def arrival_window(start: dt.date, grain: Grain, within: TimeWindow) -> tuple[dt.date, dt.date]:
    """The days on which a delivery of the period that begins on ``start`` may arrive: from its first day to
    ``within`` after its last ("2 periods" of a month: to the end of the second month after it)."""
    if within.unit == "period":
        return start, grain.end(grain.shift(start, within.count))
    # counted from the next period's first day: "1 month" after February ends on 31 March, not on the 28th
    return start, within.ahead(grain.shift(start, 1), grain) - dt.timedelta(days=1)


def arrival_window_end(start: Column, grain: Grain, within: TimeWindow) -> Column:
    """arrival_window's last day as a column, for the period that begins on the date ``start``."""
    n = within.count
    if within.unit == "period":
        return _period_end(_shift(start, grain, n), grain)
    following = _shift(start, grain, 1)
    if within.unit == "hour":
        return F.date_add(following, -(-n // SHORTEST_DAY_HOURS) - 1)
    if within.unit in ("day", "week"):
        return F.date_add(following, n * (7 if within.unit == "week" else 1) - 1)
    return F.date_sub(F.add_months(following, n * _MONTHS[within.unit]), 1)


def _shift(start: Column, grain: Grain, periods: int) -> Column:
    if grain.unit in ("day", "week"):
        return F.date_add(start, periods * (7 if grain.unit == "week" else 1))
    return F.add_months(start, periods * _MONTHS[grain.unit])


def _period_end(start: Column, grain: Grain) -> Column:
    return F.date_sub(_shift(start, grain, 1), 1)


def hours_of_local_day(day: dt.date, timezone: str) -> list[dt.datetime]:
    """The UTC start of every hour of a local day: 24, or 23 and 25 on the days the clocks change."""
    zone = zoneinfo.ZoneInfo(timezone)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return [
        (start + dt.timedelta(hours=h)).replace(tzinfo=None) for h in range(int((end - start).total_seconds() // 3600))
    ]


def local_hour_text(hour: dt.datetime, timezone: str) -> str:
    """A UTC hour as the local clock shows it, with its offset: 2014-03-09 03:00 (-04:00)."""
    local = hour.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(timezone))
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} ({offset[:3]}:{offset[3:]})"
