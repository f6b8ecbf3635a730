"""Periods: the time grain of a source, and windows counted in periods, days, weeks, months or quarters.

A run date names a period by its first day, as Airflow's logical date names the start of a data interval:
a daily source's run date is its day, a weekly source's the first day of its week (``week_starts``), a
monthly source's the 1st of its month (2014-03-01 is March 2014), a quarterly source's the 1st of its
quarter. An hourly source delivers a day's hours in that day's folder, so its run dates are days too. When a
period's data arrives (a monthly report delivered on the 15th of the next month) is not its run date: refine
derives that moment as an event time (``period_time`` with an offset).

A window ("3 periods", "12 months", "90 days") is a length counted back from a run date; "periods" counts in
the grain of the table it applies to, so one default fits every cadence.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

from featurelake.core.dates import DateRange

Unit = Literal["day", "week", "month", "quarter"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A cadence and the grain of its run dates (hourly deliveries are a day's hours; snapshots have no grain).
CADENCE_UNITS: dict[str, Unit] = {
    "hourly": "day",
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
}
_MONTHS = {"month": 1, "quarter": 3}


def _add_months(day: dt.date, months: int) -> dt.date:
    """The same day of the month ``months`` later (earlier when negative), clipped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    first_of_next = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return dt.date(year, month + 1, min(day.day, (first_of_next - dt.timedelta(days=1)).day))


@dataclass(frozen=True)
class Grain:
    """The periods of a cadence: which date starts the period a date falls in, and how periods follow."""

    unit: Unit = "day"
    week_start: int = 0  # 0 = Monday, as datetime.date.weekday()

    @classmethod
    def of(cls, cadence: str, week_starts: str = "monday") -> Grain:
        """The grain of a source's cadence (a snapshot's run dates are its delivery days)."""
        return cls(CADENCE_UNITS.get(cadence, "day"), WEEKDAYS.index(week_starts))

    def start(self, day: dt.date) -> dt.date:
        """The first day of the period ``day`` falls in."""
        if self.unit == "day":
            return day
        if self.unit == "week":
            return day - dt.timedelta(days=(day.weekday() - self.week_start) % 7)
        months = _MONTHS[self.unit]
        return dt.date(day.year, (day.month - 1) // months * months + 1, 1)

    def is_start(self, day: dt.date) -> bool:
        return self.start(day) == day

    def shift(self, day: dt.date, periods: int) -> dt.date:
        """The start of the period ``periods`` after (before, when negative) the one ``day`` falls in."""
        start = self.start(day)
        if self.unit == "day":
            return start + dt.timedelta(days=periods)
        if self.unit == "week":
            return start + dt.timedelta(weeks=periods)
        return _add_months(start, periods * _MONTHS[self.unit])

    def end(self, day: dt.date) -> dt.date:
        """The last day of the period ``day`` falls in."""
        return self.shift(day, 1) - dt.timedelta(days=1)

    def starts(self, dates: DateRange) -> list[dt.date]:
        """The run dates of the periods that begin in the range."""
        found, day = [], self.start(dates.start)
        day = day if day >= dates.start else self.shift(day, 1)
        while day <= dates.end:
            found.append(day)
            day = self.shift(day, 1)
        return found

    def label(self, day: dt.date) -> str:
        """How a period is named in messages: 2014-03-07, week of 2014-03-03, 2014-03, 2014-Q1."""
        start = self.start(day)
        if self.unit == "day":
            return start.isoformat()
        if self.unit == "week":
            return f"the week of {start.isoformat()}"
        if self.unit == "month":
            return f"{start:%Y-%m}"
        return f"{start.year}-Q{(start.month - 1) // 3 + 1}"

    @property
    def noun(self) -> str:
        return self.unit


DAILY = Grain()
WINDOW_TEXT = re.compile(r"^\s*(\d+)\s*(period|hour|day|week|month|quarter|year)s?\s*$")
# Run dates are days: a window of hours covers the days that hold those hours. Counted back or ahead from a day's
# edge, a local day may be as short as 23 hours (the change to summer time), so N hours reach over ceil(N / 23)
# days; as a window ending with a day, they are ceil(N / 24) days of the usual 24 hours.
SHORTEST_DAY_HOURS = 23


@dataclass(frozen=True)
class TimeWindow:
    """A length of time counted back from a run date: ``count`` periods of a table's grain, or of a unit. Hours
    count in the whole days (run dates) that hold them: "3 hours" back from a day reaches into the day before."""

    count: int
    unit: Literal["period", "hour", "day", "week", "month", "quarter", "year"] = "period"

    @classmethod
    def parse(cls, value: object) -> TimeWindow:
        """ "3 periods", "12 months", "90 days", "1 year", or a bare number of periods."""
        if isinstance(value, TimeWindow):
            return value
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not a window")
        if isinstance(value, int):
            if value < 0:
                raise ValueError(f"{value} is negative; a window counts back, 0 or more")
            return cls(value)
        match = WINDOW_TEXT.match(str(value).lower())
        if not match:
            raise ValueError(
                f"{value!r} is not a window; write a count and a unit, such as '3 periods', '12 months', '90 days', "
                "'24 hours' (units: periods, hours, days, weeks, months, quarters, years)"
            )
        return cls(int(match.group(1)), match.group(2))  # type: ignore[arg-type]

    def back(self, day: dt.date, grain: Grain = DAILY) -> dt.date:
        """The date ``count`` units before ``day`` (periods: the start of the period that many before)."""
        if self.unit == "period":
            return grain.shift(day, -self.count)
        if self.unit == "hour":
            return day - dt.timedelta(days=-(-self.count // SHORTEST_DAY_HOURS))
        if self.unit in ("day", "week"):
            return day - dt.timedelta(days=self.count * (7 if self.unit == "week" else 1))
        return _add_months(day, -self.count * {"month": 1, "quarter": 3, "year": 12}[self.unit])

    def ahead(self, day: dt.date, grain: Grain = DAILY) -> dt.date:
        """The date ``count`` units after ``day`` (periods: the start of the period that many after)."""
        if self.unit == "period":
            return grain.shift(day, self.count)
        if self.unit == "hour":
            return day + dt.timedelta(days=-(-self.count // SHORTEST_DAY_HOURS))
        if self.unit in ("day", "week"):
            return day + dt.timedelta(days=self.count * (7 if self.unit == "week" else 1))
        return _add_months(day, self.count * {"month": 1, "quarter": 3, "year": 12}[self.unit])

    def last(self, day: dt.date, grain: Grain = DAILY) -> DateRange:
        """The window of this length that ends with ``day``: "7 periods" is the period of ``day`` and the six
        before it, "7 days" is ``day`` and the six days before it."""
        if self.unit == "period":
            return DateRange(grain.shift(day, 1 - self.count), day)
        if self.unit == "hour":  # "24 hours": the day itself; "168 hours": it and the six before
            return DateRange(day - dt.timedelta(days=max(1, -(-self.count // 24)) - 1), day)
        return DateRange(self.back(day) + dt.timedelta(days=1), day)

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'' if self.count == 1 else 's'}"
