"""Monitoring a registered model on a run date D: is what it scores still like what it learned from, and is
it still right where the answers are known?

- **Drift**: the population stability index (PSI) of every model input and of the predicted probability,
  between the reference split of the training-set version the model was trained on and the predictions of
  the last ``window`` run dates (the inputs are stored with each prediction, exactly as the model saw
  them). Numeric inputs are cut at the reference's quantiles, categorical ones by the reference's most
  frequent values; nulls, and values the reference never had, get bins of their own.
- **Realized quality**: AUC, log loss, Brier score and calibration of the predictions whose labels have
  landed (``label_lag`` after their run date), labelled by the training set's own label definition;
  the daily AUC over ``history``.
- **Data anomalies** that the quality gates recorded in ``quality.results`` for the tables the model reads.

Everything lands in ``monitoring.<model>`` (one slice per run date) and in an HTML drift report next to the
model card. Retraining is recommended, with the reason, when a threshold of ``models.<name>.monitoring`` is
crossed. Only bounded aggregates (bins, days, anomalies) reach the driver.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.core.periods import Grain, TimeWindow
from featurelake.core.settings import Settings
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.featurestore.plan import SPLIT, Manifest, TrainingSetPlan, with_label
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.ml import model_card, tracking
from featurelake.ml.predictions import (
    INPUTS,
    PROBABILITY,
    model_inputs,
    predictions_table,
    scoring_plan,
    training_manifest,
)
from featurelake.monitoring.drift import Drift, drifts, reference_binnings, score_histogram
from featurelake.monitoring.realized import daily_auc, realized_quality, recent_anomalies
from featurelake.monitoring.report import render, render_text
from featurelake.monitoring.result import MONITORING_SCHEMA, Monitoring, monitoring_rows


def monitoring_table(model: str) -> str:
    return f"monitoring.{model}"


# ---------------------------------------------------------------------------------------------- the stage


@dataclass
class MonitorResult:
    summary: StageSummary
    monitoring: Monitoring
    report_path: str

    @property
    def retrain_recommended(self) -> bool:
        return self.monitoring.retrain_recommended


def reference_scores(spark, settings: Settings, registered, manifest: Manifest, schema, split: str) -> DataFrame:
    """The model's inputs on a split of the training-set version it was trained on, with its probability."""
    rows = Catalog(spark, settings).read_version(manifest.table, registered.training_set_version)
    return (
        tracking.load_spark_model(registered)
        .transform(rows.where(F.col(SPLIT) == F.lit(split)).transform(model_inputs(schema)))
        .select(*[c for c, _ in schema], vector_to_array("probability").getItem(1).alias(PROBABILITY))
    )


def labelled_predictions(
    spark, settings: Settings, plan: TrainingSetPlan, predictions: DataFrame, days: DateRange
) -> DataFrame:
    """The predictions of these days with the label the training set's definition gives each event now
    (null: excluded by the definition, or not landed yet)."""
    keys = plan.events.keys
    events = with_label(settings, plan, Catalog(spark, settings).read(plan.events.table), days)
    labels = events.select(*keys, plan.label.name)
    return (
        predictions.where(run_date_condition(days))
        .select(*keys, PROBABILITY, RUN_DATE)
        .join(labels, on=keys, how="left")
    )


def _landed(day: dt.date, lag: TimeWindow, length: TimeWindow, grain: Grain) -> DateRange:
    """The ``length`` of run dates whose labels have landed by ``day``: up to ``lag`` before it."""
    return length.last(lag.back(day, grain), grain)


def monitor(
    spark: SparkSession, settings: Settings, model: str, run_date: dt.date, run_id: str, model_uri: str | None = None
) -> MonitorResult:
    """Judge a registered model on a run date: drift, realized quality, anomalies; store and report the verdict."""
    catalog = Catalog(spark, settings)
    table = monitoring_table(model)
    settings.table(table)  # declared in conf, like every table
    conf = settings.model(model).monitoring
    registered = tracking.resolve(settings, model, model_uri)
    manifest = training_manifest(spark, settings, registered)
    plan = scoring_plan(spark, settings, manifest.plan)
    grain = settings.model_grain(model)
    drift_days = conf.window.last(run_date, grain)
    predictions = catalog.read(predictions_table(model)).where(F.col("model_version") == F.lit(registered.version))
    with accounted("monitor", table, run_date) as summary:
        drift = _drift(spark, settings, registered, manifest, predictions, drift_days, conf)
        labelled_days = _landed(run_date, conf.label_lag, conf.window, grain)
        history_days = _landed(run_date, conf.label_lag, conf.history, grain)
        with persisted(labelled_predictions(spark, settings, plan, predictions, history_days)) as labelled:
            realized = realized_quality(
                labelled, manifest.label, registered.threshold, labelled_days, conf.min_labelled_rows
            )
            daily = daily_auc(labelled, manifest.label)
        read_tables = [plan.events.table, *[g.table for g in plan.feature_groups]]
        result = Monitoring(
            model=model,
            version=registered.version,
            run_date=run_date,
            drift_days=drift_days,
            reference_split=conf.reference_split,
            reference_rows=drift.reference_rows,
            current_rows=drift.current_rows,
            features=drift.features,
            prediction=drift.prediction,
            realized=realized,
            daily=daily,
            test_metrics=tracking.version_metrics(registered.name, registered.version),
            anomalies=recent_anomalies(spark, settings, read_tables, drift_days),
            conf=conf,
        )
        result.judge()
        rows = monitoring_rows(result)
        frame = catalog.frame_of(rows, MONITORING_SCHEMA).select(
            "*", F.lit(run_date).alias(RUN_DATE), F.lit(run_id).alias(RUN_ID)
        )
        commit = catalog.replace_slice(frame, table, DateRange.single(run_date))
        directory = f"{model_card.card_dir(settings, model, registered.version)}/monitoring"
        storage.write_files(spark, directory, render(result, drift.histograms), prefix=f"{run_date}_")
        report_path = f"{directory}/{run_date}_drift_report.html"
        summary.rows_in = summary.published = len(rows)
        summary.delta_version = commit.version
        summary.detail = f"{registered.uri}: {result.verdict()}"
        summary.report = render_text(result, report_path)
    return MonitorResult(summary, result, report_path)


@dataclass(frozen=True)
class DriftFound:
    features: list[Drift]
    prediction: Drift
    histograms: dict[str, list[float]]
    current_rows: int
    reference_rows: int


def _drift(
    spark, settings, registered, manifest: Manifest, predictions: DataFrame, days: DateRange, conf
) -> DriftFound:
    """The PSI of every input and of the probability: the predictions of the drift window against the
    reference split of the training-set version the model was trained on."""
    schema = tracking.input_schema(registered)
    recent = predictions.where(run_date_condition(days)).select(
        *[F.col(f"{INPUTS}.{c}").alias(c) for c, _ in schema], PROBABILITY
    )
    scored = reference_scores(spark, settings, registered, manifest, schema, conf.reference_split)
    with persisted(recent) as current, persisted(scored) as reference:
        current_rows, reference_rows = current.count(), reference.count()
        if not current_rows:
            raise FeaturelakeError(
                f"predictions.{registered.name} holds no prediction of {registered.uri} for {days}; score those "
                f"days first (`featurelake score --model {registered.name} --from {days.start} --to {days.end}`)."
            )
        if not reference_rows:
            raise FeaturelakeError(
                f"{manifest.table} v{registered.training_set_version} has no row in split {conf.reference_split} "
                f"(models.{registered.name}.monitoring.reference_split); name a split the model was trained with."
            )
        numeric = [c for c, kind in schema if kind != "string"]
        categorical = [c for c, kind in schema if kind == "string"]
        thresholds = {c: conf.feature_psi for c, _ in schema} | {PROBABILITY: conf.prediction_psi}
        binnings = reference_binnings(reference, [*numeric, PROBABILITY], categorical, conf)
        *features, prediction = sorted(
            drifts(reference, current, binnings, thresholds, set(conf.report_only)),
            key=lambda d: d.column == PROBABILITY,
        )
        histograms = {"reference": score_histogram(reference), "recent": score_histogram(current)}
        return DriftFound(features, prediction, histograms, current_rows, reference_rows)
