"""The pipeline runner: every stage in dependency order for batches of run dates, recorded in the run ledger.

For each batch (pipeline.batch_days run dates): ingest every source, refine every silver table, materialize
every feature group. When the run dates reach a training set's window end: build it and train its models.
Then score the run dates after the window with the champion, and monitor on the model's cadence.

A step is one stage for one target (a source, a table, a group, a training set, a model). It is due on the
run dates its cadence names (snapshot sources on the dates they were delivered) unless the ledger says it
finished them, reading the same inputs (an ingest: the same delivery files, by name, size and modification
time, so a corrected re-delivery is ingested again), and no step writing a table it reads has finished a date
it reads since (so everything downstream of a re-ingested date runs again, and nothing that does not read
it). Each due span runs as one job, retried only on Delta's commit conflicts; when the conflict is another
run's commit of the same step covering all its run dates, there is nothing left to do and the step is skipped.
"""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from featurelake.core.dates import DateRange
from featurelake.core.errors import CommitConflict
from featurelake.core.schedule import batches, contiguous
from featurelake.core.spark import session_thread, spark_jobs
from featurelake.core.summary import StageSummary
from featurelake.lake import ledger
from featurelake.lake.commits import SliceWrittenConcurrently, StepContext, concurrent_write_errors, step_context
from featurelake.lake.stage import Context, Step
from featurelake.ops.stages import STAGE_NAMES, STAGES
from featurelake.ops.staleness import stale_builds


@dataclass
class StepResult:
    status: str  # "committed" | "skipped" (another run wrote the same slice meanwhile)
    summaries: list[StageSummary] = field(default_factory=list)
    attempts: int = 1
    detail: str = ""
    finished_at: dt.datetime | None = None  # as recorded in the ledger


def run_pipeline(
    ctx: Context,
    run_dates: DateRange,
    stages: list[str] | None = None,
    force: bool = False,
    report=print,
    verbose: bool = False,
) -> list[StageSummary]:
    """Every due step of the chosen stages (default all) for the run dates, in the run ``ctx``; what they wrote."""
    spark, settings, run_id = ctx.spark, ctx.settings, ctx.run_id
    steps = plan(ctx)
    chosen = [s for s in steps if s.stage in (stages or STAGE_NAMES)]
    finished = ledger.finished_steps(ctx.catalog, _ledger_span(steps, run_dates))
    summaries: list[StageSummary] = []
    skipped = 0
    redelivered: set[str] = set()  # sources with a corrected delivery in this run
    parallelism = settings.project.pipeline.parallelism
    # each step's ledger row and gate results land on a writer thread while the next step runs (all before this
    # block ends; featurelake.lake.deferred)
    with ctx.catalog.deferred_appends():
        for batch in batches(run_dates, settings.project.pipeline.batch_days):
            for wave in waves(chosen, parallelism):
                work: list[Work] = []
                for step in wave:
                    upstream = [s for s in steps if s is step or all(s is not w for w in wave)]
                    found, dates_skipped, changed = _due_work(step, batch, run_dates, upstream, finished, force, report)
                    work.extend(found)
                    skipped += dates_skipped
                    if changed and step.stage == "ingest":
                        redelivered.add(step.target)

                def run_one(item: Work) -> StepResult:
                    return run_step(ctx, item.step, item.span, report, item.days, item.fingerprints, verbose)

                for item, result in at_once(spark, work, parallelism, run_one):
                    summaries.extend(result.summaries)
                    if result.status == "committed":
                        finished.update(
                            {
                                key: ledger.Finished(run_id, result.finished_at, fingerprint)
                                for key, fingerprint in item.ledger_keys()
                            }
                        )
    if skipped:
        report(f"{skipped} step-dates had finished in earlier runs and were skipped (--force recomputes them)")
    if redelivered:  # builds before a corrected delivery of their span no longer say what the lake says
        for stale in stale_builds(spark, settings, redelivered):
            report(stale.line())
    return summaries


def _due_work(
    step: Step, batch: DateRange, run_dates: DateRange, upstream: list[Step], finished: dict, force: bool, report
) -> tuple[list[Work], int, bool]:
    """The jobs of a step due in this batch (reporting changed deliveries, and why it is skipped when it is), how
    many of its dates were skipped as finished, and whether a delivery it read changed since."""
    dates = step.due(batch, run_dates)
    fingerprints = step.fingerprints(dates) if step.fingerprints is not None and dates else {}
    changed = [d for d in dates if _changed(step, d, finished, fingerprints)]
    due = [d for d in dates if force or d in changed or is_due(step, d, upstream, finished)]
    if changed and not force:
        report(
            f"{step.stage} {step.output}: {_count(changed, 'delivery', 'deliveries')} changed since "
            f"{'it was' if len(changed) == 1 else 'they were'} last run ({_listed(changed)}), running again"
        )
        for day in changed[:3]:
            recorded = finished[(step.stage, step.target, day)].fingerprint
            report(f"  {day}: {ledger.changes(recorded, fingerprints[day])}")
    if not due:
        if dates:
            report(f"{step.stage} {step.output} [{batch}]: finished earlier, skipped")
        return [], len(dates), bool(changed)
    reason = step.waiting()
    if reason:
        report(f"{step.stage} {step.output} [{_span(due)}]: {reason}, skipped")
        return [], len(dates) - len(due), bool(changed)
    work = [Work(step, s, [d for d in due if s.start <= d <= s.end], fingerprints) for s in _spans(step, due)]
    return work, len(dates) - len(due), bool(changed)


@dataclass(frozen=True)
class Work:
    """One job of a step: its span of run dates, the due dates in it and their input fingerprints."""

    step: Step
    span: DateRange
    days: list[dt.date]
    fingerprints: dict[dt.date, str]

    def ledger_keys(self) -> list[tuple[tuple[str, str, dt.date], str | None]]:
        """The ledger keys it finishes, each with its input fingerprint."""
        return [((self.step.stage, self.step.target, day), self.fingerprints.get(day)) for day in self.days]


def waves(steps: list[Step], parallelism: int) -> list[list[Step]]:
    """The steps in order, cut into waves that may run at once: consecutive steps of one stage, none reading a
    table another step of its wave writes (with parallelism 1, one step per wave)."""
    found: list[list[Step]] = []
    for step in steps:
        wave = found[-1] if found else []
        independent = not step.reads_tables & {s.output for s in wave}
        if parallelism > 1 and wave and wave[0].stage == step.stage and independent:
            wave.append(step)
        else:
            found.append([step])
    return found


def at_once(spark, work: list[Work], parallelism: int, run_one) -> list[tuple[Work, StepResult]]:
    """Each item run by ``run_one``, up to ``parallelism`` at a time on threads of this session (each with the
    command's context and Spark's local properties); their results in the items' order. When one fails, the
    items not started yet are dropped, those running finish, and the first failure (in that order) is raised."""
    if parallelism == 1 or len(work) < 2:
        return [(item, run_one(item)) for item in work]
    with ThreadPoolExecutor(max_workers=min(parallelism, len(work)), thread_name_prefix="featurelake-step") as pool:
        futures = [pool.submit(session_thread(spark, run_one), item) for item in work]
        wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.done() and not f.cancelled() and f.exception() is not None for f in futures):
            for future in futures:
                future.cancel()  # only those not started yet
    # the failed item's error comes before any cancelled one's: the items start in order
    return [(item, future.result()) for item, future in zip(work, futures, strict=True)]


def _changed(step: Step, day: dt.date, finished: dict, fingerprints: dict[dt.date, str]) -> bool:
    """The step finished this date reading other inputs than are there now (a corrected re-delivery)."""
    done = finished.get((step.stage, step.target, day))
    read = done.fingerprint if done is not None else None
    return read is not None and day in fingerprints and fingerprints[day] != read


def _count(items: list, one: str, many: str) -> str:
    return f"{len(items)} {one if len(items) == 1 else many}"


def _listed(days: list[dt.date], shown: int = 3) -> str:
    more = f" and {len(days) - shown} more" if len(days) > shown else ""
    return ", ".join(d.isoformat() for d in days[:shown]) + more


def _spans(step: Step, due: list[dt.date]) -> list[DateRange]:
    """The jobs of a step's due dates, as its ``jobs`` says (featurelake.lake.stage.Jobs)."""
    if step.jobs == "per_date":
        return [DateRange.single(d) for d in due]
    if step.jobs == "one_job":
        return [DateRange(due[0], due[-1])]
    return contiguous(due, step.grain, step.gaps)


def run_step(
    ctx: Context,
    step: Step,
    span: DateRange,
    report=print,
    days: list[dt.date] | None = None,
    fingerprints: dict[dt.date, str] | None = None,
    verbose: bool = False,
) -> StepResult:
    """Run one step over a span of run dates and record it in the ledger for its due ``days`` (default every date
    of the span), with the fingerprints of what it read; retried on commit conflicts only."""
    spark, run_id = ctx.spark, ctx.run_id
    conf = ctx.settings.project.pipeline
    wait = conf.retry_wait_seconds
    for attempt in range(1, conf.commit_attempts + 1):
        started = time.monotonic()
        try:
            with step_context(StepContext(step.key, span, run_id)), spark_jobs(spark, f"{step.key} {span}") as jobs:
                summaries = step.run(ctx, span)
        except SliceWrittenConcurrently as concurrent:
            report(f"{step.stage} {step.output} [{span}]: {concurrent}, skipped")
            return StepResult("skipped", attempts=attempt, detail=str(concurrent))
        except concurrent_write_errors() as conflict:
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
        if verbose:
            report(f"  {step.stage} {step.output} [{span}]: {len(jobs)} Spark jobs in {seconds:.1f}s")
        recorded = (step.stage, step.target, span, run_id, summaries, seconds, days, fingerprints)
        finished_at = ledger.record(ctx.catalog, *recorded)
        return StepResult("committed", summaries, attempt, finished_at=finished_at)
    raise AssertionError("unreachable: the loop returns or raises")


def is_due(step: Step, day: dt.date, steps: list[Step], finished: dict) -> bool:
    """Not finished, or a step before it (of ``steps``) writing a table it reads has finished one of the dates it
    reads since (new upstream data)."""
    done = finished.get((step.stage, step.target, day))
    if done is None:
        return True
    for earlier in steps[: steps.index(step)]:
        if earlier.output not in step.reads_tables:
            continue
        for read in step.reads(day).days():
            upstream = finished.get((earlier.stage, earlier.target, read))
            if upstream is not None and upstream.finished_at > done.finished_at:
                return True
    return False


def plan(ctx: Context) -> list[Step]:
    """Every step of the project, in dependency order: the registered stages' steps, stage by stage."""
    return [step for stage in STAGES for step in stage.steps(ctx)]


def _span(days: list[dt.date]) -> DateRange:
    return DateRange(days[0], days[-1])


def _ledger_span(steps: list[Step], run_dates: DateRange) -> DateRange:
    """The run dates whose ledger rows can decide a step of this range: the range, and what the steps due in
    it read (from their first due date on: reads only move later), so a day's run reads a few days' rows
    however long the lake's history."""
    first_due = [(s, s.due(run_dates, run_dates)[:1]) for s in steps]
    earliest = min([run_dates.start, *(s.reads(days[0]).start for s, days in first_due if days)])
    return DateRange(earliest, run_dates.end)
