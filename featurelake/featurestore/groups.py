"""Feature groups: declared in the project's features/ package, materialized into features.<group> per run date.

A feature group is a pure function of its input tables plus metadata, declared with ``@feature_group``:

- ``keys``: the entity the values describe (e.g. a carrier, an origin airport, a route);
- ``event_time``: the column saying when the values are true in the world;
- when the values could first be known: a ``created_time`` column, or an ``availability_lag`` after the
  event time (a day's statistics are known only once the day is over and its arrivals are in);
- ``ttl``: how old a row may be and still be used (unset: any age);
- ``features``: each feature column with a description;
- ``inputs`` and ``lookback_days``: the tables it reads and how many run dates before the first one it
  needs (a trailing 28-day rate needs 27 more days).

The function receives the input tables (daily tables read for the run dates plus the look-back, snapshot
tables whole) and the run dates, and returns rows carrying ``_run_date``: the run date whose slice each row
belongs to. The engine keeps the rows of the requested run dates, adds ``_available_at``, checks the
declared columns, gates the result with ``expectations/features.<group>.json`` and replaces the slice.
"""

from __future__ import annotations

import datetime as dt
import importlib
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError
from featurelake.core.settings import Settings
from featurelake.core.summary import StageSummary
from featurelake.lake import delta
from featurelake.quality import gate

AVAILABLE_AT = "_available_at"


@dataclass(frozen=True)
class FeatureGroup:
    name: str
    compute: Callable[[Mapping[str, DataFrame], DateRange], DataFrame]
    keys: tuple[str, ...]
    event_time: str
    features: Mapping[str, str]
    inputs: tuple[str, ...] = ()
    created_time: str | None = None
    availability_lag: dt.timedelta = dt.timedelta(0)
    ttl: dt.timedelta | None = None
    lookback_days: int = 0
    description: str = field(default="")

    def available_at(self):
        """When each row could first be known: its created time, or its event time plus the lag."""
        known = F.col(self.created_time) if self.created_time else F.col(self.event_time)
        if not self.availability_lag:
            return known
        return known + F.make_dt_interval(secs=F.lit(self.availability_lag.total_seconds()))

    @property
    def columns(self) -> list[str]:
        return [*self.keys, self.event_time, AVAILABLE_AT, *self.features]


def feature_group(
    *,
    keys: list[str],
    event_time: str,
    features: Mapping[str, str],
    inputs: list[str] = (),
    created_time: str | None = None,
    availability_lag: dt.timedelta = dt.timedelta(0),
    ttl: dt.timedelta | None = None,
    lookback_days: int = 0,
):
    """Declare a function ``(inputs, run_dates) -> DataFrame`` as a feature group named after it."""

    def declare(compute) -> FeatureGroup:
        return FeatureGroup(
            name=compute.__name__,
            compute=compute,
            keys=tuple(keys),
            event_time=event_time,
            features=dict(features),
            inputs=tuple(inputs),
            created_time=created_time,
            availability_lag=availability_lag,
            ttl=ttl,
            lookback_days=lookback_days,
            description=(compute.__doc__ or "").strip().split("\n\n")[0],
        )

    return declare


def load_definition(settings: Settings, reference: str, key: str):
    """The object a ``features.module:attribute`` reference in conf names (only the project's features/)."""
    project_dir = str(settings.project_dir)
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)
    module_name, attribute = reference.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{key} names {reference}, but module {exc.name} cannot be found under {project_dir}."
        ) from None
    if not hasattr(module, attribute):
        raise ConfigError(f"{key} names {reference}, but {module_name} has no {attribute}.")
    return getattr(module, attribute)


def load_group(settings: Settings, name: str) -> FeatureGroup:
    groups = settings.project.features.groups
    if name not in groups:
        raise ConfigError(
            f"No feature group named {name} under features.groups in {settings.conf_dir}/base/features.yaml; "
            f"known groups: {', '.join(sorted(groups)) or 'none'}."
        )
    key = f"features.groups.{name}.definition"
    group = load_definition(settings, groups[name].definition, key)
    if not isinstance(group, FeatureGroup):
        raise ConfigError(f"{key} names {groups[name].definition}, which is not declared with @feature_group.")
    return group


# ------------------------------------------------------------------------------------------ the stage


def read_inputs(spark: SparkSession, settings: Settings, group: FeatureGroup, run_dates: DateRange) -> dict:
    """Each input table: daily tables (partitioned by run date) for the run dates and the look-back,
    others (snapshots merged on keys) whole."""
    wanted = DateRange(run_dates.start - dt.timedelta(days=group.lookback_days), run_dates.end)
    inputs = {}
    for table in group.inputs:
        daily = RUN_DATE in settings.table(table).partition_by
        inputs[table] = delta.read_table(spark, settings, table, wanted if daily else None)
    return inputs


def compute(spark: SparkSession, settings: Settings, group: FeatureGroup, run_dates: DateRange) -> DataFrame:
    """The group's rows of these run dates, with the declared columns only: the schema contract."""
    rows = group.compute(read_inputs(spark, settings, group, run_dates), run_dates)
    declared = [*group.keys, group.event_time, *group.features, RUN_DATE]
    if group.created_time:
        declared.append(group.created_time)
    missing = [c for c in declared if c not in rows.columns]
    if missing:
        raise ConfigError(
            f"Feature group {group.name} returns no column {missing[0]}; a group must return its keys, its "
            f"event time, every declared feature and {RUN_DATE}."
        )
    return rows.where(delta.run_date_condition(run_dates)).select(
        *group.keys,
        F.col(group.event_time).cast("timestamp").alias(group.event_time),
        group.available_at().cast("timestamp").alias(AVAILABLE_AT),
        *group.features,
        F.col(RUN_DATE).cast("date").alias(RUN_DATE),
    )


def materialize(spark: SparkSession, settings: Settings, name: str, run_dates: DateRange, run_id: str) -> StageSummary:
    """Compute a group for the run dates, gate it, and replace those run dates' slice of features.<group>."""
    started = time.monotonic()
    group = load_group(settings, name)
    table = settings.feature_table(name)
    gate_conf = settings.table(table).gate
    if gate_conf is not None and gate_conf.policy == "quarantine":
        raise ConfigError(
            f"tables.{table}.gate.policy is quarantine, but a feature row is derived, not delivered: a failing "
            "row means the group's code is wrong. Use fail or warn."
        )
    suite = gate.load_suite(settings, table, [*group.columns, RUN_DATE, RUN_ID]) if settings.table(table).gate else None
    rows = compute(spark, settings, group, run_dates).withColumn(RUN_ID, F.lit(run_id))
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        report = None
        if suite is not None:
            _, report = gate.run_gate(rows, settings, table, suite, run_dates, run_id)
        commit = delta.replace_slice(rows, settings, table, run_dates)
        produced = commit.metrics.get("numOutputRows", 0)
    finally:
        rows.unpersist()
    return StageSummary(
        stage="features",
        table=table,
        run_dates=str(run_dates),
        rows_in=produced,
        published=produced,
        delta_version=commit.version,
        seconds=time.monotonic() - started,
        gate=report,
    )
