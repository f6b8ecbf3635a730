"""Delta commits that say who made them.

Every commit made while a pipeline step runs carries the step, its run dates and run id as Delta's
userMetadata (with a unique write id, so a write finds its own commit among concurrent ones). When a commit
conflicts, that is how it is told apart whether another run has just written the same step's slice (then this
one has nothing left to do) or the conflict is one to retry.

Only the catalog (featurelake.lake.catalog) calls ``commit``; everything else reads the step context.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.lake import storage

# Delta takes the userMetadata of a MERGE (which has no write options) from this session setting.
USER_METADATA_SETTING = "spark.databricks.delta.commitInfo.userMetadata"
# Delta sets this session setting to the version of the session's latest commit.
LAST_COMMIT_SETTING = "spark.databricks.delta.lastCommitVersionInSession"
# A write looks for its own commit among the latest few, then a bounded way further back (concurrent writers).
RECENT_COMMITS = 5
HISTORY_LOOKBACK = 50


@dataclass(frozen=True)
class Commit:
    """A Delta commit: its version and its operation metrics (numOutputRows, numTargetRowsInserted, ...)."""

    version: int | None
    metrics: dict[str, int]


@dataclass(frozen=True)
class StepContext:
    """The pipeline step whose commits are being made: recorded in each commit's userMetadata."""

    step: str
    run_dates: DateRange
    run_id: str

    def metadata(self, extra: dict[str, Any] | None = None) -> str:
        """A commit's userMetadata; unique per write, so that the write finds its own commit among concurrent ones."""
        step = {"step": self.step, "from": str(self.run_dates.start), "to": str(self.run_dates.end)}
        return json.dumps({**(extra or {}), **step, "run_id": self.run_id, "write": uuid.uuid4().hex}, sort_keys=True)

    def covered_by(self, metadata: str | None) -> str | None:
        """The run id of another run's commit of this step over all of this one's run dates, else None (a
        commit over only some of them leaves the others to write: that conflict is retried)."""
        try:
            other = json.loads(metadata or "")
        except ValueError:
            return None
        if not isinstance(other, dict) or other.get("step") != self.step or other.get("run_id") == self.run_id:
            return None
        starts, ends = dt.date.fromisoformat(other["from"]), dt.date.fromisoformat(other["to"])
        return other["run_id"] if starts <= self.run_dates.start and self.run_dates.end <= ends else None


# Threads of one SparkSession each run their own step, so the current step is a context variable.
_current_step: ContextVar[StepContext | None] = ContextVar("featurelake_step", default=None)
# The MERGE metadata is a session setting shared by every thread: one MERGE at a time sets it.
_session_setting = threading.Lock()


def current_step() -> StepContext | None:
    """The step this thread's commits belong to (None outside a step)."""
    return _current_step.get()


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


def is_delta_table(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def latest_version(spark: SparkSession, path: str) -> int | None:
    """The table's latest version, None where there is no Delta table: Delta brings its log up to date (a listing
    of _delta_log from its last checkpoint, as every read does) and says the version, without a Spark job (the
    history is one per call)."""
    if not is_delta_table(spark, path):
        return None
    log = spark._jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    # DeltaLog.update(stalenessAcceptable, checkIfUpdatedSinceTs, catalogTable) with its Scala defaults
    defaults = [getattr(log, f"update$default${n}")() for n in (1, 2, 3)]
    return int(log.update(*defaults).version())


def commit(
    spark: SparkSession, name: str, path: str, write: Callable[[str], None], extra: dict | None = None
) -> Commit:
    """Make one write of a table (``write(user_metadata)``) and return the commit it made.

    Under a step, the commit carries the step's metadata (plus ``extra``); every commit carries a unique write
    id, by which it is found (its log file, else the table's latest commits: other runs may be committing too,
    and another thread of this session); a conflict with another
    run's commit of the same step and overlapping run dates, made since this write started, raises
    SliceWrittenConcurrently."""
    context = current_step()
    # every write is tagged, so that its commit is read from its own log file rather than the table's history
    metadata = context.metadata(extra) if context else json.dumps({**(extra or {}), "write": uuid.uuid4().hex})
    started = time.time_ns() // 1000  # microseconds since the epoch, as the history's times are compared
    try:
        write(metadata)
    except concurrent_write_errors():
        if context is not None:
            for row in _history(spark, path, HISTORY_LOOKBACK):
                other_run = context.covered_by(row["userMetadata"]) if row["micros"] >= started else None
                if other_run:
                    raise SliceWrittenConcurrently(name, other_run) from None
        raise
    return _own_commit(spark, path, metadata)


@contextlib.contextmanager
def session_user_metadata(spark: SparkSession, metadata: str) -> Iterator[None]:
    """Set the userMetadata of the commits made inside (a MERGE's), one writer at a time."""
    with _session_setting:
        spark.conf.set(USER_METADATA_SETTING, metadata)
        try:
            yield
        finally:
            spark.conf.unset(USER_METADATA_SETTING)


def _own_commit(spark: SparkSession, path: str, metadata: str) -> Commit:
    """The commit carrying this write's metadata: the one Delta says this session made last, read from its log
    file; else found among the latest commits (a bounded way further back when concurrent writers committed
    after it). A write that neither added nor removed a file committed nothing: the table stays at its latest
    version."""
    found = _session_last_commit(spark, path, metadata)
    if found is not None:
        return found
    for depth in (RECENT_COMMITS, HISTORY_LOOKBACK):
        rows = _history(spark, path, depth)
        ours = [row for row in rows if row["userMetadata"] == metadata]
        if ours:
            return _commit_of(ours[0])
        if len(rows) < depth:  # the whole history was read
            break
    return Commit(max((int(r["version"]) for r in rows), default=None), {})


def _session_last_commit(spark: SparkSession, path: str, metadata: str) -> Commit | None:
    """The commit Delta records as this session's last, when it is this write's (another thread of the session
    may have committed since): its commitInfo, the first action of its log file (Delta's protocol), read
    without a Spark job."""
    version = spark.conf.get(LAST_COMMIT_SETTING, None)
    if not version or not version.isdigit():
        return None
    try:
        line = storage.read_first_line(spark, f"{path.rstrip('/')}/_delta_log/{int(version):020d}.json")
        info = json.loads(line or "{}").get("commitInfo") or {}
    except (OSError, ValueError, Py4JError, FeaturelakeError):  # no such file, or no JSON: the history decides
        return None
    if info.get("userMetadata") != metadata:
        return None
    return Commit(int(version), _metrics(info.get("operationMetrics")))


def _history(spark: SparkSession, path: str, depth: int) -> list:
    """The latest ``depth`` commits of a table, newest first (a bounded collect)."""
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, path).history(depth)
    # as microseconds since the epoch: a collected TIMESTAMP would be in the process's local time
    micros = F.unix_micros("timestamp").alias("micros")
    return history.select("version", micros, "userMetadata", "operationMetrics").collect()


def _commit_of(row) -> Commit:
    return Commit(int(row["version"]), _metrics(row["operationMetrics"]))


def _metrics(operation_metrics: dict | None) -> dict[str, int]:
    return {k: int(v) for k, v in (operation_metrics or {}).items() if str(v).isdigit()}
