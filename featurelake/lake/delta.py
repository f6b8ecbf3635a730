"""Deprecated functional face of the catalog, kept only while the last stages move to ``Catalog``."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.lake.commits import (
    Commit,
    SliceWrittenConcurrently,
    StepContext,
    concurrent_write_errors,
    is_delta_table,
    last_commit,
    step_context,
)

__all__ = [
    "Commit",
    "SliceWrittenConcurrently",
    "StepContext",
    "concurrent_write_errors",
    "last_commit",
    "run_date_condition",
    "step_context",
]


def table_exists(spark: SparkSession, path: str) -> bool:
    return is_delta_table(spark, path)


def read_table(spark: SparkSession, settings: Settings, name: str, run_dates: DateRange | None = None) -> DataFrame:
    return Catalog(spark, settings).read(name, run_dates)


def read_version(spark: SparkSession, settings: Settings, name: str, version: int) -> DataFrame:
    return Catalog(spark, settings).read_version(name, version)


def replace_slice(frame: DataFrame, settings: Settings, name: str, run_dates: DateRange, merge_schema=False) -> Commit:
    return Catalog(frame.sparkSession, settings).replace_slice(frame, name, run_dates, merge_schema)


def append(frame: DataFrame, settings: Settings, name: str) -> Commit:
    return Catalog(frame.sparkSession, settings).append(frame, name)
