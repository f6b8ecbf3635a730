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
import html
import math
import time
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.config import MonitoringConf, Settings
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.core.html import STYLE, figure_png, figures, number, table
from featurelake.core.summary import StageSummary
from featurelake.featurestore.training_set import SPLIT, label_of
from featurelake.lake import delta, storage
from featurelake.ml import evaluation, model_card, tracking
from featurelake.ml.scoring import INPUTS, PROBABILITY, model_inputs, predictions_table, scoring_plan, training_manifest
from featurelake.quality.gate import ANOMALY

# A bin empty on one side would make the PSI infinite; shares are floored at this (a common convention).
PSI_FLOOR = 1e-4
SCORE_HISTOGRAM_BINS = 20
MAX_ANOMALIES = 100
VERDICT_REASONS = 4  # reasons in the one-line verdict; the report lists them all
OTHER, NULL = "other", "null"

FEATURE_PSI, PREDICTION_PSI = "feature_psi", "prediction_psi"
REALIZED, REALIZED_DAILY, DATA_ANOMALY = "realized", "realized_daily", "anomaly"
MONITORING_SCHEMA = (
    "model string, model_version int, window_from date, window_to date, check string, name string, day date, "
    "value double, threshold double, crossed boolean, detail string"
)
PLOTS = {
    "psi.png": "Population stability index per input",
    "scores.png": "Predicted probability: reference and recent",
    "realized_auc.png": "Realized AUC per day",
}


def monitoring_table(model: str) -> str:
    return f"monitoring.{model}"


# ---------------------------------------------------------------------------------------------- PSI


def population_stability_index(reference: list[float], current: list[float]) -> float:
    """PSI = sum over bins of (current - reference) * ln(current / reference), on shares floored at
    PSI_FLOOR so an empty bin counts as a large, finite difference."""
    total = 0.0
    for r, c in zip(reference, current, strict=True):
        r, c = max(r, PSI_FLOOR), max(c, PSI_FLOOR)
        total += (c - r) * math.log(c / r)
    return total


@dataclass(frozen=True)
class Binning:
    """How one column is cut into bins: an int bin index per row, and each bin's label."""

    column: str
    labels: list[str]
    index: Column


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
    return Binning(column, [*labels, NULL], index.otherwise(F.lit(len(edges))))


def categorical_binning(column: str, categories: list[str]) -> Binning:
    """One bin per category, then one for every other value, then nulls."""
    value = F.col(column)
    index = F.when(value.isNull(), F.lit(len(categories) + 1))
    for i, category in enumerate(categories):
        index = index.when(value == F.lit(category), F.lit(i))
    return Binning(column, [*categories, OTHER, NULL], index.otherwise(F.lit(len(categories))))


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


def bin_shares(frame: DataFrame, binnings: list[Binning]) -> dict[str, list[float]]:
    """The share of the frame's rows in each bin of each column, in one pass."""
    pairs = F.array(*[F.struct(F.lit(b.column).alias("column"), b.index.alias("bin")) for b in binnings])
    counts = (
        frame.select(F.explode(pairs).alias("b"))
        .groupBy("b.column", "b.bin")
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
class Drift:
    column: str
    psi: float
    threshold: float
    decides: bool  # False: reported only (models.<name>.monitoring.report_only)
    labels: list[str]
    reference: list[float]
    current: list[float]

    @property
    def crossed(self) -> bool:
        return self.psi > self.threshold

    @property
    def alarming(self) -> bool:
        """Above its threshold, on an input that decides."""
        return self.decides and self.crossed

    @property
    def verdict(self) -> str:
        return "crossed" if self.alarming else ("" if self.decides else "reported only")


def drifts(
    reference: DataFrame, current: DataFrame, binnings: list[Binning], thresholds: dict[str, float], report_only
) -> list[Drift]:
    """The PSI of every binned column, from one pass over each side."""
    before, after = bin_shares(reference, binnings), bin_shares(current, binnings)
    return [
        Drift(
            b.column,
            population_stability_index(before[b.column], after[b.column]),
            thresholds[b.column],
            b.column not in report_only,
            b.labels,
            before[b.column],
            after[b.column],
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


# ---------------------------------------------------------------------------------------------- realized


def expected_calibration_error(calibration: list[dict]) -> float | None:
    """The row-weighted mean distance between predicted and observed rates over the calibration bins."""
    filled = [b for b in calibration if b["rows"]]
    total = sum(b["rows"] for b in filled)
    if not total:
        return None
    return sum(b["rows"] * abs(b["mean_predicted"] - b["observed_rate"]) for b in filled) / total


@dataclass(frozen=True)
class Realized:
    days: DateRange
    predicted: int  # predictions of those days
    labelled: int  # with a label (the others: excluded by the label definition, or no label yet)
    scores: evaluation.Scores | None  # None: too few labelled rows, or one class only
    calibration: list[dict]
    calibration_error: float | None


def realized_quality(labelled: DataFrame, label: str, threshold: float, days: DateRange, min_rows: int) -> Realized:
    """The metrics of predictions whose label is known, at the model's decision threshold."""
    window = labelled.where(delta.run_date_condition(days))
    counts = window.agg(
        F.count(F.lit(1)).alias("predicted"),
        F.count_if(F.col(label).isNotNull()).alias("labelled"),
        F.count_if(F.col(label) == F.lit(1)).alias("positives"),
    ).first()
    known = window.where(F.col(label).isNotNull())
    if counts["labelled"] < min_rows or counts["positives"] in (0, counts["labelled"]):
        return Realized(days, counts["predicted"], counts["labelled"], None, [], None)
    calibration = evaluation.calibration_table(known, label, PROBABILITY)
    return Realized(
        days,
        counts["predicted"],
        counts["labelled"],
        evaluation.evaluate(known, label, PROBABILITY, threshold),
        calibration,
        expected_calibration_error(calibration),
    )


def daily_auc(labelled: DataFrame, label: str) -> list[dict]:
    """Per run date: labelled rows and the realized AUC (null with one class only)."""
    rows = (
        evaluation.auc_roc(labelled.where(F.col(label).isNotNull()), label, PROBABILITY, by=[RUN_DATE])
        .orderBy(RUN_DATE)
        .collect()  # bounded: one row per day of the history
    )
    return [{"day": r[RUN_DATE], "rows": r["rows"], "auc_roc": r["auc_roc"]} for r in rows]


# ---------------------------------------------------------------------------------------------- anomalies


def recent_anomalies(spark: SparkSession, settings: Settings, tables: list[str], days: DateRange) -> list[dict]:
    """The anomalies the latest validation of each (table, run date) flagged, for these tables and days.
    An older validation's flag does not count once the day was validated again."""
    path = settings.table_path(settings.project.quality.results_table)
    if not delta.table_exists(spark, path):
        return []
    latest = Window.partitionBy("table", "run_date_from").rowsBetween(
        Window.unboundedPreceding, Window.unboundedFollowing
    )
    rows = (
        spark.read.format("delta")
        .load(path)
        .where(F.col("table").isin(tables) & F.col("run_date_from").between(F.lit(days.start), F.lit(days.end)))
        .withColumn("latest", F.max("validated_at").over(latest))
        .where((F.col("validated_at") == F.col("latest")) & (F.col("expectation_type") == F.lit(ANOMALY)))
        .select("table", F.col("run_date_from").alias("day"), "expectation", "observed_value")
        .orderBy("day", "table", "expectation")
        .limit(MAX_ANOMALIES)
        .collect()
    )
    return [r.asDict() for r in rows]


# ---------------------------------------------------------------------------------------------- the stage


@dataclass
class Monitoring:
    model: str
    version: int
    run_date: dt.date
    drift_days: DateRange
    reference_split: str
    reference_rows: int
    current_rows: int
    features: list[Drift]
    prediction: Drift
    realized: Realized
    daily: list[dict]
    test_metrics: dict
    anomalies: list[dict]
    conf: MonitoringConf
    reasons: list[str] = field(default_factory=list)

    def judge(self) -> None:
        """Every threshold crossed, as a phrase."""
        crossed = sorted((d for d in self.features if d.alarming), key=lambda d: -d.psi)
        self.reasons = [f"{d.column} PSI {d.psi:.3f} > {d.threshold}" for d in crossed]
        if self.prediction.crossed:
            self.reasons.append(f"predicted probability PSI {self.prediction.psi:.3f} > {self.prediction.threshold}")
        scores, test_auc = self.realized.scores, self.test_metrics.get("test_auc_roc")
        realized_auc = scores.auc_roc if scores else None
        if realized_auc is not None and test_auc is not None and realized_auc < test_auc - self.conf.max_auc_drop:
            self.reasons.append(
                f"realized AUC {realized_auc:.3f} is more than {self.conf.max_auc_drop} below the test AUC "
                f"{test_auc:.3f}"
            )
        error = self.realized.calibration_error
        if error is not None and error > self.conf.max_calibration_error:
            self.reasons.append(f"calibration error {error:.3f} > {self.conf.max_calibration_error}")

    @property
    def retrain_recommended(self) -> bool:
        return bool(self.reasons)

    def verdict(self, shown: int = VERDICT_REASONS) -> str:
        """One line: the first reasons (the largest drifts first), and how many more there are."""
        if not self.reasons:
            return "no threshold crossed: no retrain recommended"
        more = len(self.reasons) - shown
        return "retrain recommended: " + "; ".join(self.reasons[:shown]) + (f"; and {more} more" if more > 0 else "")


@dataclass
class MonitorResult:
    summary: StageSummary
    monitoring: Monitoring
    report_path: str

    @property
    def retrain_recommended(self) -> bool:
        return self.monitoring.retrain_recommended


def reference_scores(spark, settings: Settings, registered, manifest: dict, schema, split: str) -> DataFrame:
    """The model's inputs on a split of the training-set version it was trained on, with its probability."""
    rows = delta.read_version(spark, settings, manifest["table"], registered.training_set_version)
    return (
        tracking.load_spark_model(registered)
        .transform(rows.where(F.col(SPLIT) == F.lit(split)).transform(model_inputs(schema)))
        .select(*[c for c, _ in schema], vector_to_array("probability").getItem(1).alias(PROBABILITY))
    )


def labelled_predictions(spark, settings: Settings, plan: dict, predictions: DataFrame, days: DateRange) -> DataFrame:
    """The predictions of these days with the label the training set's definition gives each event now
    (null: excluded by the definition, or not landed yet)."""
    keys = plan["events"]["keys"]
    events = delta.read_table(spark, settings, plan["events"]["table"], days)
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
    plan = scoring_plan(spark, settings, manifest["plan"])
    schema = tracking.input_schema(registered)
    label = manifest["label"]
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
                f"{manifest['table']} v{registered.training_set_version} has no row in split {conf.reference_split} "
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
    read_tables = [plan["events"]["table"], *[g["table"] for g in plan["feature_groups"]]]
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


def monitoring_rows(m: Monitoring) -> list[tuple]:
    """The long form monitoring.<model> holds: one row per check and name (and day, for daily values)."""
    base = (m.model, m.version, m.drift_days.start, m.drift_days.end)
    rows = [
        (
            *base,
            FEATURE_PSI,
            d.column,
            None,
            d.psi,
            d.threshold,
            d.alarming,
            d.verdict if not d.decides else None,
        )
        for d in m.features
    ]
    p = m.prediction
    rows.append((*base, PREDICTION_PSI, PROBABILITY, None, p.psi, p.threshold, p.crossed, None))
    r = m.realized
    window = f"labels of {r.days}: {r.labelled} of {r.predicted} predictions labelled"
    test_auc = m.test_metrics.get("test_auc_roc")
    lowest_auc = None if test_auc is None else test_auc - m.conf.max_auc_drop
    auc = r.scores.auc_roc if r.scores else None
    error = r.calibration_error
    realized = [  # name, value, threshold, crossed
        ("auc_roc", auc, lowest_auc, auc is not None and lowest_auc is not None and auc < lowest_auc),
        ("log_loss", r.scores.log_loss if r.scores else None, None, False),
        ("brier", r.scores.brier if r.scores else None, None, False),
        (
            "calibration_error",
            error,
            m.conf.max_calibration_error,
            error is not None and error > m.conf.max_calibration_error,
        ),
        ("labelled_rows", float(r.labelled), None, False),
    ]
    rows += [(*base, REALIZED, name, None, value, limit, crossed, window) for name, value, limit, crossed in realized]
    for day in m.daily:
        rows.append((*base, REALIZED_DAILY, "auc_roc", day["day"], day["auc_roc"], None, False, f"{day['rows']} rows"))
    for a in m.anomalies:
        name = f"{a['table']}: {a['expectation']}"
        rows.append((*base, DATA_ANOMALY, name, a["day"], None, None, False, a["observed_value"]))
    return rows


# ---------------------------------------------------------------------------------------------- reports


def _top_drifts(m: Monitoring, count: int) -> list[Drift]:
    return sorted(m.features, key=lambda d: -d.psi)[:count]


def render_text(m: Monitoring, report_path: str) -> str:
    r = m.realized
    lines = [
        f"monitor {m.model} v{m.version} on {m.run_date}: {m.current_rows:,} predictions of {m.drift_days} against "
        f"{m.reference_rows:,} rows of the {m.reference_split} split",
        f"  PSI of the inputs (threshold {m.conf.feature_psi}), highest first:",
    ]
    for d in _top_drifts(m, 8):
        note = d.verdict
        lines.append(f"    {d.column:<28} {d.psi:8.3f}  {note}")
    lines.append(f"  PSI of the predicted probability: {m.prediction.psi:.3f} (threshold {m.prediction.threshold})")
    test = m.test_metrics
    if r.scores:
        lines.append(
            f"  realized on {r.days} ({r.labelled:,} labelled of {r.predicted:,}): AUC {number(r.scores.auc_roc)} "
            f"(test {number(test.get('test_auc_roc'))}), log loss {number(r.scores.log_loss)} "
            f"(test {number(test.get('test_log_loss'))}), calibration error {number(r.calibration_error)}"
        )
    else:
        lines.append(
            f"  realized on {r.days}: {r.labelled:,} labelled of {r.predicted:,} predictions, fewer than "
            f"{m.conf.min_labelled_rows} or one class only: no realized metrics yet"
        )
    lines.append(
        f"  data anomalies in the tables the model reads: {len(m.anomalies)}"
        + "".join(f"\n    {a['day']} {a['table']}: {a['expectation']} = {a['observed_value']}" for a in m.anomalies)
    )
    lines += [f"  {m.verdict()}", f"  drift report: {report_path}"]
    return "\n".join(lines)


def _plots(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    def psi(axes):
        shown = [*sorted(m.features, key=lambda d: d.psi), m.prediction]  # the highest at the top
        names = [d.column for d in shown]
        colors = ["#c0392b" if d.alarming else ("#2e86c1" if d.decides else "#999999") for d in shown]
        axes.barh(names, [d.psi for d in shown], color=colors)
        axes.axvline(m.conf.feature_psi, linestyle="--", color="#c0392b", label=f"threshold {m.conf.feature_psi}")
        axes.set(xlabel="PSI", title=f"PSI, {m.drift_days} against {m.reference_split}")
        axes.tick_params(axis="y", labelsize=6)
        axes.legend(loc="lower right")

    def scores(axes):
        width = 1.0 / SCORE_HISTOGRAM_BINS
        edges = [i * width for i in range(SCORE_HISTOGRAM_BINS)]
        axes.bar(edges, histograms["reference"], width=width, align="edge", alpha=0.5, label=m.reference_split)
        axes.bar(edges, histograms["recent"], width=width, align="edge", alpha=0.5, label=str(m.drift_days))
        axes.set(xlabel="predicted probability", ylabel="share of rows", title="Score distributions")
        axes.legend(loc="upper right")

    def realized_auc(axes):
        points = [(d["day"], d["auc_roc"]) for d in m.daily if d["auc_roc"] is not None]
        if points:
            days, values = zip(*points, strict=True)
            axes.plot(days, values, marker="o", label="realized AUC")
        test_auc = m.test_metrics.get("test_auc_roc")
        if test_auc is not None:
            axes.axhline(test_auc, linestyle="--", color="grey", label="test AUC")
            axes.axhline(test_auc - m.conf.max_auc_drop, linestyle=":", color="#c0392b", label="retrain below")
        axes.set(ylabel="AUC-ROC", title="Realized AUC per day", ylim=(0.4, 1.0))
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        axes.legend(loc="lower left")

    return {"psi.png": figure_png(psi), "scores.png": figure_png(scores), "realized_auc.png": figure_png(realized_auc)}


def render(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    """The drift report's files: drift_report.html and its plots."""
    e = html.escape
    plots = _plots(m, histograms)
    listed = [m.prediction, *sorted(m.features, key=lambda d: -d.psi)]
    drift = table(
        ["input", "PSI", "threshold", "verdict"],
        [[d.column, number(d.psi), d.threshold, d.verdict] for d in listed],
        ["flagged" if d.alarming else "" for d in listed],
    )
    r, test = m.realized, m.test_metrics
    realized = table(
        ["", "AUC-ROC", "AUC-PR", "log loss", "Brier", "precision", "recall", "F1", "calibration error"],
        [
            [
                "test split (at training)",
                number(test.get("test_auc_roc")),
                number(test.get("test_auc_pr")),
                number(test.get("test_log_loss")),
                number(test.get("test_brier")),
                number(test.get("test_precision")),
                number(test.get("test_recall")),
                number(test.get("test_f1")),
                "–",
            ],
            [
                f"realized {r.days}",
                *(
                    [
                        number(r.scores.auc_roc),
                        number(r.scores.auc_pr),
                        number(r.scores.log_loss),
                        number(r.scores.brier),
                        number(r.scores.precision),
                        number(r.scores.recall),
                        number(r.scores.f1),
                    ]
                    if r.scores
                    else ["–"] * 7
                ),
                number(r.calibration_error),
            ],
        ],
    )
    calibration = table(
        ["probability bin", "rows", "mean predicted", "observed"],
        [[b["bin"], f"{b['rows']:,}", number(b["mean_predicted"]), number(b["observed_rate"])] for b in r.calibration],
    )
    anomalies = table(
        ["day", "table", "anomaly", "observed"],
        [[a["day"], a["table"], a["expectation"], a["observed_value"]] for a in m.anomalies],
    )
    verdict = (
        '<tr class="flagged"><td><b>retrain recommended</b></td></tr>'
        if m.reasons
        else f"<tr><td>{e(m.verdict())}</td></tr>"
    )
    return {
        "drift_report.html": f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report: {e(m.model)} v{m.version}, {m.run_date}</title>
<style>{STYLE}</style></head><body>
<h1>Drift report: {e(m.model)} v{m.version}, {m.run_date}</h1>
<table><tbody>{verdict}</tbody></table>
<ul>{"".join(f"<li>{e(reason)}</li>" for reason in m.reasons)}</ul>
<p>{m.current_rows:,} predictions of {m.drift_days} against {m.reference_rows:,} rows of the
{e(m.reference_split)} split of the training set the model was trained on. Realized quality: labels of
{r.days} ({r.labelled:,} of {r.predicted:,} predictions labelled; labels land {m.conf.label_lag_days} day(s)
after the run date).</p>
<h2>Plots</h2>
{figures(plots, PLOTS)}
<h2>Population stability</h2>
{drift}
<h2>Realized quality</h2>
{realized}
<h2>Calibration (realized)</h2>
{calibration}
<h2>Data anomalies in the tables the model reads</h2>
<p>{len(m.anomalies)} anomalies flagged by the quality gates for {m.drift_days}.</p>
{anomalies}
</body></html>
""".encode(),
        **plots,
    }
