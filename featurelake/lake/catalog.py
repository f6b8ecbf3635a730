"""The catalog: every table of the project by its logical name, and every read and write of it.

Tables are declared once, in ``conf/base/tables.yaml``; code names them (``silver.flights``) and never a
path. Every write is one Delta commit made through ``featurelake.lake.commits``, so each carries the step,
run dates and run id that made it, the thing the runner's concurrency rules rely on:

- ``replace_slice`` atomically replaces the rows of some run dates (a rerun of a date changes nothing, a
  backfill of an old date lands beside newer ones); ``clear_slice`` empties them;
- ``merge_on_keys`` upserts a snapshot on its keys, the newer delivery winning;
- ``overwrite`` replaces a whole table (a training set: one version per build);
- ``append`` adds rows to a log (quality results, the run ledger).

A table's conf is resolved once per catalog into a frozen handle (``table``: path, cadence, grain, gaps, keys,
partitioning, gate, quarantine twin), and the catalog names what the lake derives from a model or a training set
(``predictions_table``, ``monitoring_table``, ``model_dir``, ``manifest_dir``; featurelake.lake.tables).

Example::

    catalog = Catalog(spark, settings)
    flights = catalog.read("silver.flights", DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 31)))
    commit = catalog.replace_slice(features, "features.carrier_performance", run_dates)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Iterator
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import LINEAGE_COLUMNS, RUN_DATE
from featurelake.core.conf.data import IDENTIFIER
from featurelake.core.dates import DateRange, utc_from_micros
from featurelake.core.errors import FeaturelakeError, NotReady
from featurelake.core.frames import local_frame
from featurelake.core.settings import Settings
from featurelake.lake import commits, constraints, storage, tables
from featurelake.lake.commits import Commit
from featurelake.lake.deferred import DeferredAppends
from featurelake.lake.tables import Table


def run_date_condition(run_dates: DateRange) -> Column:
    """Rows of these run dates (a filter Delta prunes partitions and files with)."""
    return F.col(RUN_DATE).between(F.lit(run_dates.start), F.lit(run_dates.end))


class Catalog:
    """The project's tables, by logical name, for one Spark session."""

    def __init__(self, spark: SparkSession, settings: Settings):
        self.spark = spark
        self.settings = settings
        self._tables: dict[str, Table] = {}
        self._deferred: DeferredAppends | None = None  # while a run defers its bookkeeping appends
        self._written: set[str] = set()  # the tables found to exist (``exists``)

    # ------------------------------------------------------------------------------------------ names

    def table(self, name: str) -> Table:
        """The table's handle, resolved from conf on first use and the same object after."""
        found = self._tables.get(name)
        if found is None:
            found = self._tables.setdefault(name, Table.resolve(self.settings, name))
        return found

    def path(self, name: str) -> str:
        """Where a table lives: its declared path, or <layer>/<name> under the lake root. Every read and write
        of a table goes through here, so it first waits for the table's deferred appends (read your writes)."""
        if self._deferred is not None:
            self._deferred.wait_for(name)
        return self.table(name).path

    @staticmethod
    def predictions_table(model: str) -> str:
        return tables.predictions_table(model)

    @staticmethod
    def monitoring_table(model: str) -> str:
        return tables.monitoring_table(model)

    def model_dir(self, model: str, version: int) -> str:
        """The folder of a registered model version's card and drift reports, under the lake root."""
        return tables.model_dir(self.settings, model, version)

    def manifest_dir(self, table: str) -> str:
        """The folder of a training-set table's manifests, under the lake root."""
        return tables.manifest_dir(self.settings, table)

    # ---------------------------------------------------------------------------------------- reading

    def exists(self, name: str) -> bool:
        """Whether the table has been written. Once it has, it stays a table for this catalog (a run): the look
        is a few requests to an object store, asked several times a step."""
        path = self.path(name)
        if name in self._written:
            return True
        found = commits.is_delta_table(self.spark, path)
        if found:
            self._written.add(name)
        return found

    def read(self, name: str, run_dates: DateRange | None = None) -> DataFrame:
        """The table as it is now, or only the rows of some run dates. A table not written yet is NotReady."""
        path = self.path(name)
        if not self.exists(name):
            raise NotReady(f"Table {name} does not exist yet at {path}; run the stage that writes it first.")
        frame = self.spark.read.format("delta").load(path)
        return frame if run_dates is None else frame.where(run_date_condition(run_dates))

    def read_version(self, name: str, version: int) -> DataFrame:
        """The table as it was at a Delta version (what a manifest recorded)."""
        path = self.path(name)
        if not self.exists(name):
            raise FeaturelakeError(f"Table {name} does not exist at {path}; run the stage that writes it first.")
        return self.spark.read.format("delta").option("versionAsOf", version).load(path)

    def version(self, name: str) -> int:
        """The table's latest Delta version; a table not written yet is NotReady."""
        version = commits.latest_version(self.spark, self.path(name))
        if version is None:
            raise NotReady(f"Table {name} does not exist yet at {self.path(name)}; run the stage that writes it first.")
        return version

    def dates_without_rows(self, name: str, dates: list[dt.date]) -> list[dt.date]:
        """The run dates of the list that a table partitioned by run date holds no row of (one small scan of
        the run-date column)."""
        if not dates:
            return []
        if not self.exists(name):
            return list(dates)
        # in one partition the distinct needs no shuffle: one job of one task, 50 ms less a call (several a step)
        rows = self.read(name, DateRange(min(dates), max(dates))).select(RUN_DATE).coalesce(1).distinct()
        present = {row[RUN_DATE] for row in rows.collect()}  # bounded: one per date
        return [d for d in dates if d not in present]

    def require_periods(self, name: str, run_dates: DateRange, upstream: str) -> None:
        """Every period of the range that a table of a source with a cadence must hold (less its known gaps)
        has rows, so that a stage reading it never replaces a slice with nothing; else NotReady (exit 4)
        naming the first missing run date and the ``upstream`` stage to run."""
        table = self.table(name)
        if table.cadence == "snapshot":
            return
        expected = [d for d in table.grain.starts(run_dates) if d not in table.gaps]
        missing = self.dates_without_rows(name, expected)
        if missing:
            more = f" (and {len(missing) - 1} more run dates)" if len(missing) > 1 else ""
            raise NotReady(
                f"{name} has no rows for {missing[0]}{more}; {upstream} those run dates first. Nothing was written."
            )

    # ---------------------------------------------------------------------------------------- writing

    def replace_slice(self, frame: DataFrame, name: str, run_dates: DateRange, merge_schema: bool = False) -> Commit:
        """Atomically replace the rows of these run dates in a table partitioned by run date."""
        table = self.table(name)
        frame = constraints.with_not_null_keys(table, frame)
        writer = (
            frame.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", _replace_where(run_dates))
            .partitionBy(*table.partition_by)
        )
        if merge_schema:
            writer = writer.option("mergeSchema", "true")
        # steps of other run dates at once (a batch's monitoring checks): one creates the table, the others then
        # replace their own slices of it
        with contextlib.nullcontext() if self.exists(name) else _FIRST_COMMITS:
            constraints.create_with_checks(self.spark, table, frame)
            with constraints.refusing_violations(table, frame, run_dates):
                return self._save(writer, name)

    def clear_slice(self, name: str, run_dates: DateRange, schema: T.StructType) -> Commit | None:
        """Empty the rows of these run dates (a rerun that no longer produces rows must not leave old ones)."""
        if not self.exists(name):
            return None
        return self.replace_slice(self.frame_of([], schema), name, run_dates)

    def frame_of(self, rows: list[tuple], schema: T.StructType | str) -> DataFrame:
        """A DataFrame of the few rows the engine makes itself (ledger, gate results, monitoring), with exactly
        this schema, handed to the JVM as one Arrow batch (featurelake.core.frames)."""
        return local_frame(self.spark, rows, schema)

    def append(self, frame: DataFrame, name: str, merge_schema: bool = False) -> Commit:
        """Append rows to a history table (a log, where every run adds its own rows); ``merge_schema`` lets
        the rows add columns the table does not have yet."""
        writer = frame.write.format("delta").mode("append")
        writer = writer.option("mergeSchema", "true") if merge_schema else writer
        if self.exists(name):
            return self._save(writer, name)
        with _FIRST_COMMITS:  # steps running at once: one creates the history table, the others append to it
            return self._save(writer, name)

    def append_later(self, frame: DataFrame, name: str, merge_schema: bool = False) -> None:
        """``append``, made on the writer thread of ``deferred_appends`` while the caller goes on when a run opened
        them (a bookkeeping table: the ledger, quality.results), at once otherwise."""
        if self._deferred is None:
            self.append(frame, name, merge_schema)
        else:
            self._deferred.submit(name, lambda: self.append(frame, name, merge_schema))

    @contextlib.contextmanager
    def deferred_appends(self) -> Iterator[None]:
        """Within the block, ``append_later`` appends on one writer thread (featurelake.lake.deferred); the block
        ends once every append landed, raising the first failed one's error unless the block raised its own."""
        if self._deferred is not None:  # already open: the outer block closes them
            yield
            return
        self._deferred = deferred = DeferredAppends(self.spark)
        try:
            yield
        except BaseException:
            deferred.close()
            raise
        finally:
            self._deferred = None
        failed = deferred.close()
        if failed is not None:
            raise failed

    def overwrite(self, frame: DataFrame, name: str, metadata: dict | None = None) -> Commit:
        """Replace the whole table, schema included, in one commit; ``metadata`` joins the commit's userMetadata."""
        writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
        return self._save(writer, name, metadata)

    def merge_on_keys(self, frame: DataFrame, name: str, keys: list[str], newer_wins_on: str) -> Commit:
        """Upsert rows on their keys. A row replaces the stored one only when it differs and is not older
        (by ``newer_wins_on``), so re-running a snapshot changes nothing and a backfill never undoes newer data."""
        from delta.tables import DeltaTable

        table = self.table(name)
        frame = constraints.with_not_null_keys(table, frame)
        if not self.exists(name):
            constraints.create_with_checks(self.spark, table, frame)
            with constraints.refusing_violations(table, frame, None):
                return self._save(frame.write.format("delta").mode("overwrite"), name)
        for column in [*keys, newer_wins_on]:
            _assert_identifier(column)
        same_key = reduce(Column.__and__, [F.col(f"stored.{k}") == F.col(f"incoming.{k}") for k in keys])
        compared = [c for c in frame.columns if c not in keys and c not in LINEAGE_COLUMNS]
        changed = reduce(
            Column.__or__, [~F.col(f"stored.{c}").eqNullSafe(F.col(f"incoming.{c}")) for c in compared], F.lit(False)
        )
        not_older = F.col(f"incoming.{newer_wins_on}") >= F.col(f"stored.{newer_wins_on}")
        merge = (
            DeltaTable.forPath(self.spark, self.path(name))
            .alias("stored")
            .merge(frame.alias("incoming"), same_key)
            .whenMatchedUpdateAll(condition=changed & not_older)
            .whenNotMatchedInsertAll()
        )

        def write(metadata: str) -> None:
            with commits.session_user_metadata(self.spark, metadata):
                merge.execute()

        with constraints.refusing_violations(table, frame, None):
            return commits.commit(self.spark, name, self.path(name), write)

    def restore(self, name: str, version: int) -> Commit:
        """Restore a table to an earlier Delta version, in one commit (its later versions stay in the history)."""
        from delta.tables import DeltaTable

        latest = self.version(name)
        if not 0 <= version < latest:
            raise FeaturelakeError(
                f"{name} has versions 0 to {latest}; give an earlier one than its latest to restore to."
            )

        def write(metadata: str) -> None:
            with commits.session_user_metadata(self.spark, metadata):
                DeltaTable.forPath(self.spark, self.path(name)).restoreToVersion(version)

        return commits.commit(self.spark, name, self.path(name), write)

    def committed_at(self, name: str, version: int) -> dt.datetime:
        """When a version of a table was committed (naive UTC, as Delta's history gives it in this session)."""
        from delta.tables import DeltaTable

        history = DeltaTable.forPath(self.spark, self.path(name)).history()
        found = history.where(F.col("version") == F.lit(version)).select(F.unix_micros("timestamp").alias("t")).first()
        if found is None:
            raise FeaturelakeError(f"{name} has no version {version} in its history.")
        return utc_from_micros(found["t"])

    def vacuum(self, name: str, retention_hours: int) -> int:
        """Delete the data files that no version committed in the last ``retention_hours`` needs (Delta's VACUUM,
        never below its 168-hour check); how many it deleted. The table is first set to remember the files its
        commits removed (its tombstones, ``delta.deletedFileRetentionDuration``) for as long: Delta forgets older
        tombstones, and VACUUM deletes a forgotten one's file whatever retention it is given."""
        from delta.tables import DeltaTable

        path = self.path(name)
        table = DeltaTable.forPath(self.spark, path)
        remembered = table.detail().first()["properties"].get(TOMBSTONE_RETENTION, DELTA_DEFAULT_TOMBSTONES)
        if remembered != f"interval {int(retention_hours)} hours":

            def write(metadata: str) -> None:
                with commits.session_user_metadata(self.spark, metadata):
                    self.spark.sql(_tombstone_retention(path, retention_hours))

            commits.commit(self.spark, name, path, write)
        before = storage.relative_files(self.spark, path)
        # VACUUM lists a table's directories in up to this many tasks (10,000 by default: half a minute of task
        # overhead on a small table); the cluster's cores list any table's directories
        listing, saved = LISTING_PARALLELISM, self.spark.conf.get(LISTING_PARALLELISM)
        self.spark.conf.set(listing, str(self.spark.sparkContext.defaultParallelism))
        try:
            table.vacuum(float(retention_hours))
        finally:
            self.spark.conf.set(listing, saved)
        return len(before - storage.relative_files(self.spark, path))

    def _save(self, writer, name: str, extra: dict | None = None) -> Commit:
        path = self.path(name)

        def write(metadata: str) -> None:
            writer.option("userMetadata", metadata).save(path)

        return commits.commit(self.spark, name, path, write, extra)


def _replace_where(run_dates: DateRange) -> str:
    # Delta's replaceWhere takes SQL text. It is formatted here only from a fixed column name and two
    # datetime.date values, never from configuration or argument strings.
    return f"`{RUN_DATE}` >= DATE'{run_dates.start.isoformat()}' AND `{RUN_DATE}` <= DATE'{run_dates.end.isoformat()}'"


# Two first commits of one table at once conflict in Delta (both create it): a table several steps of a run write
# to at once (a history table, a slice per run date) is created by one thread of this process at a time.
_FIRST_COMMITS = threading.Lock()
TOMBSTONE_RETENTION = "delta.deletedFileRetentionDuration"
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
DELTA_DEFAULT_TOMBSTONES = "interval 168 hours"  # Delta's default, one week, as the engine writes it


def _tombstone_retention(path: str, hours: int) -> str:
    # ALTER TABLE takes SQL text (no API sets a table property). It is formatted only from the table's path,
    # confined to the lake root and quoted as an identifier (a backtick in it doubled: the quoting cannot be
    # ended from inside), and an integer.
    quoted = path.replace("`", "``")
    return f"ALTER TABLE delta.`{quoted}` SET TBLPROPERTIES ('{TOMBSTONE_RETENTION}' = 'interval {int(hours)} hours')"


def _assert_identifier(name: str) -> None:
    if not re.match(IDENTIFIER, name):
        raise FeaturelakeError(f"{name!r} is not a plain column name (letters, digits, underscores).")
