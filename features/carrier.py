"""How each carrier has been doing: the share of its flights more than 15 minutes late, its mean arrival
delay and its cancellation rate over the last 1, 7 and 28 days."""

from __future__ import annotations

import datetime as dt

from featurelake.feature_groups import feature_group
from features.flight_stats import DAY_ENDS_AT, daily_outcomes, end_of_day, trailing_rates

STATISTICS = ["delayed_share", "mean_arr_delay", "cancel_rate"]
WINDOWS = {1: STATISTICS, 7: STATISTICS, 28: STATISTICS}
DESCRIPTIONS = {
    "delayed_share": "share of the carrier's arrived flights more than 15 minutes late",
    "mean_arr_delay": "mean arrival delay of the carrier's arrived flights, minutes",
    "cancel_rate": "share of the carrier's scheduled flights cancelled",
}


@feature_group(
    keys=["carrier"],
    event_time=DAY_ENDS_AT,
    # the day's last arrivals land after midnight; its statistics are in by 06:00 UTC+offset next day
    availability_lag=dt.timedelta(hours=6),
    ttl=dt.timedelta(days=7),
    lookback_days=27,
    inputs=["silver.flights"],
    features={
        f"carrier_{s}_{days}d": f"{DESCRIPTIONS[s]}, over the {days} day(s) up to the previous day end"
        for days, statistics in WINDOWS.items()
        for s in statistics
    },
)
def carrier_performance(inputs, run_dates):
    """Trailing daily performance of each carrier, known once the day is over."""
    keys = ["carrier"]
    return (
        inputs["silver.flights"]
        .transform(daily_outcomes(keys))
        .transform(trailing_rates(keys, WINDOWS, prefix="carrier"))
        .transform(end_of_day)
    )
