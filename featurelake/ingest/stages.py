"""The ingest and refine stages as the runner and the command line see them: one step per source or table."""

from __future__ import annotations

import argparse

from featurelake.core.dates import DateRange
from featurelake.core.schedule import Cadence, every_period
from featurelake.ingest import arrivals
from featurelake.ingest.bronze import ingest
from featurelake.ingest.deliveries import delivered_snapshot_dates, fingerprints
from featurelake.ingest.refine import refine
from featurelake.lake.stage import CommandResult, Context, Step


def _delivered(ctx: Context, source: str) -> Cadence:
    """A snapshot source is due on the dates it was delivered."""
    return lambda batch, run_dates: delivered_snapshot_dates(ctx.spark, ctx.settings, source, batch)


class IngestStage:
    name = command = "ingest"
    help = "landing zone -> bronze for one source"
    takes_run_dates = True

    def steps(self, ctx: Context) -> list[Step]:
        steps = []
        for source, conf in ctx.settings.sources.items():
            snapshot = conf.cadence == "snapshot"
            gaps = frozenset() if snapshot else frozenset(conf.known_gaps)
            grain = ctx.catalog.table(conf.table).grain
            # what a period's delivery is: its folder's files, or those of its arrival window holding its rows
            inputs = arrivals.fingerprints if conf.folders == "arrival" else fingerprints
            steps.append(
                Step(
                    self.name,
                    source,
                    conf.table,
                    lambda run, span, s=source: [ingest(run, s, span)],
                    _delivered(ctx, source) if snapshot else every_period(grain, gaps),
                    gaps=gaps,
                    jobs="one_job" if snapshot else "per_stretch",
                    grain=grain,
                    fingerprints=lambda days, s=source, of=inputs: of(ctx.spark, ctx.settings, s, days),
                )
            )
        return steps

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--source", required=True, help="a source under sources in conf")

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        return CommandResult([ingest(ctx, args.source, run_dates)])


class RefineStage:
    name = command = "refine"
    help = "bronze -> silver for one table"
    takes_run_dates = True

    def steps(self, ctx: Context) -> list[Step]:
        settings = ctx.settings
        snapshot_sources = {c.table: s for s, c in settings.sources.items() if c.cadence == "snapshot"}
        steps = []
        for table in settings.refined_tables():
            bronze = settings.tables[table].refine.source
            snapshot = bronze in snapshot_sources
            gaps = frozenset() if snapshot else ctx.catalog.table(bronze).gaps
            grain = ctx.catalog.table(table).grain
            steps.append(
                Step(
                    self.name,
                    table,
                    table,
                    lambda run, span, t=table: refine(run, t, span),
                    _delivered(ctx, snapshot_sources[bronze]) if snapshot else every_period(grain, gaps),
                    gaps=gaps,
                    jobs="one_job" if snapshot else "per_stretch",
                    grain=grain,
                    reads_tables=frozenset({bronze}),
                )
            )
        return steps

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--table", required=True, help="logical name, e.g. silver.flights")

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        return CommandResult(refine(ctx, args.table, run_dates))
