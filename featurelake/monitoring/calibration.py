"""Drift thresholds calibrated on the reference itself.

A fixed PSI threshold cannot fit every input: between a long reference and one short window, a seasonal
input or a rolling aggregate (its windows overlap from day to day) has a large PSI by construction, while a
stable one hardly moves. So each column's thresholds come from how much it drifts inside the reference: every
window of the monitored length that lies inside the reference period (one ending on each of its run dates) is
compared with the rest of the reference (the window left out, as the monitored window is not part of it),
on the same bins, and a high quantile of those statistics (``drift_quantile``) is the column's threshold;
never below ``min_psi`` for the PSI. A reference with fewer than ``min_reference_windows`` windows falls back
to the fixed ``feature_psi`` and ``prediction_psi`` of conf, and the report says so.

Everything is a Spark aggregate: bin counts per run date, summed per window, then per window and column the
statistics, then per column the quantile; only one row per column reaches the driver.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.core.periods import Grain, TimeWindow
from featurelake.monitoring.drift import PSI_FLOOR, Binning, Threshold, binned

WINDOW = "window"
MEMBERSHIP_SCHEMA = f"{WINDOW} int, {RUN_DATE} date"
LN_2 = math.log(2)  # divergences in nats, distances in bits


def reference_windows(dates: list[dt.date], length: TimeWindow, grain: Grain) -> list[DateRange]:
    """The windows of the monitored length inside the reference period: one ending on each of its run dates
    whose window starts on or after the reference's first run date."""
    if not dates:
        return []
    first = min(dates)
    spans = [length.last(end, grain) for end in sorted(set(dates))]
    return [span for span in spans if span.start >= first]


def membership(dates: list[dt.date], windows: list[DateRange]) -> list[tuple[int, dt.date]]:
    """(window number, run date) for every reference run date of every window (bounded: windows x length)."""
    ordered = sorted(set(dates))
    return [
        (i, day)
        for i, span in enumerate(windows)
        for day in ordered[bisect.bisect_left(ordered, span.start) : bisect.bisect_right(ordered, span.end)]
    ]


def window_statistics(reference: DataFrame, binnings: list[Binning], members: DataFrame) -> DataFrame:
    """Per reference window and column: the PSI and the Jensen-Shannon distance of the window's rows against
    the rest of the reference, on the reference's bins (shares floored at PSI_FLOOR for the PSI only)."""
    per_day = binned(reference, binnings, RUN_DATE).groupBy(RUN_DATE, "column", "bin").agg(F.count(F.lit(1)).alias("n"))
    totals = per_day.groupBy("column", "bin").agg(F.sum("n").alias("total"))
    inside = (
        per_day.join(members, on=RUN_DATE, how="inner").groupBy(WINDOW, "column", "bin").agg(F.sum("n").alias("inside"))
    )
    cells = (
        members.select(WINDOW)
        .distinct()
        .crossJoin(totals)
        .join(inside, on=[WINDOW, "column", "bin"], how="left")
        .fillna(0, subset=["inside"])
    )
    whole = Window.partitionBy(WINDOW, "column").rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    inside_rows, all_rows = F.sum("inside").over(whole), F.sum("total").over(whole)
    shares = cells.select(
        WINDOW,
        "column",
        (F.col("inside") / inside_rows).alias("p"),
        ((F.col("total") - F.col("inside")) / (all_rows - inside_rows)).alias("q"),
    ).where(F.col("p").isNotNull() & F.col("q").isNotNull())  # a window holding all or none of the rows: no statistic
    p, q = F.col("p"), F.col("q")
    floored_p, floored_q = F.greatest(p, F.lit(PSI_FLOOR)), F.greatest(q, F.lit(PSI_FLOOR))
    middle = (p + q) / F.lit(2.0)

    def half_kl(x):
        return F.when(x > F.lit(0.0), F.lit(0.5) * x * F.log(x / middle)).otherwise(F.lit(0.0))

    return (
        shares.groupBy(WINDOW, "column")
        .agg(
            F.sum((floored_p - floored_q) * F.log(floored_p / floored_q)).alias("psi"),
            F.sum(half_kl(p) + half_kl(q)).alias("divergence"),
        )
        .select(WINDOW, "column", "psi", F.sqrt(F.greatest(F.col("divergence"), F.lit(0.0)) / F.lit(LN_2)).alias("js"))
    )


def calibrated_thresholds(
    reference: DataFrame, binnings: list[Binning], members: DataFrame, quantile: float, min_psi: float
) -> dict[str, Threshold]:
    """Each column's thresholds: the ``quantile`` of its statistics over the reference windows (the PSI's at
    least ``min_psi``)."""
    rows = (
        window_statistics(reference, binnings, members)
        .groupBy("column")
        .agg(
            F.percentile("psi", F.lit(quantile)).alias("psi"),
            F.percentile("js", F.lit(quantile)).alias("js"),
            F.count(F.lit(1)).alias("windows"),
        )
        .collect()  # bounded: one row per column
    )
    return {r["column"]: Threshold(max(r["psi"], min_psi), r["js"], r["windows"]) for r in rows}
