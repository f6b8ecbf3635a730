"""How good a probabilistic classifier is, computed exactly in Spark from (label, score) rows.

Every ranking metric starts from the same table: the positives and negatives at each distinct score (per
segment). The AUC is then the Mann-Whitney statistic (ties count one half), the average precision the
step-wise area under the precision-recall curve, and the best threshold the one with the highest F1. Only
small aggregates (one row per segment, bin or curve point) ever reach the driver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

POSITIVES, NEGATIVES, SELF_PAIRS = "positives", "negatives", "self_pairs"
# Probabilities are clipped this far from 0 and 1, so one confident mistake costs a large, finite log loss.
LOG_LOSS_EPSILON = 1e-15
CALIBRATION_BINS = 10
CURVE_POINTS = 200


# A window over a whole split's distinct scores is one partition by design: it holds one row per distinct
# score (at most the split's rows), and saying so avoids Spark's warning about an unpartitioned window.
def _whole() -> Column:
    return F.lit(0)


def _score_weights(predictions: DataFrame, positive: Column, score: str, by: list[str]) -> DataFrame:
    """One row per segment and distinct score: the weight of positives and of negatives there, and of each row
    paired with itself. With labels the weights are counts (a row is a positive or a negative, never both: no
    self-pairs); with a calibrated probability p as ``positive`` they are expected counts (p and 1 - p)."""
    negative = F.lit(1.0) - positive
    return predictions.groupBy(*by, score).agg(
        F.sum(positive).alias(POSITIVES),
        F.sum(negative).alias(NEGATIVES),
        F.sum(positive * negative).alias(SELF_PAIRS),
    )


def score_counts(predictions: DataFrame, label: str, score: str, by: list[str] | None = None) -> DataFrame:
    """One row per segment and distinct score: how many positives and negatives have that score."""
    return _score_weights(predictions, (F.col(label) == F.lit(1)).cast("double"), score, by or [])


def _auc_of(weights: DataFrame, score: str, by: list[str]) -> DataFrame:
    """The Mann-Whitney AUC per segment from ``_score_weights``: the weight of (positive, negative) pairs where
    the positive scores higher, ties one half, over the weight of all pairs; a row is never paired with itself."""
    lower_scores = Window.partitionBy(*(by or [_whole()])).orderBy(score).rowsBetween(Window.unboundedPreceding, -1)
    negatives_below = F.coalesce(F.sum(NEGATIVES).over(lower_scores), F.lit(0.0))
    concordant = F.col(POSITIVES) * (F.col("negatives_below") + F.lit(0.5) * F.col(NEGATIVES))
    return (
        weights.withColumn("negatives_below", negatives_below)
        .groupBy(*by)
        .agg(
            F.sum(concordant).alias("concordant"),
            F.sum(POSITIVES).alias(POSITIVES),
            F.sum(NEGATIVES).alias(NEGATIVES),
            F.sum(SELF_PAIRS).alias(SELF_PAIRS),
        )
        .select(
            *by,
            (F.col(POSITIVES) + F.col(NEGATIVES)).alias("rows"),
            POSITIVES,
            F.try_divide(
                F.col("concordant") - F.lit(0.5) * F.col(SELF_PAIRS),
                F.col(POSITIVES) * F.col(NEGATIVES) - F.col(SELF_PAIRS),
            ).alias("auc_roc"),
        )
    )


def auc_roc(predictions: DataFrame, label: str, score: str, by: list[str] | None = None) -> DataFrame:
    """Area under the ROC curve per segment, with the segment's positives and negatives.

    The probability that a random positive scores above a random negative, ties counting one half; null
    when a segment lacks one of the classes."""
    by = by or []
    found = _auc_of(score_counts(predictions, label, score, by), score, by)
    return found.select(
        *by, F.col("rows").cast("long").alias("rows"), F.col(POSITIVES).cast("long").alias(POSITIVES), "auc_roc"
    )


def expected_auc_roc(predictions: DataFrame, score: str, probability: str, by: list[str] | None = None) -> DataFrame:
    """The AUC the labels are expected to give, per segment (rows, auc_roc), before any has landed: the rows are
    ranked by ``score``, and each is a positive with its calibrated ``probability`` p and a negative with 1 - p,
    independently; the AUC is the expected weight of concordant pairs over the expected weight of all pairs (a
    row never paired with itself). Right while ``probability`` is calibrated (confidence-based performance
    estimation, CBPE)."""
    by = by or []
    found = _auc_of(_score_weights(predictions, F.col(probability).cast("double"), score, by), score, by)
    return found.select(*by, F.col("rows").cast("long").alias("rows"), "auc_roc")


def _cumulative_from_the_top(predictions: DataFrame, label: str, score: str) -> DataFrame:
    """Per distinct score, from the highest down: true and false positives when predicting positive at or
    above that score, and the total numbers of positives and negatives."""
    counts = score_counts(predictions, label, score)
    from_the_top = (
        Window.partitionBy(_whole())
        .orderBy(F.col(score).desc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    everything = Window.partitionBy(_whole()).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return counts.select(
        score,
        POSITIVES,
        NEGATIVES,
        F.sum(POSITIVES).over(from_the_top).alias("true_positives"),
        F.sum(NEGATIVES).over(from_the_top).alias("false_positives"),
        F.sum(POSITIVES).over(everything).alias("all_positives"),
        F.sum(NEGATIVES).over(everything).alias("all_negatives"),
    )


def ranking_metrics(predictions: DataFrame, label: str, score: str) -> tuple[float | None, float | None]:
    """The AUC (ties counting one half, as ``auc_roc``) and the average precision, in one pass over the
    distinct scores. Average precision is the area under the precision-recall curve as a step function: the
    sum over thresholds of the gain in recall times the precision there (no optimistic interpolation)."""
    tops = _cumulative_from_the_top(predictions, label, score)
    negatives_below = F.col("all_negatives") - F.col("false_positives")  # strictly lower scores
    concordant = F.col(POSITIVES) * (negatives_below + F.lit(0.5) * F.col(NEGATIVES))
    precision = F.col("true_positives") / (F.col("true_positives") + F.col("false_positives"))
    recall_gain = F.try_divide(POSITIVES, "all_positives")
    found = tops.agg(
        F.try_divide(F.sum(concordant), F.sum(POSITIVES) * F.sum(NEGATIVES)).alias("auc_roc"),
        F.sum(recall_gain * precision).alias("auc_pr"),
    ).first()
    return found["auc_roc"], found["auc_pr"]


def best_f1_threshold(predictions: DataFrame, label: str, score: str) -> float:
    """The score at or above which predicting positive gives the highest F1 (on the rows given, meant to
    be the validation split); ties go to the higher threshold."""
    tops = _cumulative_from_the_top(predictions, label, score)
    false_negatives = F.col("all_positives") - F.col("true_positives")
    f1 = F.try_divide(
        F.lit(2.0) * F.col("true_positives"),
        F.lit(2.0) * F.col("true_positives") + F.col("false_positives") + false_negatives,
    )
    best = tops.select(score, f1.alias("f1")).orderBy(F.col("f1").desc_nulls_last(), F.col(score).desc()).first()
    return 0.5 if best is None else float(best[score])


def _clipped(score: str) -> Column:
    return F.least(F.greatest(F.col(score), F.lit(LOG_LOSS_EPSILON)), F.lit(1.0 - LOG_LOSS_EPSILON))


@dataclass(frozen=True)
class Scores:
    """The test metrics of one model (or baseline) at one decision threshold."""

    rows: int
    positive_rate: float
    auc_roc: float | None
    auc_pr: float | None
    log_loss: float
    brier: float
    threshold: float
    precision: float | None
    recall: float | None
    f1: float | None

    def as_metrics(self, prefix: str) -> dict[str, float]:
        values = {
            "auc_roc": self.auc_roc,
            "auc_pr": self.auc_pr,
            "log_loss": self.log_loss,
            "brier": self.brier,
            "threshold": self.threshold,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
        }
        return {f"{prefix}_{k}": float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def evaluate(predictions: DataFrame, label: str, score: str, threshold: float) -> Scores:
    """Every test metric in two passes over the rows: the probability-based ones and the confusion counts at
    the threshold in one aggregation, the AUC and the average precision in the other."""
    y = F.col(label).cast("double")
    p = _clipped(score)
    predicted = F.col(score) >= F.lit(threshold)
    actual = F.col(label) == F.lit(1)
    totals = predictions.agg(
        F.count(F.lit(1)).alias("rows"),
        F.avg(y).alias("positive_rate"),
        F.avg(-(y * F.log(p) + (F.lit(1.0) - y) * F.log(F.lit(1.0) - p))).alias("log_loss"),
        F.avg(F.pow(F.col(score) - y, 2)).alias("brier"),
        F.count_if(predicted & actual).alias("tp"),
        F.count_if(predicted & ~actual).alias("fp"),
        F.count_if(~predicted & actual).alias("fn"),
    ).first()
    tp, fp, fn = totals["tp"], totals["fp"], totals["fn"]
    auc, average_precision = ranking_metrics(predictions, label, score)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    return Scores(
        rows=totals["rows"],
        positive_rate=totals["positive_rate"],
        auc_roc=auc,
        auc_pr=average_precision,
        log_loss=totals["log_loss"],
        brier=totals["brier"],
        threshold=threshold,
        precision=precision,
        recall=recall,
        f1=f1,
    )


@dataclass(frozen=True)
class CalibrationBin:
    """One bin of the predicted probability: its rows, their mean prediction and observed positive rate."""

    bin: str
    rows: int
    mean_predicted: float | None
    observed_rate: float | None


@dataclass(frozen=True)
class Segment:
    """The test AUC of one value of a segment column, flagged when it falls the configured drop below."""

    segment: str
    value: str
    rows: int
    positive_rate: float
    auc_roc: float | None
    flagged: bool


def calibration_table(predictions: DataFrame, label: str, score: str) -> list[CalibrationBin]:
    """Ten equal-width bins of the predicted probability: rows, mean prediction and observed positive rate
    (an empty bin is listed with no rows)."""
    bin_of = F.least(F.floor(F.col(score) * CALIBRATION_BINS), F.lit(CALIBRATION_BINS - 1)).cast("int")
    rows = (
        predictions.groupBy(bin_of.alias("bin"))
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(score).alias("mean_predicted"),
            F.avg(F.col(label).cast("double")).alias("observed_rate"),
        )
        .orderBy("bin")
        .collect()  # bounded: at most CALIBRATION_BINS rows
    )
    found = {r["bin"]: r for r in rows}
    return [
        CalibrationBin(
            bin=f"{b / CALIBRATION_BINS:.1f}-{(b + 1) / CALIBRATION_BINS:.1f}",
            rows=found[b]["rows"] if b in found else 0,
            mean_predicted=found[b]["mean_predicted"] if b in found else None,
            observed_rate=found[b]["observed_rate"] if b in found else None,
        )
        for b in range(CALIBRATION_BINS)
    ]


def segment_table(
    predictions: DataFrame, label: str, score: str, segments: list[str], overall_auc: float, drop: float, min_rows: int
) -> list[Segment]:
    """Test AUC and rows per value of each segment column; a segment whose AUC is ``drop`` or more below
    the overall AUC is flagged. Segments too small (or of one class) get no AUC and no flag."""
    table: list[Segment] = []
    for segment in segments:
        rows = auc_roc(predictions, label, score, [segment]).orderBy(segment).collect()  # bounded: one per value
        for r in rows:
            enough = r["rows"] >= min_rows and r["auc_roc"] is not None
            auc = r["auc_roc"] if enough else None
            table.append(
                Segment(
                    segment=segment,
                    value=str(r[segment]),
                    rows=r["rows"],
                    positive_rate=r[POSITIVES] / r["rows"],
                    auc_roc=auc,
                    # a tolerance, so a segment exactly `drop` below is flagged despite floating-point error
                    flagged=auc is not None and overall_auc - auc >= drop - 1e-12,
                )
            )
    return table


def curves(predictions: DataFrame, label: str, score: str) -> dict[str, list[tuple[float, float]]]:
    """ROC and precision-recall points at CURVE_POINTS score thresholds, for plots (the metrics themselves
    are exact, these points are not)."""
    step = F.least(F.floor(F.col(score) * CURVE_POINTS), F.lit(CURVE_POINTS - 1)).alias("step")
    is_positive = F.col(label) == F.lit(1)
    rows = (
        predictions.groupBy(step)
        .agg(F.count_if(is_positive).alias(POSITIVES), F.count_if(~is_positive).alias(NEGATIVES))
        .orderBy(F.col("step").desc())
        .collect()  # bounded: at most CURVE_POINTS rows
    )
    all_positives = sum(r[POSITIVES] for r in rows)
    all_negatives = sum(r[NEGATIVES] for r in rows)
    roc, pr = [(0.0, 0.0)], []
    tp = fp = 0
    for r in rows:
        tp, fp = tp + r[POSITIVES], fp + r[NEGATIVES]
        recall = tp / all_positives if all_positives else 0.0
        roc.append((fp / all_negatives if all_negatives else 0.0, recall))
        if tp + fp:
            pr.append((recall, tp / (tp + fp)))
    return {"roc": roc, "pr": pr}
