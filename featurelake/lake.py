"""Delta tables by logical name: read a run-date slice, replace it atomically, MERGE on keys.

Writes never append blindly: a run date's output replaces that run date's slice in one Delta commit, so
re-running a date changes nothing and a backfill of an old date lands beside newer ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.config import IDENTIFIER, Settings
from featurelake.errors import FeaturelakeError

RUN_DATE = "_run_date"
SOURCE_FILE = "_source_file"
INGESTED_AT = "_ingested_at"
RUN_ID = "_run_id"
REASONS = "_reasons"
LINEAGE_COLUMNS = (SOURCE_FILE, INGESTED_AT, RUN_ID, RUN_DATE)


@dataclass(frozen=True)
class DateRange:
    """Run dates from start to end, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise FeaturelakeError(
                f"The range ends ({self.end}) before it starts ({self.start}); swap --from and --to."
            )

    @classmethod
    def single(cls, day: dt.date) -> DateRange:
        return cls(day, day)

    def days(self) -> Iterator[dt.date]:
        day = self.start
        while day <= self.end:
            yield day
            day += dt.timedelta(days=1)

    def __str__(self) -> str:
        return str(self.start) if self.start == self.end else f"{self.start}..{self.end}"


@dataclass(frozen=True)
class Commit:
    version: int
    metrics: dict[str, int]


def run_date_condition(run_dates: DateRange) -> Column:
    return F.col(RUN_DATE).between(F.lit(run_dates.start), F.lit(run_dates.end))


def _replace_where(run_dates: DateRange) -> str:
    # Delta's replaceWhere takes SQL text. It is formatted here only from a fixed column name and two
    # datetime.date values, never from configuration or argument strings.
    return f"`{RUN_DATE}` >= DATE'{run_dates.start.isoformat()}' AND `{RUN_DATE}` <= DATE'{run_dates.end.isoformat()}'"


def table_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def read_table(spark: SparkSession, settings: Settings, name: str, run_dates: DateRange | None = None) -> DataFrame:
    path = settings.table_path(name)
    if not table_exists(spark, path):
        raise FeaturelakeError(f"Table {name} does not exist yet at {path}; run the stage that writes it first.")
    frame = spark.read.format("delta").load(path)
    return frame if run_dates is None else frame.where(run_date_condition(run_dates))


def read_version(spark: SparkSession, settings: Settings, name: str, version: int) -> DataFrame:
    """A table as it was at a Delta version (what a manifest recorded)."""
    path = settings.table_path(name)
    if not table_exists(spark, path):
        raise FeaturelakeError(f"Table {name} does not exist at {path}; run the stage that writes it first.")
    return spark.read.format("delta").option("versionAsOf", version).load(path)


def last_commit(spark: SparkSession, path: str) -> Commit:
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()
    metrics = {k: int(v) for k, v in (row["operationMetrics"] or {}).items() if str(v).isdigit()}
    return Commit(int(row["version"]), metrics)


def replace_slice(
    frame: DataFrame, settings: Settings, name: str, run_dates: DateRange, merge_schema: bool = False
) -> Commit:
    """Atomically replace the rows of these run dates in a table partitioned by run date."""
    spark = frame.sparkSession
    path = settings.table_path(name)
    partition_by = settings.tables[name].partition_by if name in settings.tables else [RUN_DATE]
    writer = (
        frame.write.format("delta")
        .mode("overwrite")
        .option("replaceWhere", _replace_where(run_dates))
        .partitionBy(*partition_by)
    )
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    writer.save(path)
    return last_commit(spark, path)


def append(frame: DataFrame, settings: Settings, name: str) -> Commit:
    """Append rows to a history table (a log, where every run adds its own rows)."""
    path = settings.table_path(name)
    frame.write.format("delta").mode("append").save(path)
    return last_commit(frame.sparkSession, path)


def clear_slice(spark: SparkSession, settings: Settings, name: str, run_dates: DateRange, schema) -> Commit | None:
    """Empty the rows of these run dates (a rerun that no longer produces rows must not leave old ones)."""
    path = settings.table_path(name)
    if not table_exists(spark, path):
        return None
    return replace_slice(spark.createDataFrame([], schema), settings, name, run_dates)


def merge_on_keys(frame: DataFrame, settings: Settings, name: str, keys: list[str], newer_wins_on: str) -> Commit:
    """Upsert rows on their keys. A row replaces the stored one only when it differs and is not older
    (by ``newer_wins_on``), so re-running a snapshot changes nothing and a backfill never undoes newer data."""
    from delta.tables import DeltaTable

    spark = frame.sparkSession
    path = settings.table_path(name)
    if not table_exists(spark, path):
        frame.write.format("delta").mode("overwrite").save(path)
        return last_commit(spark, path)
    for column in keys:
        assert_identifier(column)
    same_key = reduce(Column.__and__, [F.col(f"stored.{k}") == F.col(f"incoming.{k}") for k in keys])
    compared = [c for c in frame.columns if c not in keys and c not in LINEAGE_COLUMNS]
    changed = reduce(
        Column.__or__,
        [~F.col(f"stored.{c}").eqNullSafe(F.col(f"incoming.{c}")) for c in compared],
        F.lit(False),
    )
    not_older = F.col(f"incoming.{newer_wins_on}") >= F.col(f"stored.{newer_wins_on}")
    (
        DeltaTable.forPath(spark, path)
        .alias("stored")
        .merge(frame.alias("incoming"), same_key)
        .whenMatchedUpdateAll(condition=changed & not_older)
        .whenNotMatchedInsertAll()
        .execute()
    )
    return last_commit(spark, path)


def assert_identifier(name: str) -> None:
    import re

    if not re.match(IDENTIFIER, name):
        raise FeaturelakeError(f"{name!r} is not a plain column name (letters, digits, underscores).")
