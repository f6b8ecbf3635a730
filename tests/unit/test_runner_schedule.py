"""The runner's calendar arithmetic (batches, spans of due dates across declared gaps) and its exit code."""

import datetime as dt

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK, EXIT_RETRAIN_RECOMMENDED
from featurelake.core.schedule import batches, contiguous
from featurelake.core.summary import StageSummary
from featurelake.lake.stage import CommandResult


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


def test_run_exits_3_on_a_retrain_verdict_only_when_asked_to():
    """`featurelake run` prints every verdict and exits 0; --fail-on-retrain makes a verdict that asks for action
    exit 3, as `featurelake monitor` does (tests/integration/test_monitoring.py runs it on a real verdict)."""

    def monitored(alarm: bool) -> StageSummary:
        return StageSummary("monitor", "monitoring.m", "2013-01-18", 10, 10, verdict="v", alarm=alarm)

    ingested = StageSummary("ingest", "bronze.flights", "2013-01-18", 10, 10)
    assert CommandResult.of_run([ingested, monitored(True)], fail_on_retrain=False).exit_code == EXIT_OK
    assert CommandResult.of_run([ingested, monitored(True)], fail_on_retrain=True).exit_code == EXIT_RETRAIN_RECOMMENDED
    assert CommandResult.of_run([ingested, monitored(False)], fail_on_retrain=True).exit_code == EXIT_OK
    assert CommandResult.of_run([], fail_on_retrain=True).exit_code == EXIT_OK
