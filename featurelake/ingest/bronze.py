"""Landing zone -> bronze: explicit schemas, checked headers, malformed rows quarantined, lineage columns.

A delivery is ``<landing>/<source>/<run date>/<files>``. Every file is read with all columns as strings so
that a value that does not parse is caught per row and per column (with the column named in the reason),
instead of silently becoming null. Nothing is committed until the whole delivery has been checked:
rows dated another day, a changed header or key set, a retyped column and empty files stop the ingest with
one sentence and leave the tables as they were.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import INGESTED_AT, LINEAGE_COLUMNS, REASONS, RUN_DATE, RUN_ID, SOURCE_FILE
from featurelake.core.conf.data import SourceConf
from featurelake.core.dates import DateRange, utc_from_micros
from featurelake.core.errors import InputError
from featurelake.core.periods import Grain
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.ingest import dating
from featurelake.ingest.arrivals import OUTSIDE_ARRIVAL, by_arrival, check_arrived
from featurelake.ingest.deliveries import find_deliveries, folder_day
from featurelake.ingest.reading import CORRUPT, as_uri, read_delivery
from featurelake.lake import quarantine
from featurelake.lake.stage import Context
from featurelake.quality import gate
from featurelake.quality.suites import suite_for

MALFORMED_REASON = "malformed record (unparseable line or wrong number of fields)"
NOT_A = "not a"

SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}


# ------------------------------------------------------------------------------------------- the checks


def classify(raw: DataFrame, conf: SourceConf) -> DataFrame:
    """Parse every value with its declared type, once, and say what is wrong with each row.

    ``raw`` holds the source columns as strings plus the corrupt-record column, _source_file and _run_date.
    The result holds the declared columns typed, allowed new columns as strings, a reasons array (empty for
    a good row, one entry per problem otherwise) and, for refused rows only, the raw text.
    """
    for column in conf.columns:
        if column not in raw.columns:  # allowed to be missing: nulls of its type
            raw = raw.withColumn(column, F.lit(None).cast(T.StringType()))
    parsed_line = F.col(CORRUPT).isNull()
    typed = {column: F.col(column).try_cast(type_name) for column, type_name in conf.columns.items()}
    utf8 = conf.options.get("encoding", conf.options.get("charset", "utf-8")).lower().replace("-", "") == "utf8"
    problems: list[Column] = [F.when(~parsed_line, F.lit(MALFORMED_REASON))]
    for column, type_name in conf.columns.items():
        does_not_parse = parsed_line & F.col(column).isNotNull() & typed[column].isNull()
        problems.append(F.when(does_not_parse, F.lit(f"{column}: {NOT_A} {type_name}")))
        if utf8:  # a byte that was no UTF-8 is decoded as U+FFFD: the value is not what was sent
            not_text = parsed_line & F.col(column).contains("\ufffd")
            problems.append(F.when(not_text, F.lit(f"{column}: not valid UTF-8 text")))
        if type_name == "double":  # NaN, Infinity and 1e400 parse as doubles, but are no measurement
            infinite = F.abs(typed[column]) == F.lit(float("inf"))
            not_finite = parsed_line & typed[column].isNotNull() & (F.isnan(typed[column]) | infinite)
            problems.append(F.when(not_finite, F.lit(f"{column}: {NOT_A} finite double")))
    if conf.date_columns is not None:
        for column in conf.date_columns.columns.values():
            problems.append(
                F.when(parsed_line & F.col(column).isNull(), F.lit(f"{column}: missing, the row cannot be dated"))
            )
        dated = dating.row_date(conf.date_columns, typed.__getitem__)
        given = [typed[c].isNotNull() for c in conf.date_columns.columns.values()]
        no_date = parsed_line & reduce(lambda a, b: a & b, given) & dated.isNull()
        names = ", ".join(conf.date_columns.columns.values())
        problems.append(F.when(no_date, F.lit(f"{names}: not a date, the row cannot be dated")))
    if OUTSIDE_ARRIVAL in raw.columns:
        late = (
            f"{names}: its period's deliveries arrive within {conf.arrives_within} of it, not on the day this arrived"
        )
        problems.append(F.when(parsed_line & F.col(OUTSIDE_ARRIVAL), F.lit(late)))
    reasons = F.filter(F.array(*problems), lambda p: p.isNotNull())
    source_columns = [c for c in raw.columns if c not in (CORRUPT, SOURCE_FILE, RUN_DATE, OUTSIDE_ARRIVAL)]
    raw_text = F.when(F.size(reasons) > 0, F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*source_columns))))
    extra = [c for c in source_columns if c not in conf.columns]
    return raw.select(
        *[typed[c].alias(c) for c in conf.columns],
        *extra,
        reasons.alias(REASONS),
        raw_text.alias(quarantine.RAW),
        SOURCE_FILE,
        RUN_DATE,
    )


def _row_in_period(conf: SourceConf, grain: Grain) -> Column:
    """The row falls in the period its folder names (its run date is that period's first day)."""
    return dating.period_start(dating.row_date(conf.date_columns), grain) == F.col(RUN_DATE)


@dataclass(frozen=True)
class FileProfile:
    rows: int
    refused: int
    off_date: int
    off_date_example: str | None
    periods: frozenset[dt.date]  # the run dates of its good rows
    parsed_values: dict[str, int]  # per column: values that parsed
    unparsed_values: dict[str, tuple[int, str]]  # per column: values that did not, and one of those rows


def profile_files(classified: DataFrame, conf: SourceConf, grain: Grain) -> dict[str, FileProfile]:
    """Per file: rows, refused rows, rows dated another day, and per column the values that parsed and those
    that did not. One small aggregation (two when some row was refused); the result is bounded by files x columns."""
    good = F.size(REASONS) == 0
    aggregates = [F.count(F.lit(1)).alias("rows"), F.count_if(~good).alias("refused")]
    aggregates.append(F.collect_set(F.when(good, F.col(RUN_DATE))).alias("periods"))  # bounded: periods of a file
    if conf.date_columns is not None:
        off_date = good & ~_row_in_period(conf, grain)
        date_text = dating.row_text(conf.date_columns)
        aggregates += [F.count_if(off_date).alias("off_date"), F.min(F.when(off_date, date_text)).alias("example")]
    aggregates += [F.count(column).alias(f"parsed__{column}") for column in conf.columns]
    per_file = classified.groupBy(SOURCE_FILE).agg(*aggregates).collect()
    unparsed: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
    refused = any(row["refused"] for row in per_file)
    failures = (  # a second pass only when some row was refused (a clean delivery costs one)
        classified.where(~good)
        .select(SOURCE_FILE, quarantine.RAW, F.explode(REASONS).alias("reason"))
        .where(F.col("reason").contains(f": {NOT_A} "))
        .groupBy(SOURCE_FILE, "reason")
        .agg(F.count(F.lit(1)).alias("n"), F.min(quarantine.RAW).alias("example"))
        .collect()
        if refused
        else []
    )
    for row in failures:
        unparsed[row[SOURCE_FILE]][row["reason"].split(":", 1)[0]] = (row["n"], row["example"])
    return {
        row[SOURCE_FILE]: FileProfile(
            rows=row["rows"],
            refused=row["refused"],
            off_date=row["off_date"] if conf.date_columns is not None else 0,
            off_date_example=row["example"] if conf.date_columns is not None else None,
            periods=frozenset(row["periods"]),
            parsed_values={c: row[f"parsed__{c}"] for c in conf.columns},
            unparsed_values=unparsed[row[SOURCE_FILE]],
        )
        for row in per_file
    }


def check_profiles(
    profiles: dict[str, FileProfile], conf: SourceConf, source: str, files: list[str], grain: Grain
) -> None:
    for file in files if conf.folders == "period" else ():  # an arrival's rows may all be another period's
        if as_uri(file) not in profiles and file not in profiles:
            raise InputError(f"{file} holds no rows; a delivery must hold rows. Nothing was written.")
    for file, profile in profiles.items():
        if profile.off_date:
            folder = "that day's folder" if grain.unit == "day" else "the folder of its first day"
            raise InputError(
                f"{file} holds {profile.off_date} rows dated outside the {grain.noun} of its folder (for example "
                f"{profile.off_date_example}); deliver each {grain.noun}'s rows in {folder}, or, if the folders are "
                f"named by the day a delivery arrived, set sources.{source}.folders: arrival and arrives_within. "
                "Nothing was written."
            )
        for column, (bad, example) in profile.unparsed_values.items():
            retyped = bad >= 2 and profile.parsed_values[column] == 0
            if retyped and column not in conf.allow_evolution.retyped:
                raise InputError(
                    f"Column {column} of {file} no longer parses as {conf.columns[column]} in any of its {bad} "
                    f"values (for example in the row {example}); the source changed its type: update "
                    f"sources.{source}.columns, or list it in sources.{source}.allow_evolution.retyped to "
                    "quarantine those rows instead. Nothing was written."
                )


def check_hours(good: DataFrame, conf: SourceConf, source: str, days: list[dt.date]) -> None:
    """Every hour of each delivered local day has rows: 24, or 23 and 25 when the clocks change."""
    # as seconds since the epoch: a collected TIMESTAMP would be in the process's local time
    hour = F.unix_micros(F.date_trunc("hour", F.col(conf.date_columns.timestamp)))
    present = defaultdict(set)
    for row in good.select(RUN_DATE, hour.alias("hour")).distinct().collect():  # bounded: 25 per day
        present[row[RUN_DATE]].add(utc_from_micros(row["hour"]))
    timezone = conf.date_columns.timezone or "UTC"
    for day in days:
        hours = dating.hours_of_local_day(day, timezone)
        missing = [h for h in hours if h not in present[day]]
        if missing:
            raise InputError(
                f"The {source} delivery of {day} lacks {len(missing)} of the {len(hours)} hours of that day in "
                f"{timezone} (the first: {dating.local_hour_text(missing[0], timezone)}); deliver the missing "
                f"hours, or list the day under sources.{source}.known_gaps. Nothing was written."
            )


# ------------------------------------------------------------------------------------------- the stage


def ingest(ctx: Context, source: str, run_dates: DateRange) -> StageSummary:
    """Ingest a source's deliveries for a range of run dates into its bronze table, in one commit."""
    spark, settings, catalog, run_id = ctx.spark, ctx.settings, ctx.catalog, ctx.run_id
    conf = settings.source(source)
    suite = suite_for(settings, conf.table, [*settings.business_columns(conf.table), *LINEAGE_COLUMNS])
    deliveries = find_deliveries(spark, settings, source, run_dates)
    files = [f.path for d in deliveries for f in d.files]
    # The folder a file was delivered in names its run date (or, for folders: arrival, the day it arrived).
    raw = read_delivery(spark, conf, source, files).withColumn(RUN_DATE, folder_day())
    grain = catalog.table(conf.table).grain
    periods = [d.run_date for d in deliveries]
    if conf.folders == "arrival":  # the folder is the arrival day: a row's period is its date columns'
        periods = [p for p in settings.periods(conf.table, run_dates, "ingest") if p not in conf.known_gaps]
        raw = by_arrival(raw, conf, grain, periods)
    # aware: Spark stores this instant whatever the process's time zone (a naive value would be read as local)
    ingested_at = F.lit(dt.datetime.now(dt.UTC)).cast(T.TimestampType())
    lineage = classify(raw, conf).withColumn(INGESTED_AT, ingested_at).withColumn(RUN_ID, F.lit(run_id))
    with accounted("ingest", conf.table, run_dates) as summary, persisted(lineage) as classified:
        profiles = profile_files(classified, conf, grain)
        check_profiles(profiles, conf, source, files, grain)
        if conf.folders == "arrival":
            check_arrived(frozenset().union(*(p.periods for p in profiles.values())), settings, source, periods)
        if conf.cadence == "hourly":
            check_hours(classified.where(F.size(REASONS) == 0), conf, source, periods)
        summary.rows_in = sum(p.rows for p in profiles.values())
        unreadable = sum(p.refused for p in profiles.values())
        if summary.rows_in == unreadable:
            raise InputError(
                f"None of the {summary.rows_in} rows delivered for {source} on {run_dates} could be read; see "
                f"{files[0]} against sources.{source}.columns. Nothing was written."
            )
        candidates = classified.where(F.size(REASONS) == 0)
        candidates, summary.gate = gate.run_gate(candidates, ctx, conf.table, suite, run_dates)
        summary.quarantined = unreadable + (summary.gate.quarantined if summary.gate else 0)
        source_columns = [c for c in classified.columns if c in conf.columns or c in conf.allow_evolution.new]
        refused = classified.where(F.size(REASONS) > 0).unionByName(candidates.where(F.size(REASONS) > 0))
        raw_text = F.coalesce(F.col(quarantine.RAW), F.to_json(F.struct(*source_columns)))
        refused_rows = quarantine.refused_rows(refused, raw_text, run_id)
        quarantine.publish(catalog, conf.table, run_dates, refused_rows if summary.quarantined else None)
        published = candidates.where(F.size(REASONS) == 0).select(*source_columns, *LINEAGE_COLUMNS)
        commit = catalog.replace_slice(published, conf.table, run_dates, merge_schema=bool(conf.allow_evolution.new))
        gate.record_committed(ctx, summary.gate, commit.version)
        summary.published, summary.delta_version = commit.metrics.get("numOutputRows", 0), commit.version
        summary.detail = f"{len(files)} files"
    return summary
