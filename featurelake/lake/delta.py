"""Delta tables by logical name: read a run-date slice, replace it atomically, MERGE on keys.

Writes never append blindly: a run date's output replaces that run date's slice in one Delta commit, so
re-running a date changes nothing and a backfill of an old date lands beside newer ones.

Every commit made while a pipeline step runs carries the step, its run dates and run id as Delta's
userMetadata. When a commit conflicts, that is how it is told apart whether another run has just written the
same step's slice (then this one has nothing left to do) or the conflict is one to retry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import LINEAGE_COLUMNS, RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError, NotReady
from featurelake.core.schema.data import IDENTIFIER
from featurelake.core.settings import Settings


@dataclass(frozen=True)
class Commit:
    version: int
    metrics: dict[str, int]


@dataclass(frozen=True)
class StepContext:
    """The pipeline step whose commits are being made: recorded in each commit's userMetadata."""

    step: str
    run_dates: DateRange
    run_id: str

    def metadata(self) -> str:
        """A commit's userMetadata; unique per write, so that the write finds its own commit among concurrent ones."""
        step = {"step": self.step, "from": str(self.run_dates.start), "to": str(self.run_dates.end)}
        return json.dumps({**step, "run_id": self.run_id, "write": uuid.uuid4().hex})

    def overlaps(self, metadata: str | None) -> str | None:
        """The run id of another run's commit of this step over overlapping run dates, else None."""
        try:
            other = json.loads(metadata or "")
        except ValueError:
            return None
        if not isinstance(other, dict) or other.get("step") != self.step or other.get("run_id") == self.run_id:
            return None
        starts, ends = dt.date.fromisoformat(other["from"]), dt.date.fromisoformat(other["to"])
        return other["run_id"] if starts <= self.run_dates.end and self.run_dates.start <= ends else None


# Threads of one SparkSession each run their own step, so the current step is a context variable.
_current_step: ContextVar[StepContext | None] = ContextVar("featurelake_step", default=None)


@contextlib.contextmanager
def step_context(context: StepContext) -> Iterator[None]:
    token = _current_step.set(context)
    try:
        yield
    finally:
        _current_step.reset(token)


class SliceWrittenConcurrently(Exception):
    """Another run committed the same step's slice while this one was writing it: nothing is left to do."""

    def __init__(self, table: str, other_run_id: str):
        super().__init__(f"run {other_run_id} wrote {table} for the same step and run dates meanwhile")
        self.table = table
        self.other_run_id = other_run_id


def concurrent_write_errors() -> tuple[type[Exception], ...]:
    """Delta's commit conflicts (optimistic concurrency): the only failures a step is retried on."""
    from delta import exceptions as delta_errors

    return (
        delta_errors.DeltaConcurrentModificationException,
        delta_errors.ConcurrentWriteException,
        delta_errors.MetadataChangedException,
        delta_errors.ProtocolChangedException,
        delta_errors.ConcurrentAppendException,
        delta_errors.ConcurrentDeleteReadException,
        delta_errors.ConcurrentDeleteDeleteException,
        delta_errors.ConcurrentTransactionException,
    )


def _current_version(spark: SparkSession, path: str) -> int | None:
    from delta.tables import DeltaTable

    if not table_exists(spark, path):
        return None
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()["version"])


@contextlib.contextmanager
def _committing(spark: SparkSession, name: str, path: str) -> Iterator[int | None]:
    """Yield the version the write starts from; tell a conflict with another run's commit of the same step
    apart from one worth retrying."""
    context = _current_step.get()
    before = _current_version(spark, path) if context else None
    try:
        yield before
    except concurrent_write_errors():
        if context is not None:
            newer = _commits_since(spark, path, before).select("userMetadata")
            for row in newer.collect():  # the commits made since this write began: a handful
                other_run = context.overlaps(row["userMetadata"])
                if other_run:
                    raise SliceWrittenConcurrently(name, other_run) from None
        raise


def _save(writer, spark: SparkSession, path: str, before: int | None) -> Commit:
    """Save and return the commit made: found by its userMetadata among the commits since ``before`` (the
    version the write started from), since other runs may be committing too."""
    context = _current_step.get()
    if context is None:
        writer.save(path)
        return last_commit(spark, path)

    metadata = context.metadata()
    writer.option("userMetadata", metadata).save(path)
    ours = F.col("userMetadata") == F.lit(metadata)
    row = _commits_since(spark, path, before).where(ours).select("version", "operationMetrics").first()
    if row is None:  # the latest version read may lag a concurrent writer's: look a bounded way further back
        from delta.tables import DeltaTable

        row = DeltaTable.forPath(spark, path).history(50).where(ours).select("version", "operationMetrics").first()
    if row is None:  # Delta commits nothing for a write that neither adds nor removes a file
        return Commit(before, {})
    return _commit_of(row)


def _commits_since(spark: SparkSession, path: str, before: int | None) -> DataFrame:
    """The history rows of the commits after version ``before`` (a handful: this write's and concurrent ones)."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    latest = int(table.history(1).select("version").first()["version"])
    return table.history(max(1, latest - (-1 if before is None else before)))


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
        raise NotReady(f"Table {name} does not exist yet at {path}; run the stage that writes it first.")
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

    return _commit_of(DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first())


def _commit_of(row) -> Commit:
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
    with _committing(spark, name, path) as before:
        return _save(writer, spark, path, before)


def append(frame: DataFrame, settings: Settings, name: str) -> Commit:
    """Append rows to a history table (a log, where every run adds its own rows)."""
    path = settings.table_path(name)
    spark = frame.sparkSession
    before = _current_version(spark, path) if _current_step.get() else None
    return _save(frame.write.format("delta").mode("append"), spark, path, before)


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
