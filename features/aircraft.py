"""The aircraft flying a flight, from the planes snapshot: age, size and type."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.featurestore.groups import feature_group
from features.flight_stats import LOCAL_TIMEZONE

VALID_FROM = "valid_from"


@feature_group(
    keys=["tailnum"],
    event_time=VALID_FROM,
    # restated at the start of every month, so the age follows the calendar year of the flight
    ttl=dt.timedelta(days=32),
    inputs=["silver.planes"],
    features={
        "aircraft_age_years": "years since the aircraft was built, in the flight's year",
        "aircraft_seats": "seats",
        "aircraft_engines": "number of engines",
        "aircraft_type": "aircraft type (e.g. Fixed wing multi engine)",
        "aircraft_engine": "engine type (e.g. Turbo-fan)",
    },
)
def aircraft(inputs, run_dates):
    """Each known aircraft from New York midnight of the first day of every month, from the planes
    snapshot delivered by then.
    A flight whose plane is not in the snapshot keeps its row, with nulls."""
    months = inputs["silver.planes"].sparkSession.createDataFrame(
        [(day,) for day in run_dates.days() if day.day == 1], f"{RUN_DATE} date"
    )
    planes = inputs["silver.planes"].withColumnRenamed(RUN_DATE, "snapshot_date")
    known_then = F.col("snapshot_date") <= F.col(RUN_DATE)
    return months.join(planes, on=known_then, how="inner").select(
        F.col("tailnum").cast("string"),
        F.to_utc_timestamp(F.to_timestamp(F.col(RUN_DATE)), LOCAL_TIMEZONE).alias(VALID_FROM),
        (F.year(F.col(RUN_DATE)) - F.col("year")).cast("int").alias("aircraft_age_years"),
        F.col("seats").cast("int").alias("aircraft_seats"),
        F.col("engines").cast("int").alias("aircraft_engines"),
        F.col("type").cast("string").alias("aircraft_type"),
        F.col("engine").cast("string").alias("aircraft_engine"),
        F.col(RUN_DATE),
    )
