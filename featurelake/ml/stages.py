"""The train and score stages as the runner and the command line see them: one step per model."""

from __future__ import annotations

import argparse

from featurelake.core.dates import DateRange
from featurelake.core.schedule import after, labels_landed, on, training_window
from featurelake.lake.stage import CommandResult, Context, Step
from featurelake.ml import tracking
from featurelake.ml.scoring import score
from featurelake.ml.training import train_model

MODEL_URI_HELP = "models:/<model>/<version> or models:/<model>@<alias>; default the champion"


def model_windows(ctx: Context) -> list[tuple[str, DateRange]]:
    """Every model of the conf with the window of the training set it is trained on."""
    return [(m, training_window(ctx.settings, c.training_set)) for m, c in ctx.settings.project.models.items()]


def no_champion(ctx: Context, model: str):
    """Why a model's scoring or monitoring has to wait: no version is the champion yet."""

    def waiting() -> str | None:
        return None if tracking.champion_version(ctx.settings, model) is not None else f"{model} has no champion yet"

    return waiting


class TrainStage:
    name = command = "train"
    help = "training set -> a tuned, evaluated MLlib model, logged and registered in MLflow"
    takes_run_dates = False

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step(
                self.name,
                model,
                f"models:/{model}",
                lambda run, span, model=model: [train_model(run, model)],
                on(window.end, labels_landed(ctx.settings, ctx.settings.model(model).training_set)),
                jobs="one_job",  # once when a batch holds both: trained on the build that has the landed labels
                reads_tables=frozenset({ctx.settings.training_set(ctx.settings.model(model).training_set).table}),
            )
            for model, window in model_windows(ctx)
        ]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="a model under models in conf")
        parser.add_argument(
            "--training-set-version", type=int, help="a Delta version of the training set; default latest"
        )

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        return CommandResult([train_model(ctx, args.model, args.training_set_version)])


class ScoreStage:
    name = command = "score"
    help = "events of run dates -> predictions.<model>, by a model from the registry"
    takes_run_dates = True

    def steps(self, ctx: Context) -> list[Step]:
        return [
            Step(
                self.name,
                model,
                ctx.catalog.predictions_table(model),
                lambda run, span, model=model: [score(run, model, span)],
                after(window.end, ctx.settings.model_grain(model)),
                waiting=no_champion(ctx, model),
                grain=ctx.settings.model_grain(model),
                reads_tables=ctx.settings.training_set_inputs(ctx.settings.model(model).training_set),
            )
            for model, window in model_windows(ctx)
        ]

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="a model under models in conf")
        parser.add_argument("--model-uri", help=MODEL_URI_HELP)

    def run_command(self, ctx: Context, args: argparse.Namespace, run_dates: DateRange | None) -> CommandResult:
        return CommandResult([score(ctx, args.model, run_dates, args.model_uri)])
