"""When steps are due: cadences (the run dates of a batch a step runs on), look-backs, batches and spans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings

# (batch, the whole range of the run) -> the run dates of the batch a step is due on
Cadence = Callable[[DateRange, DateRange], list[dt.date]]


def every_day_except(gaps: Iterable[dt.date]) -> Cadence:
    """Every run date of the batch but the declared gaps."""
    skipped = frozenset(gaps)
    return lambda batch, run_dates: [d for d in batch.days() if d not in skipped]


def on(day: dt.date) -> Cadence:
    """Only the given date, when the batch holds it (a training set at its window's end)."""
    return lambda batch, run_dates: [day] if batch.start <= day <= batch.end else []


def after(window_end: dt.date, every_days: int = 1) -> Cadence:
    """Every every_days-th run date after a window (production days after the training window)."""
    return lambda batch, run_dates: [
        d for d in batch.days() if d > window_end and (d - window_end).days % every_days == 0
    ]


def monitored(window_end: dt.date, every_days: int) -> Cadence:
    """Every every_days-th date after the window in a backfill, and the last date of every run."""
    every = after(window_end, every_days)
    latest = after(window_end, 1)

    def due(batch: DateRange, run_dates: DateRange) -> list[dt.date]:
        last = [batch.end] if batch.end == run_dates.end and latest(batch, run_dates)[-1:] == [batch.end] else []
        return sorted({*every(batch, run_dates), *last})

    return due


def trailing(days_before: int) -> Callable[[dt.date], DateRange]:
    """The run dates a step of date D reads: D and the days_before before it."""
    return lambda day: DateRange(day - dt.timedelta(days=days_before), day)


def training_window(settings: Settings, training_set: str) -> DateRange:
    """From the first split's start to the last split's end."""
    splits = settings.training_set(training_set).splits.values()
    return DateRange(min(span.start for span in splits), max(span.end for span in splits))


def batches(run_dates: DateRange, size: int) -> Iterator[DateRange]:
    """The range cut into consecutive batches of at most ``size`` run dates."""
    start = run_dates.start
    while start <= run_dates.end:
        end = min(run_dates.end, start + dt.timedelta(days=size - 1))
        yield DateRange(start, end)
        start = end + dt.timedelta(days=1)


def contiguous(days: list[dt.date], gaps: frozenset[dt.date] = frozenset()) -> list[DateRange]:
    """Sorted dates as the fewest ranges of consecutive days, a range running on across gap days."""
    spans: list[DateRange] = []
    for day in days:
        after_last = spans[-1].end + dt.timedelta(days=1) if spans else None
        bridged = spans and all(after_last + dt.timedelta(days=i) in gaps for i in range((day - after_last).days))
        if bridged:
            spans[-1] = DateRange(spans[-1].start, day)
        else:
            spans.append(DateRange.single(day))
    return spans
