"""The monitor stage as the runner and the command line see it: one step per model, on its cadence."""

from __future__ import annotations

import argparse

from featurelake.core.dates import DateRange, iso_date
from featurelake.core.errors import EXIT_OK, EXIT_RETRAIN_RECOMMENDED
from featurelake.core.schedule import monitored
from featurelake.lake.stage import CommandResult, Context, Step
from featurelake.ml.stages import MODEL_URI_HELP, model_windows, no_champion
from featurelake.monitoring.monitor import monitor


class MonitorStage:
    name = command = "monitor"
    help = "drift, realized quality and anomalies of a model on a run date -> monitoring.<model>"
    takes_run_dates = False

    def steps(self, ctx: Context) -> list[Step]:
        return [self._step(ctx, model, window) for model, window in model_windows(ctx)]

    def _step(self, ctx: Context, model: str, window: DateRange) -> Step:
        monitoring = ctx.settings.model(model).monitoring
        grain = ctx.settings.model_grain(model)
        events = ctx.settings.training_set(ctx.settings.model(model).training_set).events.table
        return Step(
            self.name,
            model,
            ctx.catalog.monitoring_table(model),
            lambda run, span: [monitor(run, model, span.end).summary],
            monitored(window.end, grain, monitoring.every),
            reads=lambda day: DateRange(monitoring.window.back(monitoring.label_lag.back(day, grain), grain), day),
            waiting=no_champion(ctx, model),
            jobs="per_date",
            # its predictions and their labels (the reference is the registered version's training set)
            reads_tables=frozenset({ctx.catalog.predictions_table(model), events}),
        )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="a model under models in conf")
        parser.add_argument("--run-date", required=True, type=iso_date, help="the run date D monitored, YYYY-MM-DD")
        parser.add_argument("--model-uri", help=MODEL_URI_HELP)

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        result = monitor(ctx, args.model, args.run_date, args.model_uri)
        return CommandResult([result.summary], EXIT_RETRAIN_RECOMMENDED if result.retrain_recommended else EXIT_OK)
