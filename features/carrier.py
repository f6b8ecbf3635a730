"""How each carrier has been doing: the share of its flights more than 15 minutes late, its mean arrival
delay and its cancellation rate over the last 1, 7 and 28 days."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame

from featurelake import Feature, feature_group
from features.entities import carrier
from features.flight_stats import DAILY_STATISTICS, trailing_performance

STATISTICS = ["delayed_share", "mean_arr_delay", "cancel_rate"]
WINDOWS = {1: STATISTICS, 7: STATISTICS, 28: STATISTICS}
DESCRIPTIONS = {
    "delayed_share": "share of the carrier's arrived flights more than 15 minutes late",
    "mean_arr_delay": "mean arrival delay of the carrier's arrived flights, minutes",
    "cancel_rate": "share of the carrier's scheduled flights cancelled",
}


@feature_group(
    entity=carrier,
    ttl=dt.timedelta(days=7),
    features=[
        Feature(f"carrier_{s}_{days}d", "double", f"{DESCRIPTIONS[s]}, over the {days} day(s) ending at the event time")
        for days, statistics in WINDOWS.items()
        for s in statistics
    ],
    **DAILY_STATISTICS,
)
def carrier_performance(flights: DataFrame) -> DataFrame:
    """Trailing daily performance of each carrier, known once the day is over."""
    return flights.transform(trailing_performance(["carrier"], WINDOWS, prefix="carrier"))
