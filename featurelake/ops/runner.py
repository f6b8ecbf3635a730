"""The pipeline runner: every stage in dependency order for batches of run dates, recorded in the run ledger.

For each batch (pipeline.batch_days run dates): ingest every source, refine every silver table, materialize
every feature group. When the run dates reach a training set's window end: build it and train its models.
Then score the run dates after the window with the champion, and monitor on the model's cadence.

A step is one stage for one target (a source, a table, a group, a training set, a model). It is due on the
run dates its cadence names (snapshot sources on the dates they were delivered) unless the ledger says it
finished them and no step before it has finished a date it reads since. Each due span runs as one job,
retried only on Delta's commit conflicts; when the conflict is another run's commit of the same step and
run dates, there is nothing left to do and the step is skipped.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from featurelake.core.dates import DateRange
from featurelake.core.errors import CommitConflict
from featurelake.core.schema.project import STAGES
from featurelake.core.settings import Settings
from featurelake.core.summary import StageSummary
from featurelake.featurestore.groups import load_group, materialize
from featurelake.featurestore.training_set import build_training_set
from featurelake.ingest.bronze import delivered_snapshot_dates, ingest
from featurelake.ingest.refine import refine
from featurelake.lake import delta, ledger
from featurelake.lake.delta import StepContext, table_exists
from featurelake.ml import tracking
from featurelake.ml.predictions import predictions_table
from featurelake.ml.scoring import score
from featurelake.ml.training import train_model
from featurelake.monitoring.monitor import monitor, monitoring_table

# (batch, the whole range of the run) -> the run dates of the batch a step is due on
Cadence = Callable[[DateRange, DateRange], list[dt.date]]


@dataclass(frozen=True)
class Step:
    stage: str
    target: str
    output: str  # the table (or registered model) it writes, for progress lines
    run: Callable[[DateRange, str], list[StageSummary]]  # (run dates, run id) -> what it wrote
    due: Cadence
    reads: Callable[[dt.date], DateRange] = DateRange.single  # the run dates whose upstream results it reads
    waiting: Callable[[], str | None] = lambda: None  # why it cannot run yet (not a failure; retried next run)
    one_date_at_a_time: bool = False
    # Dates declared to have no delivery: never due, but one job runs across them rather than one per stretch.
    gaps: frozenset[dt.date] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.stage}:{self.target}"


@dataclass
class StepResult:
    status: str  # "committed" | "skipped" (another run wrote the same slice meanwhile)
    summaries: list[StageSummary] = field(default_factory=list)
    attempts: int = 1
    detail: str = ""
    finished_at: dt.datetime | None = None  # as recorded in the ledger


def run_pipeline(
    spark: SparkSession,
    settings: Settings,
    run_dates: DateRange,
    run_id: str,
    stages: list[str] | None = None,
    force: bool = False,
    report=print,
) -> list[StageSummary]:
    steps = plan(spark, settings)
    chosen = [s for s in steps if s.stage in (stages or STAGES)]
    finished = ledger.finished_steps(spark, settings, _ledger_span(steps, run_dates))
    summaries: list[StageSummary] = []
    skipped = 0
    for batch in batches(run_dates, settings.project.pipeline.batch_days):
        for step in chosen:
            dates = step.due(batch, run_dates)
            due = [d for d in dates if force or is_due(step, d, steps, finished)]
            skipped += len(dates) - len(due)
            if not due:
                if dates:
                    report(f"{step.stage} {step.output} [{batch}]: finished earlier, skipped")
                continue
            reason = step.waiting()
            if reason:
                report(f"{step.stage} {step.output} [{_span(due)}]: {reason}, skipped")
                continue
            spans = [DateRange.single(d) for d in due] if step.one_date_at_a_time else contiguous(due, step.gaps)
            for span in spans:
                result = run_step(spark, settings, step, span, run_id, report)
                summaries.extend(result.summaries)
                if result.status == "committed":
                    recorded = ledger.Finished(run_id, result.finished_at)
                    finished.update({(step.stage, step.target, day): recorded for day in span.days()})
    if skipped:
        report(f"{skipped} step-dates had finished in earlier runs and were skipped (--force recomputes them)")
    return summaries


def run_step(
    spark: SparkSession, settings: Settings, step: Step, span: DateRange, run_id: str, report=print
) -> StepResult:
    """Run one step over a span of run dates and record it in the ledger; retried on commit conflicts only."""
    conf = settings.project.pipeline
    wait = conf.retry_wait_seconds
    for attempt in range(1, conf.commit_attempts + 1):
        started = time.monotonic()
        try:
            with delta.step_context(StepContext(step.key, span, run_id)):
                summaries = step.run(span, run_id)
        except delta.SliceWrittenConcurrently as concurrent:
            report(f"{step.stage} {step.output} [{span}]: {concurrent}, skipped")
            return StepResult("skipped", attempts=attempt, detail=str(concurrent))
        except delta.concurrent_write_errors() as conflict:
            first_line = (str(conflict).strip().splitlines() or [type(conflict).__name__])[0]
            if attempt == conf.commit_attempts:
                raise CommitConflict(
                    f"{step.stage} {step.output} [{span}] conflicted with concurrent writers {attempt} times "
                    f"(last: {first_line[:300]}); nothing of it is recorded as finished, run it again once the "
                    "other writers are done, or raise pipeline.commit_attempts."
                ) from None
            report(
                f"{step.stage} {step.output} [{span}]: commit conflict ({type(conflict).__name__}), "
                f"attempt {attempt + 1} of {conf.commit_attempts} in {wait:.0f}s"
            )
            time.sleep(wait)
            wait *= 2
            continue
        for summary in summaries:
            report(summary.line())
        seconds = time.monotonic() - started
        finished_at = ledger.record(spark, settings, step.stage, step.target, span, run_id, summaries, seconds)
        return StepResult("committed", summaries, attempt, finished_at=finished_at)
    raise AssertionError("unreachable: the loop returns or raises")


def is_due(step: Step, day: dt.date, steps: list[Step], finished: dict) -> bool:
    """Not finished, or a step before it has finished one of the dates it reads since (new upstream data)."""
    done = finished.get((step.stage, step.target, day))
    if done is None:
        return True
    for earlier in steps[: steps.index(step)]:
        for read in step.reads(day).days():
            upstream = finished.get((earlier.stage, earlier.target, read))
            if upstream is not None and upstream.finished_at > done.finished_at:
                return True
    return False


def plan(spark: SparkSession, settings: Settings) -> list[Step]:
    """Every step of the project, in dependency order."""
    steps: list[Step] = []
    snapshot_tables: dict[str, str] = {}
    for source, conf in settings.sources.items():
        gaps = frozenset() if conf.cadence == "snapshot" else frozenset(conf.known_gaps)
        if conf.cadence == "snapshot":
            snapshot_tables[conf.table] = source
            due = _delivered(spark, settings, source)
        else:
            due = _days_except(gaps)
        steps.append(
            Step(
                "ingest",
                source,
                conf.table,
                lambda span, run_id, s=source: [ingest(spark, settings, s, span, run_id)],
                due,
                gaps=gaps,
            )
        )
    for table in settings.refined_tables():
        bronze = settings.tables[table].refine.source
        gaps = frozenset() if bronze in snapshot_tables else frozenset(settings.known_gaps(bronze))
        due = _delivered(spark, settings, snapshot_tables[bronze]) if bronze in snapshot_tables else _days_except(gaps)
        steps.append(
            Step(
                "refine",
                table,
                table,
                lambda span, run_id, t=table: refine(spark, settings, t, span, run_id),
                due,
                gaps=gaps,
            )
        )
    for name in settings.project.features.groups:
        group = load_group(settings, name)
        steps.append(
            Step(
                "features",
                name,
                settings.feature_table(name),
                lambda span, run_id, name=name: [materialize(spark, settings, name, span, run_id)],
                _days_except(()),
                reads=_trailing(group.lookback_days),
                waiting=_absent_inputs(spark, settings, group.inputs),
            )
        )
    for name, training_set in settings.project.training_sets.items():
        window = training_window(settings, name)
        steps.append(
            Step(
                "training_set",
                name,
                training_set.table,
                lambda span, run_id, name=name: [build_training_set(spark, settings, name, run_id)],
                _on(window.end),
                reads=lambda day, window=window: window,
            )
        )
    for model, conf in settings.project.models.items():
        window = training_window(settings, conf.training_set)
        steps.append(
            Step(
                "train",
                model,
                f"models:/{model}",
                lambda span, run_id, model=model: [train_model(spark, settings, model, run_id)],
                _on(window.end),
            )
        )
    for model, conf in settings.project.models.items():
        window = training_window(settings, conf.training_set)
        no_champion = _no_champion(settings, model)
        steps.append(
            Step(
                "score",
                model,
                predictions_table(model),
                lambda span, run_id, model=model: [score(spark, settings, model, span, run_id)],
                _after(window.end, every_days=1),
                waiting=no_champion,
            )
        )
        monitoring = conf.monitoring
        steps.append(
            Step(
                "monitor",
                model,
                monitoring_table(model),
                lambda span, run_id, model=model: [monitor(spark, settings, model, span.end, run_id).summary],
                _monitored(window.end, monitoring.every_days),
                reads=_trailing(monitoring.window_days + monitoring.label_lag_days - 1),
                waiting=no_champion,
                one_date_at_a_time=True,
            )
        )
    return steps


def training_window(settings: Settings, training_set: str) -> DateRange:
    splits = settings.training_set(training_set).splits.values()
    return DateRange(min(span.start for span in splits), max(span.end for span in splits))


def batches(run_dates: DateRange, size: int) -> Iterator[DateRange]:
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


def _span(days: list[dt.date]) -> DateRange:
    return DateRange(days[0], days[-1])


def _ledger_span(steps: list[Step], run_dates: DateRange) -> DateRange:
    """The run dates whose ledger rows can decide a step of this range: the range, and what the steps due in
    it read (from their first due date on: reads only move later), so a day's run reads a few days' rows
    however long the lake's history."""
    first_due = [(s, s.due(run_dates, run_dates)[:1]) for s in steps]
    earliest = min([run_dates.start, *(s.reads(days[0]).start for s, days in first_due if days)])
    return DateRange(earliest, run_dates.end)


def _days_except(gaps) -> Cadence:
    return lambda batch, run_dates: [d for d in batch.days() if d not in gaps]


def _on(day: dt.date) -> Cadence:
    return lambda batch, run_dates: [day] if batch.start <= day <= batch.end else []


def _after(window_end: dt.date, every_days: int) -> Cadence:
    return lambda batch, run_dates: [
        d for d in batch.days() if d > window_end and (d - window_end).days % every_days == 0
    ]


def _monitored(window_end: dt.date, every_days: int) -> Cadence:
    """Every every_days-th date after the window in a backfill, and the last date of every run."""
    every = _after(window_end, every_days)
    latest = _after(window_end, 1)

    def due(batch: DateRange, run_dates: DateRange) -> list[dt.date]:
        last = [batch.end] if batch.end == run_dates.end and latest(batch, run_dates)[-1:] == [batch.end] else []
        return sorted({*every(batch, run_dates), *last})

    return due


def _trailing(days_before: int) -> Callable[[dt.date], DateRange]:
    return lambda day: DateRange(day - dt.timedelta(days=days_before), day)


def _delivered(spark: SparkSession, settings: Settings, source: str) -> Cadence:
    return lambda batch, run_dates: delivered_snapshot_dates(spark, settings, source, batch)


def _absent_inputs(spark: SparkSession, settings: Settings, inputs) -> Callable[[], str | None]:
    def waiting() -> str | None:
        absent = [t for t in inputs if not table_exists(spark, settings.table_path(t))]
        return f"{absent[0]} has no data yet" if absent else None

    return waiting


def _no_champion(settings: Settings, model: str) -> Callable[[], str | None]:
    def waiting() -> str | None:
        return None if tracking.champion_version(settings, model) is not None else f"{model} has no champion yet"

    return waiting
