"""Bronze -> silver: the declared columns with their types, derived UTC timestamps, one row per key.

Daily facts replace their run-date slice; dimension snapshots are MERGEd on their keys. Rows with a null
key go to quarantine.silver_<table>; a second delivery of the same key is one row (the later delivery
wins) and the duplicates dropped are counted as rejected, so the numbers always add up.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurelake.core.columns import INGESTED_AT, LINEAGE_COLUMNS, REASONS, RUN_DATE, RUN_ID, SOURCE_FILE
from featurelake.core.conf.data import ArrivalTime, Derivation, LocalTime, PeriodTime
from featurelake.core.conf.tables import TableConf
from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError
from featurelake.core.settings import Settings
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.ingest.dating import iso_week_start
from featurelake.ingest.deliveries import folder_day
from featurelake.lake import quarantine
from featurelake.lake.stage import Context
from featurelake.quality import gate
from featurelake.quality.suites import suite_for

DUPLICATE_REASON = "duplicate key (a later delivery of the same key was kept)"
SUPERSEDED_REASON = "superseded by a later snapshot of the same key in the same run"
_RANK = "_key_rank"
_RUN = "_unchanged_run"
_LAST_RUN = "_last_run"


# ------------------------------------------------------------------------------------- pure transforms


def local_clock_to_utc(year: str, month: str, day: str, hhmm: str, timezone: str) -> Column:
    """A wall-clock time (date parts and an HHMM integer) in a named zone, as a UTC timestamp.

    A time in the hour skipped by the spring DST change moves forward by an hour (as java.time does);
    an ambiguous time in the repeated autumn hour takes the earlier, daylight-saving offset.
    A value that is no valid time (minutes over 59, hour over 23) gives null rather than failing the job.
    """
    return F.try_make_timestamp(
        years=F.col(year),
        months=F.col(month),
        days=F.col(day),
        hours=F.floor(F.col(hhmm) / 100).cast("int"),
        mins=(F.col(hhmm) % 100).cast("int"),
        secs=F.lit(0),
        timezone=F.lit(timezone),
    )


def local_time_to_utc(spec: LocalTime) -> Column:
    """A local date-time without offset (string or TIMESTAMP_NTZ) in a zone, as a UTC timestamp; null where it
    does not parse, lies in the hour the clocks skip, or lies in the repeated hour and ``ambiguous`` is refuse.

    Spark reads a wall time as UTC here (the session's zone), so ``to_utc_timestamp`` gives its first instant (the
    earlier offset in the repeated hour; the skipped hour shifted forward). Back in the zone, a skipped time is not
    the wall time any more; a repeated one is that wall time again an hour later."""
    wall = F.try_to_timestamp(F.col(spec.column).cast("string"))  # the wall time, read as if in UTC
    first = F.to_utc_timestamp(wall, spec.timezone)
    second = first + F.expr("INTERVAL 1 HOUR")
    exists = F.from_utc_timestamp(first, spec.timezone) == wall
    repeated = F.from_utc_timestamp(second, spec.timezone) == wall
    chosen = {"earlier": first, "later": F.when(repeated, second).otherwise(first)}
    refused = F.lit(None).cast("timestamp")
    value = chosen.get(spec.ambiguous, F.when(repeated, refused).otherwise(first))
    return F.when(exists, value).otherwise(refused)


def add_minutes(timestamp: str, minutes: str) -> Column:
    """A timestamp plus a (possibly fractional, possibly negative) number of minutes; null if either is null."""
    return F.timestamp_micros(F.unix_micros(F.col(timestamp)) + (F.col(minutes) * 60_000_000).cast("bigint"))


def period_time_to_utc(spec: PeriodTime) -> Column:
    """Local midnight at the start (or the end) of the period a row is dated by, shifted by the offset, in UTC.

    The period is the row's DATE, its (year, month[, day]) (a month when there is no day), or its ISO
    (year, week). Its end is the
    next period's start. The offset moves in local calendar time (months, then days, then hours), so a
    delivery "on the 15th of the next month" is at start + 1 month + 14 days, whatever the daylight-saving
    offset that day. Parts that make no date (month 13) give null rather than failing the job."""
    if spec.date is not None:
        first = F.col(spec.date).cast("date")
    elif spec.week is not None:
        first = iso_week_start(F.col(spec.year), F.col(spec.week))
    else:
        first = F.try_make_timestamp(
            years=F.col(spec.year),
            months=F.col(spec.month),
            days=F.col(spec.day) if spec.day else F.lit(1),
            hours=F.lit(0),
            mins=F.lit(0),
            secs=F.lit(0),
        ).cast("date")
    monthly = spec.date is None and spec.day is None and spec.week is None
    if spec.at == "end":
        first = F.add_months(first, 1) if monthly else F.date_add(first, 7 if spec.week is not None else 1)
    local = F.date_add(F.add_months(first, spec.offset.months), spec.offset.days)
    return F.try_make_timestamp(
        years=F.year(local),
        months=F.month(local),
        days=F.dayofmonth(local),
        hours=F.lit(spec.offset.hours),
        mins=F.lit(0),
        secs=F.lit(0),
        timezone=F.lit(spec.timezone),
    )


def arrival_time_to_utc(spec: ArrivalTime) -> Column:
    """Local midnight at the end (or the start) of the day a row's delivery arrived, the day its folder names
    (``<landing>/<source>/<arrival day>/<file>``, kept in _source_file), in UTC."""
    day = F.date_add(folder_day(), 1 if spec.at == "end" else 0)
    zero = F.lit(0)
    return F.try_make_timestamp(
        years=F.year(day), months=F.month(day), days=F.dayofmonth(day), hours=zero, mins=zero, secs=zero,
        timezone=F.lit(spec.timezone),
    )  # fmt: skip


def derive(derivations: list[Derivation]):
    """The transform that adds the declared derived columns, in order (a later one may use an earlier one)."""

    def apply(frame: DataFrame) -> DataFrame:
        for d in derivations:
            if d.local_clock is not None:
                c = d.local_clock
                frame = frame.withColumn(d.name, local_clock_to_utc(c.year, c.month, c.day, c.hhmm, c.timezone))
            elif d.local_time is not None:
                frame = frame.withColumn(d.name, local_time_to_utc(d.local_time))
            elif d.period_time is not None:
                frame = frame.withColumn(d.name, period_time_to_utc(d.period_time))
            elif d.arrival_time is not None:
                frame = frame.withColumn(d.name, arrival_time_to_utc(d.arrival_time))
            else:
                frame = frame.withColumn(d.name, add_minutes(d.add_minutes.timestamp, d.add_minutes.minutes))
        return frame

    return apply


def rank_within_key(keys: list[str]):
    """Number the rows of each key, 1 for the one to keep: the latest ingestion, then the latest file name,
    then (for identical deliveries) the greatest values, so the choice never depends on partitioning."""

    def apply(frame: DataFrame) -> DataFrame:
        others = [c for c in frame.columns if c not in keys and c not in LINEAGE_COLUMNS]
        order = [F.col(INGESTED_AT).desc(), F.col(SOURCE_FILE).desc(), *[F.col(c).desc_nulls_last() for c in others]]
        window = Window.partitionBy(*keys).orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        return frame.withColumn(_RANK, F.row_number().over(window))

    return apply


def null_key_reasons(keys: list[str]) -> Column:
    return F.filter(
        F.array(*[F.when(F.col(k).isNull(), F.lit(f"{k}: key is null")) for k in keys]), lambda r: r.isNotNull()
    )


# ------------------------------------------------------------------------------------------ the stages


def _bronze_business_columns(bronze: DataFrame) -> list[str]:
    return [c for c in bronze.columns if c not in LINEAGE_COLUMNS]


def refine(ctx: Context, table: str, run_dates: DateRange) -> list[StageSummary]:
    """Refine a bronze table's run dates into its silver table: periods replaced, snapshots merged on keys."""
    conf = ctx.settings.table(table)
    if conf.refine is None:
        raise InputError(f"Table {table} has no refine section in conf/base/tables.yaml, so it is not refined.")
    if ctx.catalog.table(table).cadence != "snapshot":
        return [_refine_periods(ctx, table, conf, run_dates)]
    return _refine_snapshots(ctx, table, conf, run_dates)


def _silver_columns(bronze: DataFrame, conf: TableConf) -> list[str]:
    return [*_bronze_business_columns(bronze), *[d.name for d in conf.refine.derive], *LINEAGE_COLUMNS]


def _suite(settings: Settings, table: str):
    return suite_for(settings, table, [*settings.business_columns(table), *LINEAGE_COLUMNS])


def _refine_periods(ctx: Context, table: str, conf: TableConf, run_dates: DateRange) -> StageSummary:
    settings, catalog, run_id = ctx.settings, ctx.catalog, ctx.run_id
    suite = _suite(settings, table)
    bronze = catalog.read(conf.refine.source, run_dates)
    settings.periods(table, run_dates, f"refine --table {table}")
    catalog.require_periods(conf.refine.source, run_dates, "ingest")
    keys = conf.keys
    columns = _silver_columns(bronze, conf)
    marked = (
        bronze.transform(derive(conf.refine.derive))
        .withColumn(RUN_ID, F.lit(run_id))
        .withColumn(REASONS, null_key_reasons(keys))
        .transform(rank_within_key(keys))
    )
    with accounted("refine", table, run_dates) as summary, persisted(marked) as prepared:
        counts = prepared.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.count_if(F.size(REASONS) > 0).alias("null_key"),
            F.count_if((F.size(REASONS) == 0) & (F.col(_RANK) > 1)).alias("duplicates"),
        ).first()
        candidates = prepared.where((F.size(REASONS) == 0) & (F.col(_RANK) == 1)).select(*columns, REASONS)
        gated, summary.gate = gate.run_gate(candidates, ctx, table, suite, run_dates)
        summary.rows_in, summary.rejected = counts["rows_in"], {DUPLICATE_REASON: counts["duplicates"]}
        summary.quarantined = counts["null_key"] + (summary.gate.quarantined if summary.gate else 0)
        business = [c for c in columns if c not in LINEAGE_COLUMNS]
        refused = prepared.select(*columns, REASONS).where(F.size(REASONS) > 0).unionByName(gated)
        refused_rows = quarantine.refused_rows(refused, F.to_json(F.struct(*business)), run_id)
        quarantine.publish(catalog, table, run_dates, refused_rows if summary.quarantined else None)
        commit = catalog.replace_slice(gated.where(F.size(REASONS) == 0).select(*columns), table, run_dates)
        gate.record_committed(ctx, summary.gate, commit.version)
        summary.published, summary.delta_version = commit.metrics.get("numOutputRows", 0), commit.version
    return summary


def _refine_snapshots(ctx: Context, table: str, conf: TableConf, run_dates: DateRange) -> list[StageSummary]:
    """Apply every snapshot delivered in the range in one job: what applying them oldest first would leave
    (``latest_of_each_key``; the rows a later snapshot replaced are counted as superseded), gated once, then
    one MERGE on the keys. Its cost grows with rows, not with deliveries."""
    settings, catalog, run_id = ctx.settings, ctx.catalog, ctx.run_id
    suite = _suite(settings, table)
    bronze = catalog.read(conf.refine.source, run_dates)
    _refuse_duplicate_keys(bronze, conf.keys, conf.refine.source)
    columns = _silver_columns(bronze, conf)
    business = [c for c in columns if c not in LINEAGE_COLUMNS]
    with_reasons = (
        bronze.transform(derive(conf.refine.derive))
        .withColumn(RUN_ID, F.lit(run_id))
        .withColumn(REASONS, null_key_reasons(conf.keys))
        .select(*columns, REASONS)
    )
    with accounted("refine", table, run_dates) as summary, persisted(with_reasons) as marked:
        counts = marked.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.count_if(F.size(REASONS) > 0).alias("null_key"),
            F.count_distinct(RUN_DATE).alias("snapshots"),
        ).first()
        if not counts["snapshots"]:
            raise InputError(
                f"{conf.refine.source} holds no snapshot between {run_dates.start} and {run_dates.end}; ingest one "
                f"first. Nothing was written to {table}."
            )
        candidates = marked.where(F.size(REASONS) == 0).transform(latest_of_each_key(conf.keys, business))
        with persisted(candidates) as latest:
            gated, summary.gate = gate.run_gate(latest, ctx, table, suite, run_dates)
            superseded = counts["rows_in"] - counts["null_key"] - latest.count()
            summary.rows_in, summary.rejected = counts["rows_in"], {SUPERSEDED_REASON: superseded}
            summary.quarantined = counts["null_key"] + (summary.gate.quarantined if summary.gate else 0)
            refused = marked.where(F.size(REASONS) > 0).unionByName(gated.where(F.size(REASONS) > 0))
            refused_rows = quarantine.refused_rows(refused, F.to_json(F.struct(*business)), run_id)
            quarantine.publish(catalog, table, run_dates, refused_rows if summary.quarantined else None)
            published = gated.where(F.size(REASONS) == 0).select(*columns)
            commit = catalog.merge_on_keys(published, table, conf.keys, newer_wins_on=RUN_DATE)
            gate.record_committed(ctx, summary.gate, commit.version)
        metrics = commit.metrics
        summary.published = summary.rows_in - summary.quarantined - superseded
        summary.delta_version = commit.version
        summary.detail = (
            f"merged: {metrics.get('numTargetRowsInserted', metrics.get('numOutputRows', 0))} inserted, "
            f"{metrics.get('numTargetRowsUpdated', 0)} updated"
            + (f" from {counts['snapshots']} snapshots" if counts["snapshots"] > 1 else "")
        )
    return [summary]


def latest_of_each_key(keys: list[str], compared: list[str]):
    """Per key, of several deliveries: the row applying them oldest first would leave — the latest values, as
    first delivered in the last run of deliveries that kept them unchanged (so an unchanged row keeps the
    lineage of the delivery that brought it)."""

    def apply(frame: DataFrame) -> DataFrame:
        order = [F.col(RUN_DATE), F.col(INGESTED_AT), F.col(SOURCE_FILE)]
        ordered = Window.partitionBy(*keys).orderBy(*order)  # lag's frame is fixed by Spark: one row back
        running = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
        whole = Window.partitionBy(*keys).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
        unchanged = reduce(
            Column.__and__,
            [F.col(c).eqNullSafe(F.lag(c).over(ordered)) for c in compared],
            F.lag(RUN_DATE).over(ordered).isNotNull(),
        )
        runs = frame.withColumn(_RUN, F.sum(F.when(unchanged, 0).otherwise(1)).over(running))
        first_of_run = (
            Window.partitionBy(*keys, _RUN).orderBy(*order).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        return (
            runs.withColumn(_LAST_RUN, F.max(_RUN).over(whole))
            .withColumn(_RANK, F.row_number().over(first_of_run))
            .where((F.col(_RUN) == F.col(_LAST_RUN)) & (F.col(_RANK) == 1))
            .drop(_RUN, _LAST_RUN, _RANK)
        )

    return apply


def _refuse_duplicate_keys(bronze: DataFrame, keys: list[str], source: str) -> None:
    """A snapshot holds one row per key: refuse the deliveries if any of them holds two (one aggregation)."""
    duplicated = (
        bronze.where(reduce(Column.__and__, [F.col(k).isNotNull() for k in keys]))
        .groupBy(RUN_DATE, *keys)
        .count()
        .where(F.col("count") > 1)
    )
    example = duplicated.orderBy(F.col("count").desc(), RUN_DATE, *keys).first()
    if example is not None:
        key_text = ", ".join(f"{k}={example[k]}" for k in keys)
        raise InputError(
            f"The {source} snapshot of {example[RUN_DATE]} holds {example['count']} rows with {key_text}; a "
            "snapshot must hold one row per key, so nothing was merged. Fix the delivery and ingest it again."
        )
