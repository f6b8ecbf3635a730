"""Trailing delay statistics of flights by any grouping (carrier, origin airport, route), one row per day.

A day's statistics are true at the end of that day in New York and known only once its arrivals are in:
the groups built from them declare the end of the day as event time and a lag before they are available.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from featurelake import RUN_DATE

LOCAL_TIMEZONE = "America/New_York"
DELAYED_MINUTES = 15
DAY_ENDS_AT = "day_ends_at"

# What every group of daily flight statistics declares: true at the end of the New York day, known once
# the day's last arrivals are in (6 h later), built from the flights of the day and the 27 before it.
DAILY_STATISTICS = {
    "event_time": DAY_ENDS_AT,
    "availability_lag": dt.timedelta(hours=6),
    "lookback": "27 days",
    "inputs": {"flights": "silver.flights"},
}


def daily_outcomes(keys: list[str]):
    """Per key and day: flights scheduled, cancelled, arrived, arrived more than 15 minutes late, and the
    sum of arrival delays."""

    def apply(flights: DataFrame) -> DataFrame:
        cancelled = F.col("dep_time").isNull()
        arrived = F.col("arr_delay").isNotNull()
        delayed = F.col("arr_delay") > DELAYED_MINUTES
        return flights.groupBy(*keys, RUN_DATE).agg(
            F.count(F.lit(1)).alias("flights"),
            F.count_if(cancelled).alias("cancelled"),
            F.count_if(arrived).alias("arrived"),
            F.count_if(delayed).alias("delayed"),
            F.sum(F.when(arrived, F.col("arr_delay"))).alias("arr_delay_sum"),
        )

    return apply


def trailing_rates(keys: list[str], windows: dict[int, list[str]], prefix: str):
    """Add, per trailing window of N days (the day and the N-1 before it), the requested statistics:
    ``delayed_share`` (of arrived flights), ``mean_arr_delay`` (minutes) and ``cancel_rate``. Days without
    flights of a key contribute nothing; a window with no arrival gives null, not a division by zero."""

    def apply(daily: DataFrame) -> DataFrame:
        day_number = F.unix_date(F.col(RUN_DATE))
        out = daily
        for days, statistics in windows.items():
            frame = Window.partitionBy(*keys).orderBy(day_number).rangeBetween(-(days - 1), Window.currentRow)

            def total(column: str, frame=frame):
                return F.sum(column).over(frame)

            formulas = {
                "delayed_share": F.try_divide(total("delayed"), total("arrived")),
                "mean_arr_delay": F.try_divide(total("arr_delay_sum"), total("arrived")),
                "cancel_rate": F.try_divide(total("cancelled"), total("flights")),
            }
            for statistic in statistics:
                out = out.withColumn(f"{prefix}_{statistic}_{days}d", formulas[statistic].cast("double"))
        return out

    return apply


def end_of_day(frame: DataFrame) -> DataFrame:
    """The moment the run date ends in New York, in UTC: when a day's statistics become true."""
    next_midnight = F.to_timestamp(F.date_add(F.col(RUN_DATE), 1))
    return frame.withColumn(DAY_ENDS_AT, F.to_utc_timestamp(next_midnight, LOCAL_TIMEZONE))


def trailing_performance(keys: list[str], windows: dict[int, list[str]], prefix: str):
    """Flights -> one row per key and day with the trailing statistics, true at the end of that day."""

    def apply(flights: DataFrame) -> DataFrame:
        return (
            flights.transform(daily_outcomes(keys))
            .transform(trailing_rates(keys, windows, prefix))
            .transform(end_of_day)
        )

    return apply
