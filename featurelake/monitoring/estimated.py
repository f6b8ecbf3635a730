"""Estimated performance before labels land: confidence-based performance estimation (CBPE, as NannyML calls it).

A calibrated model's probability p of a prediction is the chance its label turns out positive, so the
predictions alone give the expected confusion matrix at the model's threshold t (a prediction at or above t
is a positive, as ``evaluation.evaluate`` decides): expected true positives are the sum of p over predictions
at or above t, false positives the sum of 1 - p there, false negatives the sum of p below t. The expected
precision and recall follow, the expected positive rate is the mean p, and the expected AUC weighs every pair
of predictions by the chance that the higher-scored one is the positive (``evaluation.expected_auc_roc``).

The estimates hold while the model stays calibrated: the drift report shows the realized calibration of the
latest labelled window beside them, and the estimate of that window's labelled rows beside what their labels
gave. Drift that leaves the estimate where it was is no reason to retrain; an estimate that falls is one
before a single label has landed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.ml.evaluation import expected_auc_roc
from featurelake.ml.predictions import PROBABILITY

_ALL = "_all"
CALIBRATED = "calibrated_probability"


@dataclass(frozen=True)
class Estimate:
    """The expected metrics of some predictions, from their probabilities alone (None: no prediction, or a
    metric undefined there, e.g. no prediction at or above the threshold gives no precision)."""

    rows: int
    auc_roc: float | None
    precision: float | None
    recall: float | None
    positive_rate: float | None  # the mean predicted probability: the share of positives expected


NO_ESTIMATE = Estimate(0, None, None, None, None)


@dataclass(frozen=True)
class EstimatedDay:
    day: dt.date
    estimate: Estimate


def calibrated(predictions: DataFrame, calibrator) -> DataFrame:
    """The predictions with their calibrated probability (the model's own without a calibrator)."""
    if calibrator is None:
        return predictions.withColumn(CALIBRATED, F.col(PROBABILITY).cast("double"))
    return calibrator.transform(predictions)


def fit_calibrator(labelled: DataFrame, label: str):
    """An isotonic regression of the label on the model's probability (None without labelled rows of both
    classes: the estimates then use the probabilities as they are)."""
    from pyspark.ml.regression import IsotonicRegression

    classes = labelled.agg(F.count_distinct(label).alias("classes")).first()["classes"]  # one row
    if classes < 2:
        return None
    rows = labelled.select(F.col(PROBABILITY).cast("double").alias(PROBABILITY), F.col(label).cast("double"))
    regression = IsotonicRegression(featuresCol=PROBABILITY, labelCol=label, predictionCol=CALIBRATED)
    return regression.fit(rows)


def expected_scores(predictions: DataFrame, threshold: float, by: list[str]) -> DataFrame:
    """Per segment: rows, the expected positive rate, precision and recall at ``threshold``, and AUC, from
    predictions with their calibrated probability (``calibrated``)."""
    p = F.col(CALIBRATED)
    predicted = F.col(PROBABILITY) >= F.lit(threshold)
    counts = predictions.groupBy(*by).agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(p).alias("positive_rate"),
        F.sum(F.when(predicted, p).otherwise(F.lit(0.0))).alias("tp"),
        F.sum(F.when(predicted, F.lit(1.0) - p).otherwise(F.lit(0.0))).alias("fp"),
        F.sum(F.when(~predicted, p).otherwise(F.lit(0.0))).alias("fn"),
    )
    auc = expected_auc_roc(predictions, PROBABILITY, CALIBRATED, by).select(*by, "auc_roc")
    return counts.join(auc, on=by, how="left").select(
        *by,
        "rows",
        "positive_rate",
        F.try_divide(F.col("tp"), F.col("tp") + F.col("fp")).alias("precision"),
        F.try_divide(F.col("tp"), F.col("tp") + F.col("fn")).alias("recall"),
        "auc_roc",
    )


def _estimate(row) -> Estimate:
    return Estimate(row["rows"], row["auc_roc"], row["precision"], row["recall"], row["positive_rate"])


def estimate(predictions: DataFrame, threshold: float) -> Estimate:
    """The expected metrics of all these predictions together."""
    found = expected_scores(predictions.withColumn(_ALL, F.lit(0)), threshold, [_ALL]).first()  # one row
    return NO_ESTIMATE if found is None else _estimate(found)


def daily_estimates(predictions: DataFrame, threshold: float) -> list[EstimatedDay]:
    """The expected metrics of each run date's predictions."""
    rows = expected_scores(predictions, threshold, [RUN_DATE]).orderBy(RUN_DATE).collect()  # bounded: one per day
    return [EstimatedDay(r[RUN_DATE], _estimate(r)) for r in rows]


@dataclass(frozen=True)
class Estimated:
    """What the probabilities say: over the monitored window, over the labelled window's labelled predictions
    (to set beside what their labels gave), and per run date."""

    window: Estimate = NO_ESTIMATE
    labelled: Estimate = NO_ESTIMATE
    daily: tuple[EstimatedDay, ...] = ()
    calibrated_on: str = ""  # what the calibration was fitted on: the latest labels, or a split
