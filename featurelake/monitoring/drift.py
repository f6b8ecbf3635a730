"""Drift: the population stability index (PSI) and the Jensen-Shannon distance of every model input and of the
predicted probability, on bins fixed by the reference, each against its own threshold (calibration.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurelake.core.conf.ml import MonitoringConf
from featurelake.ml.predictions import PROBABILITY

# A bin empty on one side would make the PSI infinite; shares are floored at this (a common convention).
PSI_FLOOR = 1e-4
SCORE_HISTOGRAM_BINS = 20
OTHER = "other"
NULL = "null"


def population_stability_index(reference: list[float], current: list[float]) -> float:
    """PSI = sum over bins of (current - reference) * ln(current / reference), on shares floored at
    PSI_FLOOR so an empty bin counts as a large, finite difference."""
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        r, c = max(r, PSI_FLOOR), max(c, PSI_FLOOR)
        total += (c - r) * math.log(c / r)
    return total


def jensen_shannon_distance(reference: list[float], current: list[float]) -> float:
    """The square root of the Jensen-Shannon divergence in bits: 0 for equal shares, 1 for shares with no bin
    in common; symmetric and finite whatever bin is empty (no floor needed)."""
    divergence = 0.0
    for r, c in zip(reference, current, strict=True):
        m = (r + c) / 2
        divergence += sum(0.5 * x * math.log(x / m) for x in (r, c) if x > 0)
    return math.sqrt(max(divergence, 0.0) / math.log(2))


@dataclass(frozen=True)
class Binning:
    """How one column is cut into bins: an int bin index per row, and each bin's label; made from the edges of a
    numeric column or the categories of another (kept, so the binning can be stored and made again)."""

    column: str
    labels: list[str]
    index: Column
    edges: list[float] | None = None
    categories: list[str] | None = None


def numeric_binning(column: str, edges: list[float]) -> Binning:
    """Bins (-inf, e0], (e0, e1], ..., (e_last, inf), then nulls."""
    value = F.col(column)
    index = F.when(value.isNull(), F.lit(len(edges) + 1))
    for i, edge in enumerate(edges):
        index = index.when(value <= F.lit(edge), F.lit(i))
    labels = (
        [f"≤ {edges[0]:.4g}"] + [f"({a:.4g}, {b:.4g}]" for a, b in zip(edges, edges[1:], strict=False)] if edges else []
    )
    labels.append(f"> {edges[-1]:.4g}" if edges else "any value")
    return Binning(column, [*labels, NULL], index.otherwise(F.lit(len(edges))), edges=list(edges))


def categorical_binning(column: str, categories: list[str]) -> Binning:
    """One bin per category, then one for every other value, then nulls."""
    value = F.col(column)
    index = F.when(value.isNull(), F.lit(len(categories) + 1))
    for i, category in enumerate(categories):
        index = index.when(value == F.lit(category), F.lit(i))
    return Binning(
        column, [*categories, OTHER, NULL], index.otherwise(F.lit(len(categories))), categories=list(categories)
    )


def reference_binnings(reference: DataFrame, numeric: list[str], categorical: list[str], conf: MonitoringConf):
    """The bins of every column, fixed by the reference: numeric edges at its quantiles (distinct values
    only, so a column with few values gets few bins), categories by frequency (at most max_categories)."""
    binnings = []
    if numeric:
        quantiles = [i / conf.psi_bins for i in range(1, conf.psi_bins)]
        edges = reference.agg(
            *[F.percentile_approx(F.col(c), quantiles, 10_000).alias(c) for c in numeric]
        ).first()  # one row
        for column in numeric:
            found = sorted({float(e) for e in (edges[column] or []) if e is not None and math.isfinite(e)})
            binnings.append(numeric_binning(column, found))
    if categorical:
        values = reference.select(
            F.explode(
                F.array(*[F.struct(F.lit(c).alias("column"), F.col(c).alias("value")) for c in categorical])
            ).alias("v")
        ).select("v.column", "v.value")
        by_frequency = Window.partitionBy("column").orderBy(F.col("rows").desc(), F.col("value"))
        top = (
            values.where(F.col("value").isNotNull())
            .groupBy("column", "value")
            .agg(F.count(F.lit(1)).alias("rows"))
            .withColumn("rank", F.row_number().over(by_frequency))
            .where(F.col("rank") <= F.lit(conf.max_categories))
            .collect()  # bounded: columns x max_categories
        )
        for column in categorical:
            ranked = sorted((r["rank"], r["value"]) for r in top if r["column"] == column)
            binnings.append(categorical_binning(column, [value for _, value in ranked]))
    return binnings


def binned(frame: DataFrame, binnings: list[Binning], *keep: str) -> DataFrame:
    """One row per row of the frame and binned column: (the ``keep`` columns, column, bin)."""
    pairs = F.array(*[F.struct(F.lit(b.column).alias("column"), b.index.alias("bin")) for b in binnings])
    return frame.select(*keep, F.explode(pairs).alias("b")).select(*keep, "b.column", "b.bin")


def bin_shares(frame: DataFrame, binnings: list[Binning]) -> dict[str, list[float]]:
    """The share of the frame's rows in each bin of each column, in one pass."""
    counts = (
        binned(frame, binnings)
        .groupBy("column", "bin")
        .agg(F.count(F.lit(1)).alias("rows"))
        .collect()  # bounded: columns x bins
    )
    found = {(r["column"], r["bin"]): r["rows"] for r in counts}
    shares = {}
    for b in binnings:
        rows = [found.get((b.column, i), 0) for i in range(len(b.labels))]
        total = sum(rows)
        shares[b.column] = [n / total if total else 0.0 for n in rows]
    return shares


@dataclass(frozen=True)
class Threshold:
    """What a column's drift is judged against: a PSI and a Jensen-Shannon distance calibrated on ``windows``
    windows of the reference (calibration.py), or the fixed PSI of conf alone (``windows`` 0, ``js`` None)."""

    psi: float
    js: float | None = None
    windows: int = 0


@dataclass(frozen=True)
class Drift:
    """A column's drift between the reference and the monitored window: it has drifted when its PSI and its
    Jensen-Shannon distance are both above their thresholds (one statistic alone, where only the PSI has one)."""

    column: str
    psi: float
    threshold: float
    decides: bool  # False: reported only (models.<name>.monitoring.report_only)
    labels: list[str]
    reference: list[float]
    current: list[float]
    js: float | None = None
    js_threshold: float | None = None
    calibrated_on: int = 0  # reference windows the thresholds came from; 0: the fixed threshold of conf
    importance: float | None = None  # the model's share of importance in this input (None: not an input)

    @property
    def crossed(self) -> bool:
        above_js = self.js_threshold is None or (self.js is not None and self.js > self.js_threshold)
        return self.psi > self.threshold and above_js

    @property
    def alarming(self) -> bool:
        """Drifted, on an input that decides."""
        return self.decides and self.crossed

    @property
    def weighted(self) -> float:
        """Importance x drift: the input's importance times its PSI in units of its threshold."""
        return (self.importance or 0.0) * self.psi / self.threshold

    @property
    def verdict(self) -> str:
        return "drifted" if self.alarming else ("" if self.decides else "reported only")

    @property
    def threshold_detail(self) -> str:
        if self.calibrated_on:
            return f"calibrated on {self.calibrated_on} reference windows"
        return "fixed (too few reference windows to calibrate)"


def drifts(
    before: dict[str, list[float]],
    current: DataFrame,
    binnings: list[Binning],
    thresholds: dict[str, Threshold],
    report_only,
    importances: dict[str, float],
) -> list[Drift]:
    """The PSI and Jensen-Shannon distance of every binned column between the reference's bin shares
    (``before``) and the current frame's, from one pass over it."""
    after = bin_shares(current, binnings)
    return [
        Drift(
            b.column,
            population_stability_index(before[b.column], after[b.column]),
            thresholds[b.column].psi,
            b.column not in report_only,
            b.labels,
            before[b.column],
            after[b.column],
            jensen_shannon_distance(before[b.column], after[b.column]),
            thresholds[b.column].js,
            thresholds[b.column].windows,
            importances.get(b.column),
        )
        for b in binnings
    ]


def score_histogram(frame: DataFrame) -> list[float]:
    """Shares of the predicted probability in SCORE_HISTOGRAM_BINS equal-width bins (for the plot)."""
    bin_of = F.least(F.floor(F.col(PROBABILITY) * SCORE_HISTOGRAM_BINS), F.lit(SCORE_HISTOGRAM_BINS - 1))
    rows = frame.groupBy(bin_of.cast("int").alias("bin")).agg(F.count(F.lit(1)).alias("rows")).collect()
    counts = {r["bin"]: r["rows"] for r in rows}  # bounded: SCORE_HISTOGRAM_BINS rows
    total = sum(counts.values())
    return [counts.get(i, 0) / total if total else 0.0 for i in range(SCORE_HISTOGRAM_BINS)]
