"""Reading a delivery as text: every file's header (or keys) checked against the declared columns, every value
read as a string, the file each row came from kept (``_source_file``), unparseable lines kept whole in the corrupt-
record column. What the values mean is for the caller (featurelake.ingest.bronze) to decide.
"""

from __future__ import annotations

import csv
from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import SOURCE_FILE
from featurelake.core.conf.data import SourceConf
from featurelake.core.errors import InputError
from featurelake.lake import storage

CORRUPT = "_corrupt_record"


def read_delivery(spark: SparkSession, conf: SourceConf, source: str, files: list[str]) -> DataFrame:
    """The files of a delivery as rows of string columns (declared, then allowed new ones), the corrupt-record
    column and _source_file."""
    return read_csv(spark, conf, source, files) if conf.format == "csv" else read_jsonl(spark, conf, source, files)


def check_columns(conf: SourceConf, source: str, file: str, found: list[str], ordered: bool) -> list[str]:
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


def string_schema(columns: list[str]) -> T.StructType:
    return T.StructType([T.StructField(c, T.StringType()) for c in columns] + [T.StructField(CORRUPT, T.StringType())])


def read_csv(spark: SparkSession, conf: SourceConf, source: str, files: list[str]) -> DataFrame:
    by_header: dict[tuple[str, ...], list[str]] = defaultdict(list)
    encoding = conf.options.get("encoding", conf.options.get("charset", "utf-8"))
    for file, line in zip(files, storage.read_first_lines(spark, files, encoding), strict=True):
        if line is None or not line.strip():
            raise InputError(
                f"{file} has no header line; a CSV delivery starts with its column names. Nothing was written."
            )
        header = next(csv.reader([line], delimiter=conf.options.get("sep", conf.options.get("delimiter", ","))))
        columns = check_columns(conf, source, file, [h.strip() for h in header], ordered=True)
        by_header[tuple(columns)].append(file)
    frames = [
        spark.read.options(**conf.options)
        .option("header", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .schema(string_schema(list(columns)))
        .csv(group)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
        for columns, group in by_header.items()
    ]
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    return frame


def read_jsonl(spark: SparkSession, conf: SourceConf, source: str, files: list[str]) -> DataFrame:
    encoding = conf.options.get("encoding", conf.options.get("charset", "utf-8"))
    for file, line in zip(files, storage.read_first_lines(spark, files, encoding), strict=True):
        if line is not None and line.lstrip().startswith("["):
            raise InputError(
                f"{file} holds a JSON array; a {source} delivery is JSON Lines, one object per line. Nothing was "
                "written."
            )
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
        found = keys_by_file.get(as_uri(file), keys_by_file.get(file, set()))
        ordered_found = [c for c in conf.columns if c in found] + sorted(found - set(conf.columns))
        for column in check_columns(conf, source, file, ordered_found, ordered=False):
            if column not in columns:
                columns.append(column)
    return (
        spark.read.options(**conf.options)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .schema(string_schema(columns))
        .json(files)
        .withColumn(SOURCE_FILE, F.col("_metadata.file_path"))
    )


def as_uri(path: str) -> str:
    return path if "://" in path or path.startswith("file:") else f"file:{path}"
