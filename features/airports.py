"""How departures from an airport, and flights on a route, have been doing lately."""

from __future__ import annotations

import datetime as dt

from featurelake.featurestore.groups import feature_group
from features.flight_stats import DAILY_STATISTICS, trailing_performance

ORIGIN_WINDOWS = {1: ["delayed_share"], 7: ["delayed_share", "cancel_rate"], 28: ["delayed_share"]}
ROUTE_WINDOWS = {28: ["delayed_share", "mean_arr_delay"]}


@feature_group(
    keys=["origin"],
    ttl=dt.timedelta(days=7),
    features={
        "origin_delayed_share_1d": "share of the airport's arrived departures more than 15 minutes late, 1 day",
        "origin_delayed_share_7d": "the same over 7 days",
        "origin_cancel_rate_7d": "share of the airport's scheduled departures cancelled, 7 days",
        "origin_delayed_share_28d": "share of the airport's arrived departures more than 15 minutes late, 28 days",
    },
    **DAILY_STATISTICS,
)
def origin_performance(inputs, run_dates):
    """Trailing delay rates of the departure airport, known once the day is over."""
    return inputs["silver.flights"].transform(trailing_performance(["origin"], ORIGIN_WINDOWS, prefix="origin"))


@feature_group(
    keys=["origin", "dest"],
    ttl=dt.timedelta(days=28),
    features={
        "route_delayed_share_28d": "share of the route's arrived flights more than 15 minutes late, 28 days",
        "route_mean_arr_delay_28d": "mean arrival delay on the route, minutes, 28 days",
    },
    **DAILY_STATISTICS,
)
def route_performance(inputs, run_dates):
    """Trailing delay rates of the route (origin -> destination), known once the day is over."""
    return inputs["silver.flights"].transform(trailing_performance(["origin", "dest"], ROUTE_WINDOWS, prefix="route"))
