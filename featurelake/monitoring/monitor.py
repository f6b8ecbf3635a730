"""Monitoring a registered model on a run date D: is what it scores still like what it learned from, and is
it still right where the answers are known?

- **Drift**: the population stability index (PSI) of every model input and of the predicted probability,
  between the reference split of the training-set version the model was trained on and the predictions of
  the last ``window_days`` run dates (the inputs are stored with each prediction, exactly as the model saw
  them). Numeric inputs are cut at the reference's quantiles, categorical ones by the reference's most
  frequent values; nulls, and values the reference never had, get bins of their own.
- **Realized quality**: AUC, log loss, Brier score and calibration of the predictions whose labels have
  landed (``label_lag_days`` after their run date), labelled by the training set's own label definition;
  the daily AUC over ``history_days``.
- **Data anomalies** that the quality gates recorded in ``quality.results`` for the tables the model reads.

Everything lands in ``monitoring.<model>`` (one slice per run date) and in an HTML drift report next to the
model card. Retraining is recommended, with the reason, when a threshold of ``models.<name>.monitoring`` is
crossed. Only bounded aggregates (bins, days, anomalies) reach the driver.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.core.settings import Settings
from featurelake.core.summary import StageSummary
from featurelake.featurestore.plan import SPLIT, Manifest, TrainingSetPlan, label_of
from featurelake.lake import delta, storage
from featurelake.ml import model_card, tracking
from featurelake.ml.predictions import (
    INPUTS,
    PROBABILITY,
    model_inputs,
    predictions_table,
    scoring_plan,
    training_manifest,
)
from featurelake.monitoring.drift import drifts, reference_binnings, score_histogram
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
    rows = delta.read_version(spark, settings, manifest.table, registered.training_set_version)
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
    events = delta.read_table(spark, settings, plan.events.table, days)
    labels = events.select(*keys, label_of(settings, plan, events))
    return (
        predictions.where(delta.run_date_condition(days))
        .select(*keys, PROBABILITY, RUN_DATE)
        .join(labels, on=keys, how="left")
    )


def _days_before(day: dt.date, lag: int, count: int) -> DateRange:
    end = day - dt.timedelta(days=lag)
    return DateRange(end - dt.timedelta(days=count - 1), end)


def monitor(
    spark: SparkSession, settings: Settings, model: str, run_date: dt.date, run_id: str, model_uri: str | None = None
) -> MonitorResult:
    started = time.monotonic()
    table = monitoring_table(model)
    settings.table(table)  # declared in conf, like every table
    conf = settings.model(model).monitoring
    registered = tracking.resolve(settings, model, model_uri)
    manifest = training_manifest(spark, settings, registered)
    plan = scoring_plan(spark, settings, manifest.plan)
    schema = tracking.input_schema(registered)
    label = manifest.label
    drift_days = DateRange(run_date - dt.timedelta(days=conf.window_days - 1), run_date)
    labelled_days = _days_before(run_date, conf.label_lag_days, conf.window_days)
    history_days = _days_before(run_date, conf.label_lag_days, conf.history_days)

    predictions = delta.read_table(spark, settings, predictions_table(model)).where(
        F.col("model_version") == F.lit(registered.version)
    )
    current = (
        predictions.where(delta.run_date_condition(drift_days))
        .select(*[F.col(f"{INPUTS}.{c}").alias(c) for c, _ in schema], PROBABILITY)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    reference = reference_scores(spark, settings, registered, manifest, schema, conf.reference_split).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        current_rows, reference_rows = current.count(), reference.count()
        if not current_rows:
            raise FeaturelakeError(
                f"predictions.{model} holds no prediction of {registered.uri} for {drift_days}; score those days "
                f"first (`featurelake score --model {model} --from {drift_days.start} --to {drift_days.end}`)."
            )
        if not reference_rows:
            raise FeaturelakeError(
                f"{manifest.table} v{registered.training_set_version} has no row in split {conf.reference_split} "
                f"(models.{model}.monitoring.reference_split); name a split the model was trained with."
            )
        numeric = [c for c, kind in schema if kind != "string"]
        categorical = [c for c, kind in schema if kind == "string"]
        thresholds = {c: conf.feature_psi for c, _ in schema} | {PROBABILITY: conf.prediction_psi}
        binnings = reference_binnings(reference, [*numeric, PROBABILITY], categorical, conf)
        *feature_drift, prediction_drift = sorted(
            drifts(reference, current, binnings, thresholds, set(conf.report_only)),
            key=lambda d: d.column == PROBABILITY,
        )
        histograms = {"reference": score_histogram(reference), "recent": score_histogram(current)}
    finally:
        current.unpersist()
        reference.unpersist()

    labelled = labelled_predictions(spark, settings, plan, predictions, history_days).persist(
        StorageLevel.MEMORY_AND_DISK
    )
    try:
        realized = realized_quality(labelled, label, registered.threshold, labelled_days, conf.min_labelled_rows)
        daily = daily_auc(labelled, label)
    finally:
        labelled.unpersist()
    read_tables = [plan.events.table, *[g.table for g in plan.feature_groups]]
    result = Monitoring(
        model=model,
        version=registered.version,
        run_date=run_date,
        drift_days=drift_days,
        reference_split=conf.reference_split,
        reference_rows=reference_rows,
        current_rows=current_rows,
        features=feature_drift,
        prediction=prediction_drift,
        realized=realized,
        daily=daily,
        test_metrics=tracking.version_metrics(registered.name, registered.version),
        anomalies=recent_anomalies(spark, settings, read_tables, drift_days),
        conf=conf,
    )
    result.judge()
    rows = monitoring_rows(result)
    frame = spark.createDataFrame(rows, MONITORING_SCHEMA).select(
        "*", F.lit(run_date).alias(RUN_DATE), F.lit(run_id).alias(RUN_ID)
    )
    commit = delta.replace_slice(frame, settings, table, DateRange.single(run_date))
    directory = f"{model_card.card_dir(settings, model, registered.version)}/monitoring"
    files = render(result, histograms)
    for name, content in files.items():
        storage.write_bytes(spark, f"{directory}/{run_date}_{name}", content)
    report_path = f"{directory}/{run_date}_drift_report.html"
    summary = StageSummary(
        stage="monitor",
        table=table,
        run_dates=str(run_date),
        rows_in=len(rows),
        published=len(rows),
        delta_version=commit.version,
        seconds=time.monotonic() - started,
        detail=f"{registered.uri}: {result.verdict()}",
        report=render_text(result, report_path),
    )
    summary.check_balance()
    return MonitorResult(summary, result, report_path)
