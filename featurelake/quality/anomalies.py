"""Daily metrics of a gated table (row count, null fractions), the per-day row-count bounds, and the anomalies of a
day against its trailing history.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json

from pyspark.sql import functions as F

from featurelake.lake.stage import Context
from featurelake.quality import results
from featurelake.quality.metrics import Pass
from featurelake.quality.outcomes import ANOMALY, DAILY_METRIC, Outcome
from featurelake.quality.suites import ROW_COUNT, Suite


def daily_metrics(found: Pass, null_columns: list[str]) -> dict:
    """Per run date, from the one pass: the row count and the null fraction of every column the suite expects
    not null."""
    return {
        day: {"row_count": values["row_count"]}
        | {f"null_fraction({c})": values[f"nulls({c})"] / values["row_count"] for c in null_columns}
        for day, values in found.days.items()
    }


def row_count_outcomes(metrics: dict, suite: Suite) -> list[Outcome]:
    outcomes = []
    for rule in (r for r in suite.rules if r.type == ROW_COUNT):
        low, high = rule.kwargs.get("min_value"), rule.kwargs.get("max_value")
        for day in sorted(metrics):
            n = metrics[day]["row_count"]
            ok = (low is None or (n > low if rule.kwargs.get("strict_min") else n >= low)) and (
                high is None or (n < high if rule.kwargs.get("strict_max") else n <= high)
            )
            kwargs = json.dumps(rule.kwargs, sort_keys=True)
            outcomes.append(Outcome(rule.name, rule.type, kwargs, ok, str(n), None, None, n, run_date=day))
    return outcomes


def metric_outcomes(metrics: dict) -> list[Outcome]:
    return [
        Outcome(name, DAILY_METRIC, "{}", True, repr(float(value)), None, None, None, run_date=day)
        for day, values in sorted(metrics.items())
        for name, value in values.items()
    ]


# The run's cache (Context.cache) of the daily metrics of every gated table from quality.results: read once from a
# start date on, as (start, end, values), and kept up to date with what the run records (other processes' new
# records are read by the next run).
HISTORY_CACHE = "anomaly_history"
_READ = "read"


def _history(ctx: Context, start: dt.date, end: dt.date) -> dict:
    """{(table, metric): {day: value}} of every period in [start, end) (the latest validation of a period
    counts); read once per run for every table (bounded: tables x metrics x periods read) and served from memory."""
    catalog = ctx.catalog
    cached = ctx.cache(HISTORY_CACHE).get(_READ)
    if cached and cached[0] <= start and end <= cached[1]:
        return cached[2]
    if cached:
        start, end = min(start, cached[0]), max(end, cached[1])
    values: dict = {}
    if results.recorded(catalog):
        metric = F.col(results.EXPECTATION_TYPE) == DAILY_METRIC
        in_range = F.col(results.RUN_DATE_FROM).between(F.lit(start), F.lit(end))
        rows = (
            results.committed_results(catalog)
            .where(metric & in_range)
            .groupBy(results.TABLE, results.RUN_DATE_FROM, results.EXPECTATION)
            .agg(F.max_by(results.OBSERVED_VALUE, results.VALIDATED_AT).alias("value"))
            .collect()  # bounded: tables x metrics x periods of the range
        )
        for row in rows:
            day, value = row[results.RUN_DATE_FROM], float(row["value"])
            values.setdefault((row[results.TABLE], row[results.EXPECTATION]), {})[day] = value
    ctx.cache(HISTORY_CACHE)[_READ] = (start, end, values)
    return values


def remember(ctx: Context, table: str, metrics: dict) -> None:
    """Add a validation's daily metrics, just recorded in quality.results, to the run's history."""
    cached = ctx.cache(HISTORY_CACHE).get(_READ)
    if cached is None or not metrics:
        return
    start, end, values = cached
    for day, named in metrics.items():
        for name, value in named.items():
            values.setdefault((table, name), {})[day] = float(value)
    ctx.cache(HISTORY_CACHE)[_READ] = (start, max(end, max(metrics)), values)


def anomaly_outcomes(ctx: Context, table: str, metrics: dict) -> list[Outcome]:
    """Flag a period whose row count or null fraction is further from the same metric's mean over the trailing
    window, in periods of the table's cadence (earlier runs' history plus the periods of this run), than
    max_sigma standard deviations and than the floors (min_relative_deviation of the mean,
    min_absolute_deviation); the worst first."""
    import statistics

    settings = ctx.settings
    anomaly = settings.project.quality.anomaly
    if not metrics:
        return []
    grain = ctx.catalog.table(table).grain

    def window_start(day: dt.date) -> dt.date:
        return anomaly.window.back(day, grain)

    known = _history(ctx, window_start(min(metrics)), max(metrics))
    series: dict[str, dict] = {name: dict(days) for (t, name), days in known.items() if t == table}
    for day, values in metrics.items():
        for name, value in values.items():
            series.setdefault(name, {})[day] = float(value)
    # each metric's days in order, so a day's trailing window is one slice (a ten-year range has 3,650 days)
    ordered = {name: sorted(days.items()) for name, days in series.items()}
    dates = {name: [d for d, _ in pairs] for name, pairs in ordered.items()}
    flagged = []  # (how far past its limit, outcome)
    for day in sorted(metrics):
        start = window_start(day)
        for name, value in metrics[day].items():
            window = ordered[name][bisect.bisect_left(dates[name], start) : bisect.bisect_left(dates[name], day)]
            trailing = [v for _, v in window]
            if len(trailing) < anomaly.min_history:
                continue
            mean, spread = statistics.fmean(trailing), statistics.pstdev(trailing)
            distance = abs(float(value) - mean)
            limit = max(
                anomaly.max_sigma * spread,
                anomaly.min_relative_deviation * abs(mean),
                anomaly.min_absolute_deviation,
            )
            if distance > limit and distance > 1e-12:
                sigmas = f"{distance / spread:.1f} sigma" if spread > 0 else "a constant history"
                observed = f"{float(value):.6g} against a trailing mean of {mean:.6g} ± {spread:.3g} ({sigmas})"
                outcome = Outcome(f"anomaly: {name}", ANOMALY, "{}", False, observed, None, None, None, day)
                flagged.append((distance / limit if limit else float("inf"), outcome))
    return [outcome for _, outcome in sorted(flagged, key=lambda pair: -pair[0])]  # the worst first
