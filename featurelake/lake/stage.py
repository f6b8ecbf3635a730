"""Stages as a protocol: what the runner plans and the command line dispatches to, run against the catalog.

A stage (ingest, refine, features, training_set, train, score, monitor) declares its steps — one per target:
a source, a table, a feature group, a training set, a model — with the output each writes, the run dates it
is due on, the run dates whose upstream results it reads, and why it would have to wait; and it runs one
step for a span of run dates against a context. It also declares its own command (``featurelake ingest
--source flights --run-date D``). The runner (featurelake.ops.runner) is a loop over the registered stages'
steps; the command line (featurelake.ops.cli) looks the command up. Neither knows any stage by name.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK, EXIT_RETRAIN_RECOMMENDED
from featurelake.core.periods import DAILY, Grain
from featurelake.core.schedule import Cadence
from featurelake.core.settings import Settings
from featurelake.core.summary import StageSummary
from featurelake.lake.catalog import Catalog

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Context:
    """One run, as every stage function takes it (``ingest(ctx, source, run_dates)``): the session, the settings,
    the one catalog of tables their steps read and write through, and the run id every row they write carries.
    Built once per command by the command line, the runner and the test kit alike (``Context.of``)."""

    spark: SparkSession
    settings: Settings
    catalog: Catalog
    run_id: str
    # What the run's steps read once and reuse, by name (the quality history anomaly checks compare against):
    # a field of the run, so the next run, in this process or another, starts without it and reads anew.
    caches: dict[str, dict] = field(default_factory=dict, compare=False, repr=False)

    def cache(self, name: str) -> dict:
        """This run's cache called ``name`` (empty at first)."""
        return self.caches.setdefault(name, {})

    @classmethod
    def of(cls, spark: SparkSession, settings: Settings, run_id: str) -> Context:
        """The context of a run of these settings on this session."""
        return cls(spark, settings, Catalog(spark, settings), run_id)


# How a step's due dates of a batch are cut into jobs: one job per stretch of consecutive periods (running on
# across declared gaps), one job per date (a monitoring check is of one date), or one job for all of them (a
# snapshot history: one MERGE, whatever the deliveries; its cost grows with rows, not deliveries).
Jobs = Literal["per_stretch", "per_date", "one_job"]


@dataclass(frozen=True)
class Step:
    """One stage for one target, as the runner schedules it."""

    stage: str
    target: str
    output: str  # the table (or registered model) it writes, for progress lines
    run: Callable[[Context, DateRange], list[StageSummary]]  # (the run, its run dates) -> what it wrote
    due: Cadence
    reads: Callable[[dt.date], DateRange] = DateRange.single  # the run dates whose upstream results it reads
    waiting: Callable[[], str | None] = lambda: None  # why it cannot run yet (not a failure; retried next run)
    jobs: Jobs = "per_stretch"  # how its due dates of a batch are cut into jobs (see ``Jobs``)
    # Dates declared to have no delivery: never due, but one job runs across them rather than one per stretch.
    gaps: frozenset[dt.date] = frozenset()
    grain: Grain = DAILY  # the periods of its run dates: consecutive periods run as one job
    # What the step would read on each date, as a fingerprint (an ingest: its delivery's files); a date whose
    # fingerprint differs from the one the ledger recorded is due again.
    fingerprints: Callable[[list[dt.date]], dict[dt.date, str]] | None = None
    # The tables it reads (an ingest: none, only its deliveries): a date is due again when a step writing one of
    # them has finished a date it reads since, and only then (a corrected delivery of one source re-runs what
    # reads that source, not its neighbours); a step of the same stage whose output is one of them finishes
    # first (the others of a stage may run at once, pipeline.parallelism).
    reads_tables: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.stage}:{self.target}"


@dataclass
class CommandResult:
    summaries: list[StageSummary] = field(default_factory=list)
    exit_code: int = EXIT_OK

    @classmethod
    def of_run(cls, summaries: list[StageSummary], fail_on_retrain: bool) -> CommandResult:
        """`featurelake run`'s result: it prints every verdict and exits 0, or 3 (``EXIT_RETRAIN_RECOMMENDED``)
        with ``--fail-on-retrain`` when a step's verdict asks for action."""
        alarmed = fail_on_retrain and any(summary.alarm for summary in summaries)
        return cls(summaries, EXIT_RETRAIN_RECOMMENDED if alarmed else EXIT_OK)


class Stage(Protocol):
    """A stage of the pipeline: its steps for the runner and its command for the command line."""

    name: str  # as `featurelake run --stages` names it
    command: str  # the command line's name for it
    help: str

    def steps(self, ctx: Context) -> list[Step]:
        """Every step of the project's conf, in dependency order within the stage."""
        ...

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """The command's own arguments (the common ones, --env, --conf-dir, --run-id, are there already)."""
        ...

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        """Run the command for what the arguments name."""
        ...
