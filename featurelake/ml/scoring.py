"""Batch scoring: the events of run dates, their features as of the prediction time through the training
path's own code, the registered model, and ``predictions.<model>`` (one row per event, a slice per run date).

The features a model sees when scoring are exactly the ones it was trained on: the feature groups, keys,
TTLs and known event columns come from the manifest of the training-set version the model was trained on
(read from the model version's tags), the join is ``training_set.join_features``, and the input columns and
types are the model's logged signature. Only the feature tables' versions differ: scoring reads them now.
"""

from __future__ import annotations

import json

from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.featurestore.plan import PREDICTION_TIME, TrainingSetPlan, prediction_columns
from featurelake.featurestore.training_set import join_features
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.ml import tracking
from featurelake.ml.predictions import (
    DECISION,
    INPUTS,
    PROBABILITY,
    model_inputs,
    scoring_plan,
    training_manifest,
)
from featurelake.quality import gate
from featurelake.quality.outcomes import Outcome
from featurelake.quality.suites import suite_for


def features_as_of_prediction_time(catalog: Catalog, plan: TrainingSetPlan, run_dates: DateRange) -> DataFrame:
    """Every event of the run dates with each feature group joined as of its prediction time."""
    events = plan.events
    raw = catalog.read(events.table, run_dates)
    return join_features(catalog, plan, raw.select(*prediction_columns(events), F.col(RUN_DATE)))


def score(ctx: Context, model: str, run_dates: DateRange, model_uri: str | None = None) -> StageSummary:
    """Score the events of the run dates with a registered model and replace their slice of predictions.<model>."""
    settings, catalog, run_id = ctx.settings, ctx.catalog, ctx.run_id
    table = catalog.predictions_table(model)
    settings.table(table)  # declared in conf, like every table
    events = settings.training_set(settings.model(model).training_set).events.table
    settings.periods(events, run_dates, "score")
    registered = tracking.resolve(settings, model, model_uri)
    catalog.require_periods(events, run_dates, "refine")
    manifest = training_manifest(catalog, registered)
    plan = scoring_plan(catalog, manifest.plan)
    schema = tracking.input_schema(registered)
    predictions = _predictions(catalog, model, registered, plan, schema, run_dates)
    with accounted("score", table, run_dates) as summary, persisted(predictions) as rows:
        summary.rows_in = catalog.read(plan.events.table, run_dates).count()
        summary.published = rows.count()
        one_per_event = Outcome(
            "one prediction per event",
            "featurelake.one_prediction_per_event",
            json.dumps({"events": summary.rows_in}),
            summary.published == summary.rows_in,
            str(summary.published),
            abs(summary.published - summary.rows_in),
            None,
            summary.published,
        )
        suite = suite_for(settings, table, rows.columns)
        _, summary.gate = gate.run_gate(rows, ctx, table, suite, run_dates, checks=[one_per_event])
        # a later model version may read other inputs: the struct's fields evolve with it
        commit = catalog.replace_slice(rows.withColumn(RUN_ID, F.lit(run_id)), table, run_dates, merge_schema=True)
        gate.record_committed(ctx, summary.gate, commit.version)
        decided = rows.agg(F.sum(DECISION).alias("positive"), F.avg(PROBABILITY).alias("mean")).first()
        summary.delta_version = commit.version
        summary.detail = (
            f"{registered.uri} (trained on {manifest.table} v{registered.training_set_version}); "
            f"{decided['positive'] or 0} predicted positive at threshold {registered.threshold:.3f}, "
            f"mean probability {decided['mean'] or 0:.3f}"
        )
    return summary


def _predictions(catalog: Catalog, model: str, registered, plan: TrainingSetPlan, schema, run_dates) -> DataFrame:
    """One row per event: its keys and prediction time, the probability and decision at the model's threshold,
    the model and training-set versions, and the inputs as the model saw them."""
    features = features_as_of_prediction_time(catalog, plan, run_dates)
    missing = [c for c, _ in schema if c not in features.columns]
    if missing:
        raise FeaturelakeError(
            f"{registered.uri} needs feature {missing[0]}, which the features of its training set do not hold "
            "any more; retrain the model or restore the feature group."
        )
    scored = (
        tracking.load_spark_model(registered)
        .transform(features.transform(model_inputs(schema)))
        .withColumn(PROBABILITY, vector_to_array("probability").getItem(1))
    )
    return scored.select(
        *plan.events.keys,
        PREDICTION_TIME,
        F.col(PROBABILITY),
        (F.col(PROBABILITY) >= F.lit(registered.threshold)).cast("int").alias(DECISION),
        F.lit(model).alias("model"),
        F.lit(registered.version).alias("model_version"),
        F.lit(registered.training_set_version).alias("training_set_version"),
        F.struct(*[F.col(c) for c, _ in schema]).alias(INPUTS),
        F.col(RUN_DATE),
    )
