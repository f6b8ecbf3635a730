"""Landing zone -> bronze: explicit schemas, checked headers, malformed rows quarantined, lineage columns.

A delivery is ``<landing>/<source>/<run date>/<files>``. Every file is read with all columns as strings so
that a value that does not parse is caught per row and per column (with the column named in the reason),
instead of silently becoming null. Nothing is committed until the whole delivery has been checked:
rows dated another day, a changed header or key set, a retyped column and empty files stop the ingest with
one sentence and leave the tables as they were.
"""

from __future__ import annotations

import csv
import datetime as dt
import time
from collections import defaultdict
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake import lake, storage
from featurelake.config import Settings, SourceConf, quarantine_table
from featurelake.errors import InputError
from featurelake.lake import INGESTED_AT, REASONS, RUN_DATE, RUN_ID, SOURCE_FILE, DateRange
from featurelake.summary import StageSummary

CORRUPT = "_corrupt_record"
RAW = "_raw"
MALFORMED_REASON = "malformed record (unparseable line or wrong number of fields)"

SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "bigint": T.LongType(),
    "double": T.DoubleType(),
    "boolean": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField(RAW, T.StringType()),
        T.StructField(REASONS, T.ArrayType(T.StringType())),
        T.StructField(SOURCE_FILE, T.StringType()),
        T.StructField(INGESTED_AT, T.TimestampType()),
        T.StructField(RUN_ID, T.StringType()),
        T.StructField(RUN_DATE, T.DateType()),
    ]
)


@dataclass(frozen=True)
class Delivery:
    run_date: dt.date
    files: list[storage.FileInfo]


def delivered_snapshot_dates(
    spark: SparkSession, settings: Settings, source: str, run_dates: DateRange
) -> list[dt.date]:
    """The run dates in the range for which a snapshot source has a delivery folder."""
    delivered = {_parse_folder_date(name) for name in storage.list_directories(spark, settings.landing_path(source))}
    return sorted(d for d in delivered if d is not None and run_dates.start <= d <= run_dates.end)


def find_deliveries(spark: SparkSession, settings: Settings, source: str, run_dates: DateRange) -> list[Delivery]:
    """The files delivered for each run date; every date of a daily source must have a delivery."""
    conf = settings.source(source)
    root = settings.landing_path(source)
    if conf.cadence == "snapshot":
        dates = delivered_snapshot_dates(spark, settings, source, run_dates)
        if not dates:
            raise InputError(
                f"No {source} snapshot was delivered between {run_dates.start} and {run_dates.end} under {root}; "
                "deliver one as <run date>/<file> or widen the range."
            )
    else:
        dates = list(run_dates.days())
    deliveries = []
    for day in dates:
        folder = f"{root}/{day.isoformat()}"
        files = storage.list_files(spark, folder, conf.files)
        if not files and day in conf.known_gaps:
            continue
        if not files:
            raise InputError(
                f"No {source} delivery for {day}: no files matching {conf.files} in {folder}; deliver the files "
                "or leave the date out of the range. Nothing was written."
            )
        empty = [f.path for f in files if f.size == 0]
        if empty:
            raise InputError(f"{empty[0]} is empty; a delivery must hold rows. Nothing was written.")
        deliveries.append(Delivery(day, files))
    if not deliveries:
        raise InputError(
            f"Every date of {run_dates} is listed in sources.{source}.known_gaps, so there is nothing to ingest."
        )
    return deliveries


def _parse_folder_date(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None


# --------------------------------------------------------------------------------------- reading as text


def _check_columns(conf: SourceConf, source: str, file: str, found: list[str], ordered: bool) -> list[str]:
    """Compare a file's columns with the declared ones; return the columns to read (declared + allowed new)."""
    declared = list(conf.columns)
    evolution = conf.allow_evolution
    new = [c for c in found if c not in conf.columns]
    refused_new = [c for c in new if c not in evolution.new]
    missing = [c for c in declared if c not in found]
    refused_missing = [c for c in missing if c not in evolution.missing]
    where = f"sources.{source}.columns"
    if refused_new and refused_missing:
        raise InputError(
            f"{file} has column {refused_new[0]} where {where} expects {refused_missing[0]} (renamed?); fix the "
            f"delivery, or update {where} if the source changed. Nothing was written."
        )
    if refused_new:
        raise InputError(
            f"{file} has a new column {refused_new[0]} that {where} does not declare; add it to {where}, or to "
            f"sources.{source}.allow_evolution.new to keep it as a string column. Nothing was written."
        )
    if refused_missing:
        raise InputError(
            f"{file} lacks column {refused_missing[0]} declared in {where}; fix the delivery, or list it in "
            f"sources.{source}.allow_evolution.missing to fill it with nulls. Nothing was written."
        )
    known = [c for c in found if c in conf.columns]
    expected_order = [c for c in declared if c in found]
    if ordered and known != expected_order:
        first = next(i for i, (a, b) in enumerate(zip(known, expected_order, strict=True)) if a != b)
        raise InputError(
            f"{file} has its columns in another order than {where} (column {first + 1} is {known[first]}, "
            f"expected {expected_order[first]}); values would land in the wrong columns, so nothing was written. "
            "Fix the delivery or the declared order."
        )
    return known + [c for c in new]


def _string_schema(columns: list[str]) -> T.StructType:
    return T.StructType([T.StructField(c, T.StringType()) for c in columns] + [T.StructField(CORRUPT, T.StringType())])


def _read_csv(spark: SparkSession, conf: SourceConf, source: str, files: list[str]) -> DataFrame:
    by_header: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for file in files:
        line = storage.read_first_line(spark, file)
        if line is None or not line.strip():
            raise InputError(
                f"{file} has no header line; a CSV delivery starts with its column names. Nothing was written."
            )
        header = next(csv.reader([line], delimiter=conf.options.get("sep", conf.options.get("delimiter", ","))))
        columns = _check_columns(conf, source, file, [h.strip() for h in header], ordered=True)
        by_header[tuple(columns)].append(file)
    frames = [
        spark.read.options(**conf.options)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .schema(_string_schema(list(columns)))
        .csv(group)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
        for columns, group in by_header.items()
    ]
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    return frame


def _read_jsonl(spark: SparkSession, conf: SourceConf, source: str, files: list[str]) -> DataFrame:
    keys_by_file: dict[str, set[str]] = defaultdict(set)
    key_rows = (
        spark.read.text(files)
        .select(F.col("_metadata.file_path").alias("file"), F.explode(F.json_object_keys("value")).alias("key"))
        .distinct()
        .collect()  # bounded: one row per file and distinct key
    )
    for row in key_rows:
        keys_by_file[row["file"]].add(row["key"])
    columns: list[str] = list(conf.columns)
    for file in files:
        found = keys_by_file.get(_as_uri(file), keys_by_file.get(file, set()))
        ordered_found = [c for c in conf.columns if c in found] + sorted(found - set(conf.columns))
        for column in _check_columns(conf, source, file, ordered_found, ordered=False):
            if column not in columns:
                columns.append(column)
    return (
        spark.read.options(**conf.options)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .schema(_string_schema(columns))
        .json(files)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
    )


def _as_uri(path: str) -> str:
    return path if "://" in path or path.startswith("file:") else f"file:{path}"


# ------------------------------------------------------------------------------------------- the checks


def classify(raw: DataFrame, conf: SourceConf) -> DataFrame:
    """Add typed columns and a reasons array: empty for a good row, one entry per problem otherwise.

    ``raw`` holds the source columns as strings plus the corrupt-record column, _source_file and _run_date.
    """
    for column in conf.columns:
        if column not in raw.columns:  # allowed to be missing: nulls of its type
            raw = raw.withColumn(column, F.lit(None).cast(T.StringType()))
    parsed_line = F.col(CORRUPT).isNull()
    problems: list[Column] = [F.when(~parsed_line, F.lit(MALFORMED_REASON))]
    for column, type_name in conf.columns.items():
        does_not_parse = parsed_line & F.col(column).isNotNull() & F.col(column).try_cast(type_name).isNull()
        problems.append(F.when(does_not_parse, F.lit(f"{column}: not a {type_name}")))
    if conf.date_columns is not None:
        for part in ("year", "month", "day"):
            column = getattr(conf.date_columns, part)
            problems.append(
                F.when(parsed_line & F.col(column).isNull(), F.lit(f"{column}: missing, the row cannot be dated"))
            )
    return raw.withColumn(REASONS, F.filter(F.array(*problems), lambda p: p.isNotNull()))


def _row_date_matches(conf: SourceConf) -> Column:
    parts = conf.date_columns
    year, month, day = (F.col(getattr(parts, p)).try_cast("int") for p in ("year", "month", "day"))
    return (year == F.year(RUN_DATE)) & (month == F.month(RUN_DATE)) & (day == F.dayofmonth(RUN_DATE))


def profile_files(classified: DataFrame, conf: SourceConf) -> list:
    """One row per file: rows, malformed rows, rows dated another day, and per column the non-null values and
    those that do not parse. Bounded by the number of files."""
    good = F.size(REASONS) == 0
    aggregates = [
        F.count(F.lit(1)).alias("rows"),
        F.count_if(~good).alias("malformed"),
    ]
    if conf.date_columns is not None:
        off_date = good & ~_row_date_matches(conf)
        aggregates += [
            F.count_if(off_date).alias("off_date"),
            F.min(
                F.when(
                    off_date,
                    F.format_string(
                        "%s-%s-%s", *(F.col(getattr(conf.date_columns, p)) for p in ("year", "month", "day"))
                    ),
                )
            ).alias("off_date_example"),
        ]
    for column, type_name in conf.columns.items():
        parsed = F.col(CORRUPT).isNull() & F.col(column).isNotNull()
        aggregates += [
            F.count_if(parsed).alias(f"nonnull__{column}"),
            F.count_if(parsed & F.col(column).try_cast(type_name).isNull()).alias(f"bad__{column}"),
            F.min(F.when(parsed & F.col(column).try_cast(type_name).isNull(), F.col(column))).alias(
                f"example__{column}"
            ),
        ]
    return classified.groupBy(SOURCE_FILE).agg(*aggregates).collect()


def check_profiles(profiles: list, conf: SourceConf, source: str, files: list[str]) -> None:
    by_file = {row[SOURCE_FILE]: row for row in profiles}
    for file in files:
        if _as_uri(file) not in by_file and file not in by_file:
            raise InputError(f"{file} holds no rows; a delivery must hold rows. Nothing was written.")
    for row in profiles:
        if conf.date_columns is not None and row["off_date"]:
            raise InputError(
                f"{row[SOURCE_FILE]} holds {row['off_date']} rows dated other than its run date (for example "
                f"{row['off_date_example']}); deliver each day's rows in that day's folder. Nothing was written."
            )
        for column, type_name in conf.columns.items():
            bad, nonnull = row[f"bad__{column}"], row[f"nonnull__{column}"]
            if bad >= 2 and bad == nonnull and column not in conf.allow_evolution.retyped:
                raise InputError(
                    f"Column {column} of {row[SOURCE_FILE]} no longer parses as {type_name} in any of its {bad} "
                    f"values (for example {row[f'example__{column}']!r}); the source changed its type: update "
                    f"sources.{source}.columns, or list it in sources.{source}.allow_evolution.retyped to "
                    "quarantine those rows instead. Nothing was written."
                )


# ------------------------------------------------------------------------------------------- the stage


def ingest(spark: SparkSession, settings: Settings, source: str, run_dates: DateRange, run_id: str) -> StageSummary:
    """Ingest a source's deliveries for a range of run dates into its bronze table, in one commit."""
    started = time.monotonic()
    conf = settings.source(source)
    deliveries = find_deliveries(spark, settings, source, run_dates)
    files = [f.path for d in deliveries for f in d.files]
    raw = _read_csv(spark, conf, source, files) if conf.format == "csv" else _read_jsonl(spark, conf, source, files)
    # The folder a file was delivered in names its run date: <landing>/<source>/<run date>/<file>.
    raw = raw.withColumn(RUN_DATE, F.to_date(F.element_at(F.split(F.col(SOURCE_FILE), "/"), -2)))
    classified = classify(raw, conf).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        profiles = profile_files(classified, conf)
        check_profiles(profiles, conf, source, files)
        ingested_at = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lineage = [
            F.col(SOURCE_FILE),
            F.lit(ingested_at).cast(T.TimestampType()).alias(INGESTED_AT),
            F.lit(run_id).alias(RUN_ID),
            F.col(RUN_DATE),
        ]
        extra = [c for c in raw.columns if c not in conf.columns and c not in (CORRUPT, SOURCE_FILE, RUN_DATE)]
        good = classified.where(F.size(REASONS) == 0).select(
            *[F.col(c).try_cast(t).alias(c) for c, t in conf.columns.items()], *[F.col(c) for c in extra], *lineage
        )
        rows_in = sum(row["rows"] for row in profiles)
        malformed = sum(row["malformed"] for row in profiles)
        if rows_in == malformed:
            raise InputError(
                f"None of the {rows_in} rows delivered for {source} on {run_dates} could be read; see "
                f"{files[0]} against sources.{source}.columns. Nothing was written."
            )
        quarantine_name = quarantine_table(conf.table)
        if malformed:
            all_columns = [c for c in raw.columns if c not in (CORRUPT, SOURCE_FILE, RUN_DATE)]
            rejected_rows = classified.where(F.size(REASONS) > 0).select(
                F.coalesce(F.col(CORRUPT), F.to_json(F.struct(*all_columns))).alias(RAW), F.col(REASONS), *lineage
            )
            lake.replace_slice(rejected_rows, settings, quarantine_name, run_dates)
        else:
            lake.clear_slice(spark, settings, quarantine_name, run_dates, QUARANTINE_SCHEMA)
        commit = lake.replace_slice(good, settings, conf.table, run_dates, merge_schema=bool(conf.allow_evolution.new))
    finally:
        classified.unpersist()
    summary = StageSummary(
        stage="ingest",
        table=conf.table,
        run_dates=str(run_dates),
        rows_in=rows_in,
        published=commit.metrics.get("numOutputRows", 0),
        quarantined=malformed,
        delta_version=commit.version,
        seconds=time.monotonic() - started,
        detail=f"{len(files)} files",
    )
    summary.check_balance()
    return summary
