"""Realized quality of predictions whose labels have landed, and the data anomalies the quality gates recorded."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.ml import evaluation
from featurelake.ml.evaluation import CalibrationBin
from featurelake.ml.predictions import PROBABILITY
from featurelake.quality import results
from featurelake.quality.outcomes import ANOMALY

MAX_ANOMALIES = 100


@dataclass(frozen=True)
class DailyMetric:
    """The realized AUC of one run date's labelled predictions (None with one class only)."""

    day: dt.date
    rows: int
    auc_roc: float | None


@dataclass(frozen=True)
class Anomaly:
    """An anomaly the latest validation of a table and run date flagged."""

    table: str
    day: dt.date
    expectation: str
    observed_value: str | None


def expected_calibration_error(calibration: list[CalibrationBin]) -> float | None:
    """The row-weighted mean distance between predicted and observed rates over the calibration bins."""
    filled = [b for b in calibration if b.rows]
    total = sum(b.rows for b in filled)
    if not total:
        return None
    return sum(b.rows * abs(b.mean_predicted - b.observed_rate) for b in filled) / total


@dataclass(frozen=True)
class Realized:
    days: DateRange
    predicted: int  # predictions of those days
    labelled: int  # with a label (the others: excluded by the label definition, or no label yet)
    scores: evaluation.Scores | None  # None: too few labelled rows, or one class only (``unscored``)
    calibration: list[CalibrationBin]
    calibration_error: float | None
    positives: int | None = None  # labelled rows of the positive class

    def unscored(self, min_rows: int, key: str) -> str:
        """Which minimum the labelled rows missed, in words, when they were not scored (``key``: the conf key of
        ``min_rows``)."""
        if self.labelled < min_rows:
            return f"{self.labelled:,} labelled, fewer than the {min_rows:,} of {key}"
        one_class = "positive" if self.positives else "negative"
        return f"all {self.labelled:,} labelled rows are {one_class}: AUC needs both classes"


def realized_quality(labelled: DataFrame, label: str, threshold: float, days: DateRange, min_rows: int) -> Realized:
    """The metrics of predictions whose label is known, at the model's decision threshold."""
    window = labelled.where(run_date_condition(days))
    counts = window.agg(
        F.count(F.lit(1)).alias("predicted"),
        F.count_if(F.col(label).isNotNull()).alias("labelled"),
        F.count_if(F.col(label) == F.lit(1)).alias("positives"),
    ).first()
    known = window.where(F.col(label).isNotNull())
    if counts["labelled"] < min_rows or counts["positives"] in (0, counts["labelled"]):
        return Realized(days, counts["predicted"], counts["labelled"], None, [], None, counts["positives"])
    calibration = evaluation.calibration_table(known, label, PROBABILITY)
    return Realized(
        days,
        counts["predicted"],
        counts["labelled"],
        evaluation.evaluate(known, label, PROBABILITY, threshold),
        calibration,
        expected_calibration_error(calibration),
        counts["positives"],
    )


def daily_auc(labelled: DataFrame, label: str) -> list[DailyMetric]:
    """Per run date: labelled rows and the realized AUC (null with one class only)."""
    rows = (
        evaluation.auc_roc(labelled.where(F.col(label).isNotNull()), label, PROBABILITY, by=[RUN_DATE])
        .orderBy(RUN_DATE)
        .collect()  # bounded: one row per day of the history
    )
    return [DailyMetric(r[RUN_DATE], r["rows"], r["auc_roc"]) for r in rows]


def recent_anomalies(catalog: Catalog, tables: list[str], days: DateRange) -> list[Anomaly]:
    """The anomalies the latest validation of each (table, run date) flagged, for these tables and days.
    An older validation's flag does not count once the day was validated again."""
    if not results.recorded(catalog):
        return []
    latest = Window.partitionBy(results.TABLE, results.RUN_DATE_FROM).rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    of_these = F.col(results.TABLE).isin(tables) & F.col(results.RUN_DATE_FROM).between(
        F.lit(days.start), F.lit(days.end)
    )
    flagged = F.col(results.EXPECTATION_TYPE) == F.lit(ANOMALY)
    rows = (
        results.committed_results(catalog)
        .where(of_these)
        .withColumn("latest", F.max(results.VALIDATED_AT).over(latest))
        .where((F.col(results.VALIDATED_AT) == F.col("latest")) & flagged)
        .select(results.TABLE, F.col(results.RUN_DATE_FROM).alias("day"), results.EXPECTATION, results.OBSERVED_VALUE)
        .orderBy("day", results.TABLE, results.EXPECTATION)
        .limit(MAX_ANOMALIES)
        .collect()
    )
    return [Anomaly(r[results.TABLE], r["day"], r[results.EXPECTATION], r[results.OBSERVED_VALUE]) for r in rows]
