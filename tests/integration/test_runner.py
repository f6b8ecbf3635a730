"""The pipeline runner and its run ledger on real days: skip what finished, resume, --force, stale steps,
and concurrent runs in threads of one SparkSession (the way Delta's own tests race transactions)."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from delta.exceptions import ConcurrentAppendException
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import CommitConflict, InputError
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context, Step
from featurelake.ops.runner import plan, run_pipeline, run_step
from featurelake.testing import frame_of
from tests.conftest import UNGATED, deliver_real

pytestmark = pytest.mark.integration

DAYS = [dt.date(2013, 2, 1) + dt.timedelta(days=i) for i in range(5)]


@pytest.fixture
def settings(make_settings):
    return make_settings({**UNGATED, "pipeline": {"retry_wait_seconds": 0}})


def deliver_days(settings, demo_landing, days):
    for source in ("flights", "weather"):
        deliver_real(settings, demo_landing, source, *(str(d) for d in days))


def landing_rows(spark, settings, source, day) -> int:
    return spark.read.option("header", True).csv(f"{settings.landing_path(source)}/{day}").count()


def slice_run_ids(spark, settings, table) -> dict[dt.date, set[str]]:
    rows = Catalog(spark, settings).read(table).groupBy(RUN_DATE).agg(F.collect_set(RUN_ID).alias("ids")).collect()
    return {row[RUN_DATE]: set(row["ids"]) for row in rows}


def assert_ledger_agrees(spark, settings):
    """Every slice a finished step wrote holds the rows of the run that the ledger last records for it."""
    ledger = Catalog(spark, settings).read("ops.run_ledger")
    latest = ledger.groupBy("stage", "target", "run_date").agg(
        F.max_by("run_id", "finished_at").alias("run_id"), F.max_by("outputs", "finished_at").alias("outputs")
    )
    sliced = {name for name, table in settings.tables.items() if table.partition_by == [RUN_DATE]}
    run_ids: dict[str, dict] = {}
    checked = 0
    for row in latest.collect():
        for table in set(row["outputs"]) & sliced:  # run-date slices (not MERGEd snapshots, models, versions)
            if table not in run_ids:
                has_run_id = RUN_ID in Catalog(spark, settings).read(table).columns
                run_ids[table] = slice_run_ids(spark, settings, table) if has_run_id else None
            # a date may have no rows (a snapshot's features exist on its delivery date only); a slice that
            # exists holds the rows of the run the ledger names, and no other's
            written = run_ids[table].get(row["run_date"]) if run_ids[table] is not None else None
            if written is not None:
                assert written == {row["run_id"]}, (table, row)
                checked += 1
    return checked


def test_a_rerun_skips_finished_steps_resumes_new_dates_and_force_recomputes(spark, settings, demo_landing):
    deliver_days(settings, demo_landing, DAYS[:3])
    stages = ["ingest", "refine"]
    lines: list[str] = []
    first = run_pipeline(Context.of(spark, settings, "run-1"), DateRange(DAYS[0], DAYS[1]), stages, report=lines.append)
    assert [(s.stage, s.table, s.run_dates) for s in first] == [
        ("ingest", "bronze.flights", "2013-02-01..2013-02-02"),
        ("ingest", "bronze.weather", "2013-02-01..2013-02-02"),
        ("refine", "silver.flights", "2013-02-01..2013-02-02"),
        ("refine", "silver.weather", "2013-02-01..2013-02-02"),
    ]
    # a progress line per step as it finishes (the sources are ingested side by side: either may finish first)
    assert sorted(line.split(": read ")[0] for line in lines[:2]) == [
        "ingest bronze.flights [2013-02-01..2013-02-02]",
        "ingest bronze.weather [2013-02-01..2013-02-02]",
    ]
    assert assert_ledger_agrees(spark, settings) == 8

    # Re-ingest one day by force: its refine is stale now (a step before it finished that date since).
    forced = run_pipeline(
        Context.of(spark, settings, "run-2"), DateRange.single(DAYS[1]), ["ingest"], force=True, report=print
    )
    assert [(s.table, s.run_dates) for s in forced] == [
        ("bronze.flights", "2013-02-02"),
        ("bronze.weather", "2013-02-02"),
    ]
    lines.clear()
    third = run_pipeline(Context.of(spark, settings, "run-3"), DateRange(DAYS[0], DAYS[2]), stages, report=lines.append)
    assert [(s.stage, s.table, s.run_dates) for s in third] == [
        ("ingest", "bronze.flights", "2013-02-03"),  # only the new date
        ("ingest", "bronze.weather", "2013-02-03"),
        ("refine", "silver.flights", "2013-02-02..2013-02-03"),  # the stale date and the new one, one commit
        ("refine", "silver.weather", "2013-02-02..2013-02-03"),
    ]
    assert "ingest bronze.flights [2013-02-01..2013-02-03]: finished earlier, skipped" not in lines  # 3 was due
    assert lines[-1].startswith("6 step-dates had finished in earlier runs and were skipped")
    expected = {
        "bronze.flights": {DAYS[0]: {"run-1"}, DAYS[1]: {"run-2"}, DAYS[2]: {"run-3"}},
        "silver.flights": {DAYS[0]: {"run-1"}, DAYS[1]: {"run-3"}, DAYS[2]: {"run-3"}},
    }
    for table, run_ids in expected.items():
        assert slice_run_ids(spark, settings, table) == run_ids, table
        assert slice_run_ids(spark, settings, table.replace("flights", "weather")) == run_ids, table
    for day in DAYS[:3]:
        delivered = landing_rows(spark, settings, "flights", day)
        assert Catalog(spark, settings).read("bronze.flights", DateRange.single(day)).count() == delivered
    assert assert_ledger_agrees(spark, settings) == 12


def ingest_step(spark, settings, source="flights") -> Step:
    return next(s for s in plan(Context.of(spark, settings, "")) if s.key == f"ingest:{source}")


def race(spark, settings, step, spans_and_run_ids, lines):
    """Run the step in two threads released at the same moment."""
    start = threading.Barrier(len(spans_and_run_ids))

    def run(span_and_run_id):
        span, run_id = span_and_run_id
        start.wait()
        return run_step(Context.of(spark, settings, run_id), step, span, lines.append)

    with ThreadPoolExecutor(len(spans_and_run_ids)) as pool:
        return list(pool.map(run, spans_and_run_ids))


def test_two_runs_of_one_step_and_date_at_once_commit_it_once(spark, settings, demo_landing):
    deliver_days(settings, demo_landing, DAYS)
    step = ingest_step(spark, settings)
    run_step(Context.of(spark, settings, "setup"), step, DateRange.single(DAYS[0]), print)  # the table exists
    lines: list[str] = []
    raced = {}
    for day in DAYS[1:]:  # the threads' commits overlap nearly always; a pair that did not is tried again
        results = race(
            spark, settings, step, [(DateRange.single(day), "run-a"), (DateRange.single(day), "run-b")], lines
        )
        raced[day] = sorted(r.status for r in results)
        ids = slice_run_ids(spark, settings, "bronze.flights")[day]
        assert len(ids) == 1, "one run's rows, never both"
        assert Catalog(spark, settings).read("bronze.flights", DateRange.single(day)).count() == landing_rows(
            spark, settings, "flights", day
        )
        if raced[day] == ["committed", "skipped"]:
            [skipped] = [r for r in results if r.status == "skipped"]
            assert skipped.detail.startswith(f"run {ids.pop()} wrote ")
            assert skipped.summaries == []
            break
    assert ["committed", "skipped"] in raced.values(), raced
    assert any("for the same step and run dates meanwhile, skipped" in line for line in lines)
    assert assert_ledger_agrees(spark, settings) == len(raced) + 1


def test_runs_of_different_dates_of_one_table_commit_concurrently(spark, settings, demo_landing):
    """Two run dates at once, first on a table neither has created yet (monitoring checks of a batch do that), then on
    the table they made: no conflict and no retry either time."""
    deliver_days(settings, demo_landing, DAYS[:4])
    step = ingest_step(spark, settings)
    for pair in (DAYS[:2], DAYS[2:4]):
        results = race(spark, settings, step, [(DateRange.single(day), f"run-{day}") for day in pair], [])
        assert [(r.status, r.attempts) for r in results] == [("committed", 1)] * 2, "no conflict, no retry"
    assert slice_run_ids(spark, settings, "bronze.flights") == {day: {f"run-{day}"} for day in DAYS[:4]}
    for day in DAYS[:4]:
        assert Catalog(spark, settings).read("bronze.flights", DateRange.single(day)).count() == landing_rows(
            spark, settings, "flights", day
        )


def test_only_delta_commit_conflicts_are_retried_and_only_so_often(spark, settings):
    calls: list[str] = []

    def conflicting(run, span):
        calls.append(run.run_id)
        raise ConcurrentAppendException("Files were added to partition [_run_date=2013-02-01] by a concurrent update.")

    def bad_input(run, span):
        calls.append(run.run_id)
        raise InputError("No flights delivery for 2013-02-01.")

    span, lines = DateRange.single(DAYS[0]), []
    step = Step("ingest", "flights", "bronze.flights", conflicting, lambda batch, run_dates: [])
    with pytest.raises(CommitConflict, match=r"conflicted with concurrent writers 3 times \(last: Files were added"):
        run_step(Context.of(spark, settings, "run-1"), step, span, lines.append)
    assert calls == ["run-1"] * 3
    assert lines == [
        "ingest bronze.flights [2013-02-01]: commit conflict (ConcurrentAppendException), attempt 2 of 3 in 0s",
        "ingest bronze.flights [2013-02-01]: commit conflict (ConcurrentAppendException), attempt 3 of 3 in 0s",
    ]
    calls.clear()
    with pytest.raises(InputError):
        run_step(
            Context.of(spark, settings, "run-2"),
            Step("ingest", "flights", "bronze.flights", bad_input, lambda b, r: []),
            span,
        )
    assert calls == ["run-2"], "other failures are not retried"


def test_a_step_that_writes_an_empty_slice_over_nothing_reports_no_commit(spark, settings):
    """Delta makes no commit for an overwrite that adds and removes no file (a known-gap day of a group)."""
    from pyspark.sql import types as T

    from featurelake.lake.commits import StepContext, step_context

    schema = T.StructType([T.StructField("x", T.IntegerType()), T.StructField(RUN_DATE, T.DateType())])
    first = frame_of(spark, [(1, DAYS[0])], schema)
    name = "features.calendar"
    with step_context(StepContext("features:calendar", DateRange.single(DAYS[0]), "run-1")):
        created = Catalog(spark, settings).replace_slice(first, name, DateRange.single(DAYS[0]))
    with step_context(StepContext("features:calendar", DateRange.single(DAYS[1]), "run-2")):
        empty = Catalog(spark, settings).replace_slice(frame_of(spark, [], schema), name, DateRange.single(DAYS[1]))
    assert (created.version, created.metrics["numOutputRows"]) == (0, 1)
    assert (empty.version, empty.metrics) == (0, {})
    assert [tuple(r) for r in Catalog(spark, settings).read(name).collect()] == [(1, DAYS[0])]
