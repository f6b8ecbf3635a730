"""How departures from an airport, and flights on a route, have been doing lately."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from featurelake import Feature, feature_group
from features.entities import origin_airport, route
from features.flight_stats import DAILY_STATISTICS, trailing_performance

ORIGIN_WINDOWS = {1: ["delayed_share"], 7: ["delayed_share", "cancel_rate"], 28: ["delayed_share"]}
ROUTE_WINDOWS = {28: ["delayed_share", "mean_arr_delay"]}


@feature_group(
    entity=origin_airport,
    ttl=dt.timedelta(days=7),
    features=[
        Feature(
            "origin_delayed_share_1d",
            "double",
            "share of the airport's arrived departures more than 15 minutes late, 1 day",
        ),
        Feature("origin_delayed_share_7d", "double", "the same over 7 days"),
        Feature("origin_cancel_rate_7d", "double", "share of the airport's scheduled departures cancelled, 7 days"),
        Feature(
            "origin_delayed_share_28d",
            "double",
            "share of the airport's arrived departures more than 15 minutes late, 28 days",
        ),
    ],
    **DAILY_STATISTICS,
)
def origin_performance(flights: DataFrame) -> DataFrame:
    """Trailing delay rates of the departure airport, known once the day is over."""
    return flights.transform(trailing_performance(["origin"], ORIGIN_WINDOWS, prefix="origin"))


@feature_group(
    entity=route,
    ttl=dt.timedelta(days=28),
    features=[
        Feature(
            "route_delayed_share_28d",
            "double",
            "share of the route's arrived flights more than 15 minutes late, 28 days",
        ),
        Feature("route_mean_arr_delay_28d", "double", "mean arrival delay on the route, minutes, 28 days"),
    ],
    **DAILY_STATISTICS,
)
def route_performance(flights: DataFrame) -> DataFrame:
    """Trailing delay rates of the route (origin -> destination), known once the day is over."""
    return flights.transform(trailing_performance(["origin", "dest"], ROUTE_WINDOWS, prefix="route"))
