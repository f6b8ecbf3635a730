"""Monitoring a registered model on a run date D: is what it scores still like what it learned from, and is
it still right where the answers are known?

- **Drift**: the population stability index (PSI) and the Jensen-Shannon distance of every model input and of
  the predicted probability, between the reference split of the training-set version the model was trained on
  and the predictions of the last ``window`` run dates (the inputs are stored with each prediction, exactly as
  the model saw them). Numeric inputs are cut at the reference's quantiles, categorical ones by the
  reference's most frequent values; nulls, and values the reference never had, get bins of their own. Each
  column's thresholds are calibrated on windows of the same length inside the reference (calibration.py), and
  each input carries the model's importance, so the report ranks inputs by importance x drift and says which
  share of the importance drifted.
- **Estimated quality** before labels land, from the probabilities (estimated.py): AUC, precision and recall
  at the model's threshold and the positive rate, over the window and per run date.
- **Realized quality**: AUC, log loss, Brier score and calibration of the predictions whose labels have
  landed (``label_lag`` after their run date), labelled by the training set's own label definition;
  the daily AUC over ``history``.
- **Data anomalies** that the quality gates recorded in ``quality.results`` for the tables the model reads.

Everything lands in ``monitoring.<model>`` (one slice per run date) and in an HTML drift report next to the
model card. Retraining is recommended, with its reasons ranked, when performance (realized, or estimated)
drops, or when drift covers a large share of the model's importance and the estimate moves (result.py).
Only bounded aggregates (bins, windows, days, anomalies) reach the driver.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.core.periods import Grain, TimeWindow
from featurelake.core.spark import beside, persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.featurestore.plan import SPLIT, Manifest, TrainingSetPlan, with_label
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.lake.stage import Context
from featurelake.ml import tracking
from featurelake.ml.predictions import (
    INPUTS,
    PROBABILITY,
    model_inputs,
    scoring_plan,
    training_manifest,
)
from featurelake.monitoring.calibration import (
    MEMBERSHIP_SCHEMA,
    calibrated_thresholds,
    membership,
    reference_windows,
)
from featurelake.monitoring.drift import (
    Drift,
    Threshold,
    bin_shares,
    drifts,
    reference_binnings,
    score_histogram,
)
from featurelake.monitoring.estimated import Estimated, calibrated, daily_estimates, estimate, fit_calibrator
from featurelake.monitoring.realized import daily_auc, realized_quality, recent_anomalies
from featurelake.monitoring.reference import ReferenceProfile, profile_key, reference_profile
from featurelake.monitoring.report import drift_report_files, render_text
from featurelake.monitoring.result import MONITORING_SCHEMA, Monitoring, monitoring_rows

# ---------------------------------------------------------------------------------------------- the stage


@dataclass
class MonitorResult:
    summary: StageSummary
    monitoring: Monitoring
    report_path: str

    @property
    def retrain_recommended(self) -> bool:
        return self.monitoring.retrain_recommended


def reference_scores(catalog: Catalog, registered, manifest: Manifest, schema, split: str, *more: str) -> DataFrame:
    """The model's inputs on a split of the training-set version it was trained on, with its probability (and
    the ``more`` columns of the training set, e.g. its label)."""
    rows = catalog.read_version(manifest.table, registered.training_set_version)
    return (
        tracking.load_spark_model(registered)
        .transform(rows.where(F.col(SPLIT) == F.lit(split)).transform(model_inputs(schema)))
        .select(*[c for c, _ in schema], RUN_DATE, *more, vector_to_array("probability").getItem(1).alias(PROBABILITY))
    )


def _calibrator(catalog: Catalog, registered, manifest: Manifest, labelled: DataFrame, realized: DateRange, conf):
    """The isotonic calibration of the model's probabilities (estimated.py) and what it was fitted on: the
    freshest labels, those of the history before the realized window (so the estimate of that window is checked
    on labels it never saw), when they are at least min_labelled_rows of both classes; else the estimate_split
    of the training set."""
    label = manifest.label
    earlier = labelled.where((F.col(RUN_DATE) < F.lit(realized.start)) & F.col(label).isNotNull())
    span = earlier.agg(F.count(F.lit(1)).alias("rows"), F.min(RUN_DATE).alias("first"), F.max(RUN_DATE).alias("last"))
    found = span.first()  # one row
    if found["rows"] >= conf.min_labelled_rows:
        calibrator = fit_calibrator(earlier, label)
        if calibrator is not None:
            return calibrator, f"the labelled predictions of {DateRange(found['first'], found['last'])}"
    schema = tracking.input_schema(registered)
    scored = reference_scores(catalog, registered, manifest, schema, conf.estimate_split, label)
    return fit_calibrator(scored.where(F.col(label).isNotNull()), label), f"the {conf.estimate_split} split"


def labelled_predictions(catalog: Catalog, plan: TrainingSetPlan, predictions: DataFrame, days: DateRange) -> DataFrame:
    """The predictions of these days with the label the training set's definition gives each event now
    (null: excluded by the definition, or not landed yet)."""
    keys = plan.events.keys
    events = with_label(catalog.settings, plan, catalog.read(plan.events.table), days)
    labels = events.select(*keys, plan.label.name)
    return (
        predictions.where(run_date_condition(days))
        .select(*keys, PROBABILITY, RUN_DATE)
        .join(labels, on=keys, how="left")
    )


def _landed(day: dt.date, lag: TimeWindow, length: TimeWindow, grain: Grain) -> DateRange:
    """The ``length`` of run dates whose labels have landed by ``day``: up to ``lag`` before it."""
    return length.last(lag.back(day, grain), grain)


def monitor(ctx: Context, model: str, run_date: dt.date, model_uri: str | None = None) -> MonitorResult:
    """Judge a registered model on a run date: drift, realized quality, anomalies; store and report the verdict."""
    spark, settings, catalog, run_id = ctx.spark, ctx.settings, ctx.catalog, ctx.run_id
    table = catalog.monitoring_table(model)
    settings.table(table)  # declared in conf, like every table
    conf = settings.model(model).monitoring
    registered = tracking.resolve(settings, model, model_uri)
    manifest = training_manifest(catalog, registered)
    plan = scoring_plan(catalog, manifest.plan)
    grain = settings.model_grain(model)
    drift_days = conf.window.last(run_date, grain)
    predictions = catalog.read(catalog.predictions_table(model)).where(
        F.col("model_version") == F.lit(registered.version)
    )
    importances = tracking.version_importances(registered.name, registered.version)
    directory = f"{catalog.model_dir(model, registered.version)}/monitoring"
    drift_of = (catalog, registered, manifest, predictions, drift_days, conf, grain, importances, directory)
    # the drift (its small aggregations) is measured beside the quality below, which reads other rows
    with accounted("monitor", table, run_date) as summary, beside(spark, _drift, *drift_of) as drifting:
        labelled_days = _landed(run_date, conf.label_lag, conf.window, grain)
        history_days = _landed(run_date, conf.label_lag, conf.history, grain)
        scored_days = DateRange(min(history_days.start, drift_days.start), run_date)
        with persisted(labelled_predictions(catalog, plan, predictions, history_days)) as labelled:
            realized = realized_quality(
                labelled, manifest.label, registered.threshold, labelled_days, conf.min_labelled_rows
            )
            daily = daily_auc(labelled, manifest.label)
            calibrator, calibrated_on = _calibrator(catalog, registered, manifest, labelled, labelled_days, conf)
            known = labelled.where(run_date_condition(labelled_days) & F.col(manifest.label).isNotNull())
            of_labelled = estimate(calibrated(known, calibrator), registered.threshold)
        recent = predictions.where(run_date_condition(scored_days)).select(RUN_DATE, PROBABILITY)
        with persisted(calibrated(recent, calibrator)) as scored:
            per_day = daily_estimates(scored, registered.threshold)
            in_window = estimate(scored.where(run_date_condition(drift_days)), registered.threshold)
        read_tables = [plan.events.table, *[g.table for g in plan.feature_groups]]
        drift = drifting.result()
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
            anomalies=recent_anomalies(catalog, read_tables, drift_days),
            conf=conf,
            estimated=Estimated(in_window, of_labelled, tuple(per_day), calibrated_on),
        )
        result.judge()
        rows = monitoring_rows(result)
        frame = catalog.frame_of(rows, MONITORING_SCHEMA).select(
            "*", F.lit(run_date).alias(RUN_DATE), F.lit(run_id).alias(RUN_ID)
        )
        commit = catalog.replace_slice(frame, table, DateRange.single(run_date))
        storage.write_files(spark, directory, drift_report_files(result, drift.histograms), prefix=f"{run_date}_")
        report_path = f"{directory}/{run_date}_drift_report.html"
        summary.rows_in = summary.published = len(rows)
        summary.delta_version = commit.version
        summary.detail = f"{registered.uri}: {result.verdict()}"
        summary.verdict, summary.alarm = (
            f"{registered.uri} on {run_date}: {result.verdict()}",
            result.retrain_recommended,
        )
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
    catalog: Catalog,
    registered,
    manifest: Manifest,
    predictions: DataFrame,
    days: DateRange,
    conf,
    grain,
    importances,
    directory: str,
) -> DriftFound:
    """The drift of every input and of the probability: the predictions of the drift window against the
    reference split of the training-set version the model was trained on (its profile, reference.py: computed by
    the model's first check under this conf, stored in ``directory``), each against its own thresholds."""
    schema = tracking.input_schema(registered)
    recent = predictions.where(run_date_condition(days)).select(
        *[F.col(f"{INPUTS}.{c}").alias(c) for c, _ in schema], PROBABILITY
    )
    with persisted(recent) as current:
        current_rows = current.count()
        if not current_rows:
            raise FeaturelakeError(
                f"predictions.{registered.name} holds no prediction of {registered.uri} for {days}; score those "
                f"days first (`featurelake score --model {registered.name} --from {days.start} --to {days.end}`)."
            )
        key = profile_key(registered.version, registered.training_set_version, conf, grain)
        profile = reference_profile(
            catalog.spark, directory, key, lambda: _profile(catalog, registered, manifest, schema, conf, grain, key)
        )
        *features, prediction = sorted(
            drifts(profile.shares, current, profile.binnings, profile.thresholds, set(conf.report_only), importances),
            key=lambda d: d.column == PROBABILITY,
        )
        histograms = {"reference": profile.histogram, "recent": score_histogram(current)}
        return DriftFound(features, prediction, histograms, current_rows, profile.rows)


def _profile(
    catalog: Catalog, registered, manifest: Manifest, schema, conf, grain: Grain, key: str
) -> ReferenceProfile:
    """The reference's bins, shares, histogram and calibrated thresholds, from the model's reference split."""
    scored = reference_scores(catalog, registered, manifest, schema, conf.reference_split)
    with persisted(scored) as reference:
        rows = reference.count()
        if not rows:
            raise FeaturelakeError(
                f"{manifest.table} v{registered.training_set_version} has no row in split {conf.reference_split} "
                f"(models.{registered.name}.monitoring.reference_split); name a split the model was trained with."
            )
        numeric = [c for c, kind in schema if kind != "string"]
        categorical = [c for c, kind in schema if kind == "string"]
        binnings = reference_binnings(reference, [*numeric, PROBABILITY], categorical, conf)
        return ReferenceProfile(
            key=key,
            rows=rows,
            bins=ReferenceProfile.bins_of(binnings),
            shares=bin_shares(reference, binnings),
            thresholds=_thresholds(catalog, reference, binnings, conf, grain),
            histogram=score_histogram(reference),
        )


def _thresholds(catalog: Catalog, reference: DataFrame, binnings, conf, grain: Grain) -> dict[str, Threshold]:
    """Each column's thresholds, calibrated on the reference's windows of the monitored length; the fixed ones
    of conf when the reference holds fewer than min_reference_windows of them."""
    dates = [r[RUN_DATE] for r in reference.select(RUN_DATE).distinct().collect()]  # bounded: its run dates
    windows = reference_windows(dates, conf.window, grain)
    fixed = {b.column: Threshold(conf.feature_psi) for b in binnings} | {PROBABILITY: Threshold(conf.prediction_psi)}
    if len(windows) < conf.min_reference_windows:
        return fixed
    members = catalog.frame_of(membership(dates, windows), MEMBERSHIP_SCHEMA)
    calibrated = calibrated_thresholds(reference, binnings, members, conf.drift_quantile, conf.min_psi)
    return {column: calibrated.get(column, threshold) for column, threshold in fixed.items()}
