"""The aircraft flying a flight, from the planes snapshot: age, size and type."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake import RUN_DATE, DateRange, Feature, feature_group
from features.entities import aircraft_tail
from features.flight_stats import LOCAL_TIMEZONE

VALID_FROM = "valid_from"


@feature_group(
    entity=aircraft_tail,
    event_time=VALID_FROM,
    # restated at the start of every month, so the age follows the calendar year of the flight
    ttl=dt.timedelta(days=32),
    inputs={"planes": "silver.planes"},
    features=[
        Feature("aircraft_age_years", "int", "years since the aircraft was built, in the flight's year"),
        Feature("aircraft_seats", "int", "seats"),
        Feature("aircraft_engines", "int", "number of engines"),
        Feature("aircraft_type", "string", "aircraft type (e.g. Fixed wing multi engine)"),
        Feature("aircraft_engine", "string", "engine type (e.g. Turbo-fan)"),
    ],
)
def aircraft(planes: DataFrame, run_dates: DateRange) -> DataFrame:
    """Each known aircraft from New York midnight of the first day of every month, from the planes
    snapshot delivered by then.
    A flight whose plane is not in the snapshot keeps its row, with nulls."""
    months = planes.sparkSession.createDataFrame(
        [(day,) for day in run_dates.days() if day.day == 1], f"{RUN_DATE} date"
    )
    snapshots = planes.withColumnRenamed(RUN_DATE, "snapshot_date")
    known_then = F.col("snapshot_date") <= F.col(RUN_DATE)
    return months.join(snapshots, on=known_then, how="inner").select(
        F.col("tailnum").cast("string"),
        F.to_utc_timestamp(F.to_timestamp(F.col(RUN_DATE)), LOCAL_TIMEZONE).alias(VALID_FROM),
        (F.year(F.col(RUN_DATE)) - F.col("year")).cast("int").alias("aircraft_age_years"),
        F.col("seats").cast("int").alias("aircraft_seats"),
        F.col("engines").cast("int").alias("aircraft_engines"),
        F.col("type").cast("string").alias("aircraft_type"),
        F.col("engine").cast("string").alias("aircraft_engine"),
        F.col(RUN_DATE),
    )
