"""When steps are due: cadences (the run dates of a batch a step runs on), look-backs, batches and spans."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from featurelake.core.dates import DateRange
from featurelake.core.periods import DAILY, Grain, TimeWindow
from featurelake.core.settings import Settings

EACH = TimeWindow(1)  # every period

# (batch, the whole range of the run) -> the run dates of the batch a step is due on
Cadence = Callable[[DateRange, DateRange], list[dt.date]]


def every_period(grain: Grain = DAILY, gaps: Iterable[dt.date] = ()) -> Cadence:
    """The run date of every period that begins in the batch, but the declared gaps."""
    skipped = frozenset(gaps)
    return lambda batch, run_dates: [d for d in grain.starts(batch) if d not in skipped]


def on(*days: dt.date) -> Cadence:
    """Only the given dates the batch holds (a training set at its window's end, and when its labels have landed)."""
    return lambda batch, run_dates: sorted({day for day in days if batch.start <= day <= batch.end})


def after(window_end: dt.date, grain: Grain = DAILY, every: TimeWindow = EACH) -> Cadence:
    """The periods after a window, every ``every`` (production periods after the training window; every
    "7 periods" is each seventh, every "1 month" of a daily model the day a month after the last)."""

    def due(batch: DateRange, run_dates: DateRange) -> list[dt.date]:
        found, k = [], 1
        while True:
            day = grain.start(TimeWindow(every.count * k, every.unit).ahead(window_end, grain))
            if day > batch.end:
                return sorted(set(found))
            if day >= batch.start and day > window_end:
                found.append(day)
            k += 1

    if every.count == 0:
        raise ValueError("a cadence of 0 periods never ends")
    return due


def monitored(window_end: dt.date, grain: Grain, every: TimeWindow) -> Cadence:
    """Every ``every`` after the window in a backfill, and the last period of every run."""
    each, latest = after(window_end, grain, every), every_period(grain)

    def due(batch: DateRange, run_dates: DateRange) -> list[dt.date]:
        last = latest(batch, run_dates)[-1:] if batch.end == run_dates.end else []
        return sorted({*each(batch, run_dates), *[d for d in last if d > window_end]})

    return due


def trailing(window: TimeWindow, grain: Grain = DAILY) -> Callable[[dt.date], DateRange]:
    """The run dates a step of date D reads: D and the window before it."""
    return lambda day: DateRange(window.back(day, grain), day)


def training_window(settings: Settings, training_set: str) -> DateRange:
    """From the first split's start to the last split's end."""
    splits = settings.training_set(training_set).splits.values()
    return DateRange(min(span.start for span in splits), max(span.end for span in splits))


def labels_landed(settings: Settings, training_set: str) -> dt.date:
    """The run date on which the labels of a training set's last events have landed: its window's end, or the
    label's horizon after it (a label that looks one period ahead lands with the next period's data). The
    training set is built on its window's end with the labels landed by then, and built again on this date, so
    that the events whose label had not landed come in (and the model is trained again on them)."""
    conf = settings.training_set(training_set)
    return conf.label.horizon.ahead(training_window(settings, training_set).end, settings.grain(conf.events.table))


def batches(run_dates: DateRange, size: int) -> Iterator[DateRange]:
    """The range cut into consecutive batches of at most ``size`` run dates."""
    start = run_dates.start
    while start <= run_dates.end:
        end = min(run_dates.end, start + dt.timedelta(days=size - 1))
        yield DateRange(start, end)
        start = end + dt.timedelta(days=1)


def contiguous(days: list[dt.date], grain: Grain = DAILY, gaps: frozenset[dt.date] = frozenset()) -> list[DateRange]:
    """Sorted run dates as the fewest ranges of consecutive periods, a range running on across gap periods."""
    spans: list[DateRange] = []
    for day in days:
        following = grain.shift(spans[-1].end, 1) if spans else None
        while following is not None and following < day and following in gaps:
            following = grain.shift(following, 1)
        if following == day:
            spans[-1] = DateRange(spans[-1].start, day)
        else:
            spans.append(DateRange.single(day))
    return spans
