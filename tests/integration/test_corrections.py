"""A correction is known when it arrives: a monthly report whose folders are arrival days, refined with the day
each row arrived (``arrival_time``), and a feature group that keeps versions by it (``keep_versions``). When a
corrected report of January arrives in March, the features of January are computed again and the value known
before stays beside the corrected one; the point-in-time join gives an event before the correction the value
known then, and an event after it the corrected one. Computing again with nothing new changes nothing."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from featurelake.core.dates import DateRange
from featurelake.featurestore.materialize import materialize
from featurelake.featurestore.point_in_time import as_of_join
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import refine
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from tests.cadence_projects import period_conf
from tests.integration.test_periods import market_csv

pytestmark = pytest.mark.integration

D = dt.date
JANUARY = DateRange(D(2014, 1, 1), D(2014, 1, 31))

CITY_PRICE = '''
from featurelake import Entity, Feature, feature_group


@feature_group(
    entity=Entity("city", join_keys={"city": "string"}),
    inputs={"market": "silver.market"},
    event_time="reported_at",
    created_time="arrived_at",
    keep_versions=True,
    features=[Feature("median_price", "double", "the month's median price")],
)
def city_price(market):
    """A city's median price of the month, as each delivery told it."""
    return market.select("city", "reported_at", "arrived_at", "median_price", "_run_date")
'''


@pytest.fixture
def settings(make_settings):
    """The cadence projects' market source with folders named by arrival days, silver.market with the day each row
    arrived (the end of that day in Chicago), and the project's features package holding city_price."""
    first = make_settings()  # the project copied: its features package gets the group
    (first.conf_dir.parent / "features" / "city_price.py").write_text(textwrap.dedent(CITY_PRICE).lstrip())
    conf = period_conf("market")
    conf["sources"]["market"] = {**conf["sources"]["market"], "folders": "arrival", "arrives_within": "2 months"}
    arrived = {"name": "arrived_at", "arrival_time": {"timezone": "America/Chicago"}}
    conf["tables"]["silver.market"]["refine"]["derive"] = [
        *conf["tables"]["silver.market"]["refine"]["derive"],
        arrived,
    ]
    return make_settings(conf)


def run_january(spark, settings, run_id: str) -> None:
    ctx = Context.of(spark, settings, run_id)
    ingest(ctx, "market", JANUARY)
    refine(ctx, "silver.market", JANUARY)
    materialize(ctx, "city_price", JANUARY)


def versions(spark, settings) -> list[tuple]:
    stored = Catalog(spark, settings).read("features.city_price")
    return sorted(tuple(r) for r in stored.select("city", "median_price", "_available_at").collect())


def test_a_correction_is_a_version_known_from_its_arrival_and_events_before_it_see_the_value_known_then(
    spark, settings, deliver
):
    deliver("market", D(2014, 2, 15), market_csv(D(2014, 1, 1), {"austin": 300.0, "boise": 200.0}))
    run_january(spark, settings, "run-1")
    # a corrected report of austin arrives on 3 March: January is ingested, refined and computed again
    deliver("market", D(2014, 3, 3), market_csv(D(2014, 1, 1), {"austin": 310.0}))
    run_january(spark, settings, "run-2")

    # known at the end of the day it arrived, midnight in Chicago (CST, UTC-6)
    first, corrected = dt.datetime(2014, 2, 16, 6), dt.datetime(2014, 3, 4, 6)
    assert versions(spark, settings) == [
        ("austin", 300.0, first),
        ("austin", 310.0, corrected),
        ("boise", 200.0, first),
    ]

    events = spark.createDataFrame(
        [
            ("austin", dt.datetime(2014, 2, 1)),  # before anything of January was known
            ("austin", dt.datetime(2014, 2, 20)),  # after the report, before the correction
            ("austin", dt.datetime(2014, 3, 10)),  # after the correction
            ("boise", dt.datetime(2014, 3, 10)),
        ],
        "city string, as_of timestamp",
    )
    features = Catalog(spark, settings).read("features.city_price")
    joined = as_of_join(
        events,
        features,
        keys=["city"],
        as_of="as_of",
        event_time="reported_at",
        created_time="_available_at",
        feature_columns=["median_price"],
    )
    assert sorted(tuple(r) for r in joined.select("city", "as_of", "median_price").collect()) == [
        ("austin", dt.datetime(2014, 2, 1), None),
        ("austin", dt.datetime(2014, 2, 20), 300.0),
        ("austin", dt.datetime(2014, 3, 10), 310.0),
        ("boise", dt.datetime(2014, 3, 10), 200.0),
    ]

    # nothing new: computing January again leaves the same versions
    materialize(Context.of(spark, settings, "run-3"), "city_price", JANUARY)
    assert versions(spark, settings) == [
        ("austin", 300.0, first),
        ("austin", 310.0, corrected),
        ("boise", 200.0, first),
    ]
    # an earlier version stays as the run that saw it computed it; the current ones are this run's
    stored = Catalog(spark, settings).read("features.city_price").select("city", "median_price", "_run_id")
    assert sorted(tuple(r) for r in stored.collect()) == [
        ("austin", 300.0, "run-1"),
        ("austin", 310.0, "run-3"),
        ("boise", 200.0, "run-3"),
    ]
