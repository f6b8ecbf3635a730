"""Point-in-time (as-of) join of label events with a feature group, in one shuffle.

For each event row and its as-of timestamp: the feature row with the same keys whose ``event_time`` is the
latest at or before the as-of time (inclusive), among rows already available then (``created_time`` at or
before it), ties on ``event_time`` going to the latest ``created_time``; older than the TTL gives nulls. The
whole feature row is taken, never columns from different rows. Every event row is kept once (duplicates
too), whatever the input order or partitioning; null keys and null timestamps never match: a feature row
whose ``created_time`` is null was known at no time anyone can tell, so no event may use it (taking it as
known at its event time could leak a value published later).

How: events and feature rows are unioned and sorted per key by the time each becomes usable (an event at
its as-of time, a feature row at max(event_time, created_time)), feature rows before events on a tie; a
running ``max`` of a struct (event_time, created_time, values...) over that order is, at each event, the
usable row with the latest event_time and then created_time. One window, one shuffle; no range join and
no ROW_NUMBER over the rows x history product. Each event row travels through the shuffle as a struct,
so no join back is needed.

Hot keys: partitioning by the keys alone would put a carrier with a third of all flights on one task. With
``time_buckets`` > 1 the time range of the events is cut into that many buckets and the window partitions
by (keys, bucket). What a bucket cannot see, the best feature row of the earlier buckets of its key, enters
it as one "carry-in" row at its start, computed from the feature rows alone (an aggregation per key and
bucket, small next to the events). The big data still moves through exactly one shuffle.
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
_BUCKET = "_pit_bucket"
_NEXT = "_pit_next_bucket"
_CARRY_IN, _FEATURE_ROW, _EVENT_ROW = -1, 0, 1


def as_of_join(
    events: DataFrame,
    features: DataFrame,
    keys: list[str],
    as_of: str,
    event_time: str,
    created_time: str | None = None,
    ttl: dt.timedelta | None = None,
    feature_columns: list[str] | None = None,
    time_buckets: int = 1,
    as_of_range: tuple[int, int] | None = None,
) -> DataFrame:
    """The events with the feature columns of their as-of feature row (or nulls) appended.

    ``time_buckets`` > 1 spreads each key's rows over that many tasks (see the module text); the result
    does not depend on it. ``as_of_range`` (the events' earliest and latest as-of time, in microseconds
    since the epoch) saves the pass that finds it, when the caller joins several groups to the same events."""
    created_time_column = F.col(created_time) if created_time else F.col(event_time)
    values = feature_columns or [c for c in features.columns if c not in {*keys, event_time, created_time}]
    clashes = sorted(set(values) & set(events.columns))
    if clashes:
        raise ValueError(f"feature columns {clashes} already exist in the events; rename them first")
    timed = F.col(event_time).isNotNull() & created_time_column.isNotNull()
    complete = reduce(Column.__and__, [F.col(k).isNotNull() for k in keys], timed)
    if as_of_range is not None:
        complete = complete & _could_serve(event_time, as_of_range, ttl)
    feature_rows = features.where(complete).select(
        *keys,
        F.greatest(F.col(event_time), created_time_column).alias(_USABLE_AT),
        F.lit(_FEATURE_ROW).alias(_SIDE),
        F.struct(
            F.col(event_time).alias(_TIME),
            created_time_column.alias(_CREATED),
            *[F.col(c) for c in values],
        ).alias(_FEATURE),
        F.lit(None).alias(_EVENT),
    )
    event_struct = F.struct(*[F.col(c) for c in events.columns])
    event_rows = events.select(
        *keys,
        F.col(as_of).cast("timestamp").alias(_USABLE_AT),
        F.lit(_EVENT_ROW).alias(_SIDE),
        F.lit(None).cast(feature_rows.schema[_FEATURE].dataType).alias(_FEATURE),
        event_struct.alias(_EVENT),
    )
    feature_rows = feature_rows.withColumn(_EVENT, F.lit(None).cast(event_rows.schema[_EVENT].dataType))
    rows = feature_rows.unionByName(event_rows)
    partition = list(keys)
    if time_buckets > 1:
        rows = _with_time_buckets(feature_rows, event_rows, keys, time_buckets, as_of_range)
        partition.append(_BUCKET)
    window = (
        Window.partitionBy(*partition)
        .orderBy(F.col(_USABLE_AT).asc_nulls_first(), F.col(_SIDE))
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    best = F.max(_FEATURE).over(window)
    matched = rows.withColumn(_BEST, best).where(F.col(_SIDE) == _EVENT_ROW)
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


def _could_serve(event_time: str, as_of_range: tuple[int, int], ttl: dt.timedelta | None) -> Column:
    """Feature rows some event in the range could get: not after the latest as-of time (a row is usable
    from its event time on, at the earliest), and, with a TTL, not older than the TTL at the earliest as-of
    time (such a row is stale for every event, and so is the result when it is the latest). Comparisons of
    the event-time column with literals, so Delta skips the files that hold neither."""
    low, high = as_of_range
    could = F.col(event_time) <= F.timestamp_micros(F.lit(high))
    if ttl is not None:
        oldest = low - int(ttl.total_seconds() * 1_000_000)
        could = could & (F.col(event_time) >= F.timestamp_micros(F.lit(oldest)))
    return could


def as_of_range_of(events: DataFrame, as_of: str) -> tuple[int, int] | None:
    """The earliest and latest as-of time of the events, in microseconds; None when no event has one."""
    bounds = events.agg(
        F.unix_micros(F.min(F.col(as_of).cast("timestamp"))).alias("low"),
        F.unix_micros(F.max(F.col(as_of).cast("timestamp"))).alias("high"),
    ).first()
    return None if bounds["low"] is None else (bounds["low"], bounds["high"])


def _with_time_buckets(
    feature_rows: DataFrame, event_rows: DataFrame, keys: list[str], buckets: int, as_of_range
) -> DataFrame:
    """Feature rows, events and carry-in rows, each with the time bucket its window partition is cut by."""
    if as_of_range is None:
        as_of_range = as_of_range_of(event_rows, _USABLE_AT)
    if as_of_range is None:  # no event has a time: nothing can match, one bucket will do
        return feature_rows.unionByName(event_rows).withColumn(_BUCKET, F.lit(0))
    low, high = as_of_range
    width = (high - low) // buckets + 1  # so the latest event falls into the last bucket
    bucket = F.when(
        F.col(_USABLE_AT).isNotNull(),
        F.least(
            F.greatest(F.floor((F.unix_micros(F.col(_USABLE_AT)) - F.lit(low)) / F.lit(width)), F.lit(0)),
            F.lit(buckets - 1),
        ),
    ).cast("int")
    # A feature row usable only after the last event can never be taken.
    features = feature_rows.where(F.unix_micros(F.col(_USABLE_AT)) <= F.lit(high))
    features = features.withColumn(_BUCKET, bucket)
    by_key = Window.partitionBy(*keys).orderBy(_BUCKET)
    carry_in = (
        features.groupBy(*keys, _BUCKET)
        .agg(F.max(_FEATURE).alias(_FEATURE))
        .withColumn(_FEATURE, F.max(_FEATURE).over(by_key.rowsBetween(Window.unboundedPreceding, Window.currentRow)))
        .withColumn(_NEXT, F.lead(_BUCKET).over(by_key))
        .where(F.col(_BUCKET) < buckets - 1)
        # the best row up to bucket b is what buckets b+1 .. next (the next bucket with rows of its own) inherit
        .select(
            *keys,
            F.lit(None).cast("timestamp").alias(_USABLE_AT),
            F.lit(_CARRY_IN).alias(_SIDE),
            F.col(_FEATURE),
            F.lit(None).cast(event_rows.schema[_EVENT].dataType).alias(_EVENT),
            F.explode(F.sequence(F.col(_BUCKET) + 1, F.coalesce(F.col(_NEXT), F.lit(buckets - 1)))).alias(_BUCKET),
        )
    )
    return features.unionByName(event_rows.withColumn(_BUCKET, bucket)).unionByName(carry_in)
