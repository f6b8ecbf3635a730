"""The features and training-set stages as the runner and the command line see them."""

from __future__ import annotations

import argparse

from featurelake.core.dates import DateRange
from featurelake.core.schedule import every_period, labels_landed, on, trailing, training_window
from featurelake.featurestore.materialize import materialize
from featurelake.featurestore.training_set import build_training_set
from featurelake.lake.stage import CommandResult, Context, Step


def _absent_inputs(ctx: Context, inputs):
    def waiting() -> str | None:
        absent = [t for t in inputs if not ctx.catalog.exists(t)]
        return f"{absent[0]} has no data yet" if absent else None

    return waiting


class FeaturesStage:
    name = command = "features"
    help = "silver -> features.<group> for one feature group, or all"
    takes_run_dates = True

    def steps(self, ctx: Context) -> list[Step]:
        steps = []
        for name, group in ctx.settings.feature_groups.items():
            grain = ctx.settings.grain(ctx.settings.feature_table(name))
            steps.append(
                Step(
                    self.name,
                    name,
                    ctx.settings.feature_table(name),
                    lambda run, span, name=name: [materialize(run, name, span)],
                    every_period(grain),
                    reads=trailing(group.lookback, grain),
                    waiting=_absent_inputs(ctx, group.tables),
                    grain=grain,
                    reads_tables=frozenset(group.tables),
                )
            )
        return steps

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--group", help="a feature group of the features package; default all")

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        groups = [args.group] if args.group else list(ctx.settings.feature_groups)
        return CommandResult([materialize(ctx, g, run_dates) for g in groups])


class TrainingSetStage:
    name = "training_set"
    command = "training-set"
    help = "label events + point-in-time features -> training_sets.<name>"
    takes_run_dates = False

    def steps(self, ctx: Context) -> list[Step]:
        steps = []
        for name, training_set in ctx.settings.project.training_sets.items():
            window, landed = training_window(ctx.settings, name), labels_landed(ctx.settings, name)
            read = DateRange(window.start, landed)  # the events of its window and the label's horizon after it
            steps.append(
                Step(
                    self.name,
                    name,
                    training_set.table,
                    lambda run, span, name=name: [build_training_set(run, name)],
                    on(window.end, landed),  # one build when a batch holds both
                    reads=lambda day, read=read: read,
                    jobs="one_job",
                    reads_tables=ctx.settings.training_set_inputs(name),
                )
            )
        return steps

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", required=True, help="a training set under training_sets in conf")
        parser.add_argument("--rebuild-from-manifest", metavar="PATH", help="rebuild a recorded version exactly")

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        summary = build_training_set(ctx, args.name, args.rebuild_from_manifest)
        return CommandResult([summary])
