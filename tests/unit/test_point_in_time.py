"""The as-of join, one rule per test on hand-made rows, and a property test against a brute-force reference."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurelake.featurestore.point_in_time import as_of_join, as_of_range_of
from featurelake.testing import frame_of

T0 = dt.datetime(2013, 1, 1)
EVENTS = "eid int, carrier string, ts timestamp"
FEATURES = "carrier string, event_time timestamp, created timestamp, rate double, n int"


def t(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def join_rows(spark, events, features, ttl=None, time_buckets=1, with_range=False):
    """The as-of join of hand-made event and feature rows on the carrier; ``with_range`` passes the events'
    as-of range, which prunes the feature rows no event can use."""
    event_frame = frame_of(spark, events, EVENTS)
    return as_of_join(
        event_frame,
        frame_of(spark, features, FEATURES),
        keys=["carrier"],
        as_of="ts",
        event_time="event_time",
        created_time="created",
        ttl=ttl,
        time_buckets=time_buckets,
        as_of_range=as_of_range_of(event_frame, "ts") if with_range else None,
    )


def joined(spark, events, features, ttl=None, time_buckets=1, with_range=False) -> dict:
    rows = join_rows(spark, events, features, ttl, time_buckets, with_range).collect()
    assert len(rows) == len(events)  # exactly one output row per event row
    return {r["eid"]: (r["rate"], r["n"]) for r in rows}


def test_latest_row_at_or_before_the_event_is_taken_inclusive(spark):
    features = [("AA", t(1), t(1), 0.1, 1), ("AA", t(5), t(5), 0.5, 5), ("AA", t(9), t(9), 0.9, 9)]
    events = [(1, "AA", t(5)), (2, "AA", t(8)), (3, "AA", t(0.5)), (4, "AA", t(10))]
    assert joined(spark, events, features) == {1: (0.5, 5), 2: (0.5, 5), 3: (None, None), 4: (0.9, 9)}


def test_a_row_not_yet_available_is_not_used(spark):
    # the 5h row is only known at 7h: an event at 6h must use the 1h row
    features = [("AA", t(1), t(1), 0.1, 1), ("AA", t(5), t(7), 0.5, 5)]
    events = [(1, "AA", t(6)), (2, "AA", t(7))]
    assert joined(spark, events, features) == {1: (0.1, 1), 2: (0.5, 5)}


def test_a_row_whose_created_time_is_null_is_never_used(spark):
    # the 5h row says nothing of when it was known: even long after, the 1h row serves (no leak of a late value)
    features = [("AA", t(1), t(1), 0.1, 1), ("AA", t(5), None, 0.5, 5), ("UA", t(2), None, 0.2, 2)]
    events = [(1, "AA", t(6)), (2, "AA", t(100)), (3, "UA", t(100))]
    assert joined(spark, events, features) == {1: (0.1, 1), 2: (0.1, 1), 3: (None, None)}


def test_latest_event_time_wins_over_latest_availability(spark):
    # A (event 2h, known at 8h) and B (event 4h, known at 5h): at 9h both are known; B is the newer fact
    features = [("AA", t(2), t(8), 0.2, 2), ("AA", t(4), t(5), 0.4, 4)]
    assert joined(spark, [(1, "AA", t(9))], features) == {1: (0.4, 4)}


def test_ties_on_event_time_go_to_the_latest_created_time(spark):
    features = [("AA", t(3), t(3), 0.3, 1), ("AA", t(3), t(4), 0.33, 2)]
    events = [(1, "AA", t(3.5)), (2, "AA", t(4))]
    assert joined(spark, events, features) == {1: (0.3, 1), 2: (0.33, 2)}


def test_ttl_edge_and_unbounded_ttl(spark):
    features = [("AA", t(0), t(0), 0.0, 0)]
    events = [(1, "AA", t(2)), (2, "AA", t(2.01))]
    assert joined(spark, events, features, ttl=dt.timedelta(hours=2)) == {1: (0.0, 0), 2: (None, None)}
    assert joined(spark, events, features) == {1: (0.0, 0), 2: (0.0, 0)}


def test_whole_row_is_taken_never_columns_mixed(spark):
    features = [("AA", t(1), t(1), 0.1, 1), ("AA", t(2), t(2), None, 2)]
    assert joined(spark, [(1, "AA", t(3))], features) == {1: (None, 2)}


def test_duplicate_events_kept_and_null_keys_never_match(spark):
    features = [("AA", t(1), t(1), 0.1, 1), (None, t(1), t(1), 9.9, 9)]
    events = [(1, "AA", t(2)), (2, "AA", t(2)), (3, None, t(2)), (4, "AA", None), (5, "UA", t(2))]
    assert joined(spark, events, features) == {
        1: (0.1, 1),
        2: (0.1, 1),
        3: (None, None),
        4: (None, None),
        5: (None, None),
    }


def reference(events, features, ttl):
    """Brute force: for each event, the best usable feature row, straight from the definition."""
    result = {}
    for eid, carrier, ts in events:
        usable = [
            f
            for f in features
            if carrier is not None
            and ts is not None
            and f[0] == carrier
            and f[1] is not None
            and f[1] <= ts
            and f[2] is not None  # known at no time anyone can tell: never usable
            and f[2] <= ts
        ]
        if not usable:
            result[eid] = (None, None)
            continue
        best = max(usable, key=lambda f: (f[1], f[2], -1 if f[3] is None else f[3], f[4]))
        stale = ttl is not None and ts - best[1] > ttl
        result[eid] = (None, None) if stale else (best[3], best[4])
    return result


hours = st.integers(min_value=0, max_value=12).map(lambda h: t(h))
carriers = st.sampled_from(["AA", "UA", None])
# one case: events and feature rows of two carriers (and null keys); created = event time + a lag of 0..3
# hours, or null (unknown); values may be null, duplicates and ties happen
lags = st.one_of(st.integers(0, 3), st.none())
cases = st.tuples(
    st.lists(st.tuples(carriers, st.one_of(hours, st.none())), min_size=1, max_size=12),
    st.lists(
        st.tuples(carriers, hours, lags, st.one_of(st.none(), st.integers(0, 3)), st.integers(0, 50)),
        max_size=15,
    ),
)


def as_one_join(batch: list[tuple[list, list]]) -> tuple[list, list]:
    """Cases joined in one Spark job: each case's keys prefixed by its number (a null key stays null), its
    event ids numbered apart, so no case can see another's rows."""

    def key(case: int, carrier: str | None) -> str | None:
        return None if carrier is None else f"{case}:{carrier}"

    events, features = [], []
    for case, (case_events, case_features) in enumerate(batch):
        events += [(case * 100 + i, key(case, c), ts) for i, (c, ts) in enumerate(case_events)]
        features += [
            (
                key(case, c),
                et,
                None if lag is None else et + dt.timedelta(hours=lag),
                None if v is None else float(v),
                n,
            )
            for c, et, lag, v, n in case_features
        ]
    return events, features


# ~8 x 12 randomized cases, each checked against the reference, in eight Spark jobs
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    batch=st.lists(cases, min_size=1, max_size=24),
    ttl_hours=st.one_of(st.none(), st.integers(0, 6)),
    time_buckets=st.sampled_from([1, 2, 5]),
    with_range=st.booleans(),
)
def test_spark_join_equals_the_brute_force_reference(spark, batch, ttl_hours, time_buckets, with_range):
    events, features = as_one_join(batch)
    ttl = None if ttl_hours is None else dt.timedelta(hours=ttl_hours)
    expected = reference(events, features, ttl)
    assert joined(spark, events, features, ttl, time_buckets, with_range) == expected


def test_time_buckets_carry_the_latest_row_across_empty_buckets(spark):
    # one feature row early, events spread over a long range: every bucket inherits it, TTL still applies
    features = [("AA", t(0), t(0), 0.1, 1), ("AA", t(100), t(100), 0.2, 2), ("AA", t(500), t(600), 0.3, 3)]
    events = [(i, "AA", t(h)) for i, h in enumerate([0, 50, 99, 100, 350, 599, 600, 1000])]
    expected = {0: (0.1, 1), 1: (0.1, 1), 2: (0.1, 1), 3: (0.2, 2), 4: (0.2, 2), 5: (0.2, 2), 6: (0.3, 3), 7: (0.3, 3)}
    for buckets in (1, 3, 7, 64):
        assert joined(spark, events, features, time_buckets=buckets) == expected


def test_a_hot_key_is_spread_over_several_tasks(spark):
    from pyspark.sql import functions as F

    # one carrier holds 90% of the events; with time buckets no task may hold most of them
    events = [(i, "HOT" if i % 10 else f"C{i}", t(i / 10)) for i in range(2000)]
    features = [("HOT", t(h), t(h), float(h), h) for h in range(0, 200, 2)]
    previous = {k: spark.conf.get(k) for k in ("spark.sql.shuffle.partitions", "spark.sql.adaptive.enabled")}
    spark.conf.set("spark.sql.shuffle.partitions", "8")
    spark.conf.set("spark.sql.adaptive.enabled", "false")  # so partitions are not coalesced back together
    try:
        for buckets, largest_share in ((1, 0.85), (16, 0.35)):
            frame = join_rows(spark, events, features, time_buckets=buckets)
            sizes = frame.rdd.mapPartitions(lambda rows: [sum(1 for _ in rows)]).collect()
            share = max(sizes) / len(events)
            assert (share >= largest_share) if buckets == 1 else (share <= largest_share), (buckets, sizes)
            hot = {r["eid"]: r["n"] for r in frame.where(F.col("carrier") == "HOT").collect()}
            assert hot[1999] == 198 and hot[21] == 2 and hot[11] == 0  # t(199.9) -> 198, t(2.1) -> 2, t(1.1) -> 0
    finally:
        for key, value in previous.items():
            spark.conf.set(key, value)
