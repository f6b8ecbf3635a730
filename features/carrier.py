"""How each carrier has been doing: the share of its flights more than 15 minutes late, its mean arrival
delay and its cancellation rate over the last 1, 7 and 28 days."""

from __future__ import annotations

import datetime as dt

from featurelake.featurestore.groups import feature_group
from features.flight_stats import DAILY_STATISTICS, trailing_performance

STATISTICS = ["delayed_share", "mean_arr_delay", "cancel_rate"]
WINDOWS = {1: STATISTICS, 7: STATISTICS, 28: STATISTICS}
DESCRIPTIONS = {
    "delayed_share": "share of the carrier's arrived flights more than 15 minutes late",
    "mean_arr_delay": "mean arrival delay of the carrier's arrived flights, minutes",
    "cancel_rate": "share of the carrier's scheduled flights cancelled",
}


@feature_group(
    keys=["carrier"],
    ttl=dt.timedelta(days=7),
    features={
        f"carrier_{s}_{days}d": f"{DESCRIPTIONS[s]}, over the {days} day(s) ending at the event time"
        for days, statistics in WINDOWS.items()
        for s in statistics
    },
    **DAILY_STATISTICS,
)
def carrier_performance(inputs, run_dates):
    """Trailing daily performance of each carrier, known once the day is over."""
    return inputs["silver.flights"].transform(trailing_performance(["carrier"], WINDOWS, prefix="carrier"))
