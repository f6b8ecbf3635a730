"""The label function's contract: it sees the events of the span and of its horizon after it; an event whose
horizon has not landed yet is pending, not excluded."""

from __future__ import annotations

import datetime as dt
import sys
import types

from pyspark.sql import Window
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.featurestore.plan import LABEL_PENDING, LabelPlan, Manifest, with_label
from featurelake.testing import frame_of
from tests.unit.manifests import on_disk_manifest

D = dt.date


def next_reading_higher(events):
    """1 when the station's next reading is higher than this one: a label that looks one run date ahead."""
    following = Window.partitionBy("station").orderBy("_run_date").rowsBetween(1, 1)
    return (F.max("reading").over(following) > F.col("reading")).cast("int")


def plan_with_horizon(horizon: int):
    module = types.ModuleType("features.look_ahead")
    module.next_reading_higher = next_reading_higher
    sys.modules["features.look_ahead"] = module  # a label module of the project's features package
    label = LabelPlan(name="higher", definition="features.look_ahead:next_reading_higher", params={}, horizon=horizon)
    return Manifest.model_validate(on_disk_manifest()).plan.model_copy(update={"label": label})


def labels(spark, settings, horizon: int, days: int) -> list[tuple]:
    readings = [1.0, 3.0, 2.0, 5.0, 4.0][:days]
    events = frame_of(
        spark,
        [("s1", value, D(2013, 1, i + 1)) for i, value in enumerate(readings)],
        "station string, reading double, _run_date date",
    )
    span = DateRange(D(2013, 1, 1), D(2013, 1, 4))
    rows = with_label(settings, plan_with_horizon(horizon), events, span).orderBy("_run_date").collect()
    return [(r["_run_date"].day, r["higher"], r[LABEL_PENDING]) for r in rows]


def test_a_next_day_label_reads_its_horizon_and_does_not_lose_the_span_s_last_day(spark, settings):
    assert labels(spark, settings, horizon=1, days=5) == [(1, 1, False), (2, 0, False), (3, 1, False), (4, 0, False)]


def test_an_event_whose_horizon_has_not_landed_is_pending(spark, settings):
    assert labels(spark, settings, horizon=1, days=4)[-1] == (4, None, True)


def test_without_a_horizon_the_label_sees_only_the_span(spark, settings):
    # the last day's next reading lies outside the span: no label, and nothing says why (declare a horizon)
    assert labels(spark, settings, horizon=0, days=5)[-1] == (4, None, False)
