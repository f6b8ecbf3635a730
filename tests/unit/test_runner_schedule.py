"""The runner's calendar arithmetic: batches, spans of due dates across declared gaps."""

import datetime as dt

from featurelake.core.dates import DateRange
from featurelake.core.schedule import batches, contiguous


def day(n: int) -> dt.date:
    return dt.date(2013, 1, 1) + dt.timedelta(days=n - 1)


def test_due_dates_run_as_the_fewest_spans_and_a_span_runs_on_across_declared_gaps():
    assert contiguous([day(1), day(2), day(4)]) == [DateRange(day(1), day(2)), DateRange.single(day(4))]
    gaps = frozenset({day(3), day(5)})
    assert contiguous([day(1), day(2), day(4), day(6), day(9)], gaps=gaps) == [
        DateRange(day(1), day(6)),
        DateRange.single(day(9)),
    ]
    assert contiguous([]) == []


def test_a_range_is_cut_into_batches_of_the_configured_size():
    assert list(batches(DateRange(day(1), day(7)), 3)) == [
        DateRange(day(1), day(3)),
        DateRange(day(4), day(6)),
        DateRange.single(day(7)),
    ]
    assert list(batches(DateRange(day(1), day(7)), 3660)) == [DateRange(day(1), day(7))]


def test_a_snapshot_history_runs_as_one_job_and_is_recorded_per_delivery(settings):
    """The ingest and refine steps of a snapshot source are one job over all its deliveries in a batch."""
    from featurelake.ops.runner import _spans, plan

    steps = {s.key: s for s in plan(None, settings)}
    planes, flights = steps["refine:silver.planes"], steps["refine:silver.flights"]
    assert steps["ingest:planes"].one_job and planes.one_job and not flights.one_job
    deliveries = [day(1), day(32), day(60)]
    assert _spans(planes, deliveries) == [DateRange(day(1), day(60))]
    assert _spans(flights, [day(1), day(2), day(4)]) == [DateRange(day(1), day(2)), DateRange.single(day(4))]
