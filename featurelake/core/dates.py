"""Run dates: the unit every stage is scheduled, written and recorded by."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from featurelake.core.errors import FeaturelakeError


@dataclass(frozen=True)
class DateRange:
    """Run dates from start to end, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise FeaturelakeError(
                f"The range ends ({self.end}) before it starts ({self.start}); swap --from and --to."
            )

    @classmethod
    def single(cls, day: dt.date) -> DateRange:
        return cls(day, day)

    def days(self) -> Iterator[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"


def iso_date(text: str) -> dt.date:
    """A command-line date argument, YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date of the form YYYY-MM-DD") from None


EPOCH = dt.datetime(1970, 1, 1)


def utc_from_micros(micros: int) -> dt.datetime:
    """A TIMESTAMP read as microseconds since the epoch (``F.unix_micros``), as a naive UTC datetime: collecting
    the TIMESTAMP itself would give the Python process's local time."""
    return EPOCH + dt.timedelta(microseconds=micros)
