"""Point-in-time (as-of) join of label events with a feature group, in one shuffle.

For each event row and its as-of timestamp: the feature row with the same keys whose ``event_time`` is the
latest at or before the as-of time (inclusive), among rows already available then (``created_time`` at or
before it), ties on ``event_time`` going to the latest ``created_time``; older than the TTL gives nulls. The
whole feature row is taken, never columns from different rows. Every event row is kept once (duplicates
too), whatever the input order or partitioning; null keys and null timestamps never match.

How: events and feature rows are unioned and sorted per key by the time each becomes usable (an event at
its as-of time, a feature row at max(event_time, created_time)), feature rows before events on a tie; a
running ``max`` of a struct (event_time, created_time, values...) over that order is, at each event, the
usable row with the latest event_time and then created_time. One window, one shuffle; no range join and
no ROW_NUMBER over the rows x history product. Each event row travels through the shuffle as a struct,
so no join back is needed.
"""

from __future__ import annotations

import datetime as dt
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

_USABLE_AT = "_pit_usable_at"
_SIDE = "_pit_side"  # 0: feature row, 1: event; feature rows first on equal times (inclusive as-of)
_FEATURE = "_pit_feature"
_EVENT = "_pit_event"
_BEST = "_pit_best"
_TIME = "_pit_event_time"
_CREATED = "_pit_created_time"


def as_of_join(
    events: DataFrame,
    features: DataFrame,
    keys: list[str],
    as_of: str,
    event_time: str,
    created_time: str | None = None,
    ttl: dt.timedelta | None = None,
    feature_columns: list[str] | None = None,
) -> DataFrame:
    """The events with the feature columns of their as-of feature row (or nulls) appended."""
    created_time_column = F.col(created_time) if created_time else F.col(event_time)
    values = feature_columns or [c for c in features.columns if c not in {*keys, event_time, created_time}]
    clashes = sorted(set(values) & set(events.columns))
    if clashes:
        raise ValueError(f"feature columns {clashes} already exist in the events; rename them first")
    complete = reduce(Column.__and__, [F.col(k).isNotNull() for k in keys], F.col(event_time).isNotNull())
    feature_rows = features.where(complete).select(
        *keys,
        F.greatest(F.col(event_time), F.coalesce(created_time_column, F.col(event_time))).alias(_USABLE_AT),
        F.lit(0).alias(_SIDE),
        F.struct(
            F.col(event_time).alias(_TIME),
            F.coalesce(created_time_column, F.col(event_time)).alias(_CREATED),
            *[F.col(c) for c in values],
        ).alias(_FEATURE),
        F.lit(None).alias(_EVENT),
    )
    event_struct = F.struct(*[F.col(c) for c in events.columns])
    event_rows = events.select(
        *keys,
        F.col(as_of).cast("timestamp").alias(_USABLE_AT),
        F.lit(1).alias(_SIDE),
        F.lit(None).cast(feature_rows.schema[_FEATURE].dataType).alias(_FEATURE),
        event_struct.alias(_EVENT),
    )
    feature_rows = feature_rows.withColumn(_EVENT, F.lit(None).cast(event_rows.schema[_EVENT].dataType))
    window = (
        Window.partitionBy(*keys)
        .orderBy(F.col(_USABLE_AT).asc_nulls_first(), F.col(_SIDE))
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    best = F.max(_FEATURE).over(window)
    matched = feature_rows.unionByName(event_rows).withColumn(_BEST, best).where(F.col(_SIDE) == 1)
    fresh = F.col(f"{_BEST}.{_TIME}").isNotNull() & F.col(f"{_EVENT}.{as_of}").isNotNull()
    if ttl is not None:
        oldest = F.col(f"{_EVENT}.{as_of}").cast("timestamp") - F.make_dt_interval(secs=F.lit(ttl.total_seconds()))
        fresh = fresh & (F.col(f"{_BEST}.{_TIME}") >= oldest)
    null_key = reduce(Column.__or__, [F.col(k).isNull() for k in keys])
    usable = fresh & ~null_key
    return matched.select(
        *[F.col(f"{_EVENT}.{c}").alias(c) for c in events.columns],
        *[F.when(usable, F.col(f"{_BEST}.{c}")).alias(c) for c in values],
    )
