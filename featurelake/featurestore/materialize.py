"""Materializing a feature group into features.<group>, one slice per run date, through the group's contract.

The engine reads the group's inputs (daily tables for the run dates plus the look-back, snapshot tables
whole), calls the function with each input bound to its parameter, and holds the result to the group's
declaration (``contract``): the rows of the requested run dates only; the keys, event time, ``_available_at``
and every declared feature, cast to the declared types; nothing else. The result is gated with
``expectations/features.<group>.json`` when the table has a gate, and replaces the run dates' slice.
``featurelake.testing`` runs a group through the same ``contract`` on frames a test gives.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError
from featurelake.core.periods import DAILY, Grain
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.featurestore.api import AVAILABLE_AT, FeatureGroup
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.lake.stage import Context
from featurelake.quality import gate
from featurelake.quality.suites import suite_for

# What a returned column may be cast from to reach its declared type without changing a value's meaning.
SAFE_CASTS = {
    "bigint": {"int", "smallint", "tinyint"},
    "int": {"smallint", "tinyint"},
    "double": {"int", "bigint", "float", "smallint", "tinyint"},
    "timestamp": {"date", "timestamp_ntz"},
}


def input_window(group: FeatureGroup, run_dates: DateRange, grain: Grain = DAILY) -> DateRange:
    """The run dates of period inputs the group reads for these run dates: the look-back before them too (in
    the periods of the group's grain)."""
    return DateRange(group.lookback.back(run_dates.start, grain), run_dates.end)


def read_inputs(catalog: Catalog, group: FeatureGroup, run_dates: DateRange) -> dict[str, DataFrame]:
    """Each input by its parameter: daily tables (partitioned by run date) for the run dates and the look-back,
    others (snapshots merged on keys) whole."""
    frames = {}
    window = input_window(group, run_dates, catalog.table(catalog.settings.feature_table(group.name)).grain)
    for parameter, table in group.inputs.items():
        periods = RUN_DATE in catalog.table(table).partition_by
        frames[parameter] = catalog.read(table, window if periods else None)
    return frames


def contract(group: FeatureGroup, rows: DataFrame, run_dates: DateRange) -> DataFrame:
    """The rows of these run dates as the group declares them: keys, event time, ``_available_at``, the
    features cast to their declared types, ``_run_date``. A missing column or a type that cannot be cast
    safely is one sentence naming the group and the column."""
    if not isinstance(rows, DataFrame):
        raise ConfigError(f"Feature group {group.name} returned {type(rows).__name__}, not a DataFrame.")
    declared = {**group.entity.join_keys, **group.feature_types}
    required = [*declared, group.event_time, RUN_DATE, *([group.created_time] if group.created_time else [])]
    missing = [c for c in required if c not in rows.columns]
    if missing:
        raise ConfigError(
            f"Feature group {group.name} returns no column {missing[0]}; a group must return its keys, its "
            f"event time, every declared feature and {RUN_DATE}."
        )
    found = {field.name: field.dataType.simpleString() for field in rows.schema.fields}
    for column, type_name in declared.items():
        if found[column] != type_name and found[column] not in SAFE_CASTS.get(type_name, set()) | {"void"}:
            raise ConfigError(
                f"Feature group {group.name} returns {column} as {found[column]}, but declares it {type_name}; "
                f"cast it in the group (F.col('{column}').cast('{type_name}')) or declare its type."
            )
    return rows.where(run_date_condition(run_dates)).select(
        *[F.col(k).cast(t).alias(k) for k, t in group.entity.join_keys.items()],
        F.col(group.event_time).cast("timestamp").alias(group.event_time),
        group.available_at().cast("timestamp").alias(AVAILABLE_AT),
        *[F.col(f.name).cast(f.type).alias(f.name) for f in group.features],
        F.col(RUN_DATE).cast("date").alias(RUN_DATE),
    )


def compute(group: FeatureGroup, frames: Mapping[str, DataFrame], run_dates: DateRange) -> DataFrame:
    """The group's function on its inputs, held to its contract."""
    return contract(group, group.call(frames, run_dates), run_dates)


def with_earlier_versions(rows: DataFrame, stored: DataFrame, group: FeatureGroup) -> DataFrame:
    """The computed rows and, of the rows stored for the same run dates, each earlier version: a row of the same
    keys and event time known before the computed one (an earlier ``_available_at``). A version known at the
    same time is replaced (a recomputation), and a row no longer computed is dropped with its versions."""
    row = [*group.keys, group.event_time]
    first_known = rows.groupBy(*row).agg(F.min(AVAILABLE_AT).alias("_first_known"))
    earlier = stored.join(first_known, on=row, how="inner").where(F.col(AVAILABLE_AT) < F.col("_first_known"))
    return rows.unionByName(earlier.select(*rows.columns))


def materialize(ctx: Context, name: str, run_dates: DateRange) -> StageSummary:
    """Compute a group for the run dates, gate it, and replace those run dates' slice of features.<group>."""
    settings, catalog, run_id = ctx.settings, ctx.catalog, ctx.run_id
    group = settings.feature_group(name)
    table = settings.feature_table(name)
    handle = catalog.table(table)
    if handle.cadence != "snapshot":
        settings.periods(table, run_dates, f"features --group {name}")
    for source in group.tables:  # a slice is never replaced by the features of missing input rows
        catalog.require_periods(source, run_dates, "refine")
    gate_conf = handle.gate
    if gate_conf is not None and gate_conf.policy == "quarantine":
        raise ConfigError(
            f"tables.{table}.gate.policy is quarantine, but a feature row is derived, not delivered: a failing "
            "row means the group's code is wrong. Use fail or warn."
        )
    suite = suite_for(settings, table, [*group.columns, RUN_DATE, RUN_ID])
    computed = compute(group, read_inputs(catalog, group, run_dates), run_dates).withColumn(RUN_ID, F.lit(run_id))
    if group.keep_versions and catalog.exists(table):
        computed = with_earlier_versions(computed, catalog.read(table, run_dates), group)
    with accounted("features", table, run_dates) as summary, persisted(computed) as rows:
        _, summary.gate = gate.run_gate(rows, ctx, table, suite, run_dates)
        commit = catalog.replace_slice(rows, table, run_dates)
        gate.record_committed(ctx, summary.gate, commit.version)
        summary.rows_in = summary.published = commit.metrics.get("numOutputRows", 0)
        summary.delta_version = commit.version
    return summary
