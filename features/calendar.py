"""Calendar features of the scheduled departure: hour, weekday, month, and the distance to US holidays."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake import RUN_DATE, DateRange, Feature, feature_group
from features.entities import departure_hour

PUBLISHED_AT = "published_at"


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday (0 = Monday) of a month; n = -1 is the last one."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def us_federal_holidays(year: int) -> list[dt.date]:
    """The US federal holidays of a year, on their nominal dates."""
    return sorted(
        [
            dt.date(year, 1, 1),
            _nth_weekday(year, 1, 0, 3),  # Martin Luther King Jr. Day
            _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
            _nth_weekday(year, 5, 0, -1),  # Memorial Day
            dt.date(year, 7, 4),
            _nth_weekday(year, 9, 0, 1),  # Labor Day
            _nth_weekday(year, 10, 0, 2),  # Columbus Day
            dt.date(year, 11, 11),
            _nth_weekday(year, 11, 3, 4),  # Thanksgiving
            dt.date(year, 12, 25),
        ]
    )


@feature_group(
    entity=departure_hour,
    event_time=PUBLISHED_AT,
    # a calendar is known ahead: each day's rows are published the day before, so any prediction time
    # of the day (up to an hour before its first departure) can use them
    ttl=dt.timedelta(days=3),
    features=[
        Feature("cal_hour", "int", "scheduled departure hour, New York time"),
        Feature("cal_weekday", "int", "day of the week, 1 = Monday ... 7 = Sunday"),
        Feature("cal_month", "int", "month, 1-12"),
        Feature("cal_is_weekend", "int", "1 on Saturdays and Sundays"),
        Feature("cal_days_to_holiday", "int", "days to the nearest US federal holiday (0 on the holiday)"),
    ],
)
def calendar(run_dates: DateRange) -> DataFrame:
    """Calendar features for every hour of every run date, a function of the date alone."""
    spark = SparkSession.getActiveSession()
    years = range(run_dates.start.year - 1, run_dates.end.year + 2)
    holidays = F.array(*[F.lit(day) for year in years for day in us_federal_holidays(year)])
    hours = [(day, hour) for day in run_dates.days() for hour in range(24)]
    frame = spark.createDataFrame(hours, f"{RUN_DATE} date, hour int")
    weekday = (F.dayofweek(F.col(RUN_DATE)) + 5) % 7 + 1  # Spark: 1 = Sunday; ISO: 1 = Monday
    return frame.select(
        F.year(RUN_DATE).alias("year"),
        F.month(RUN_DATE).alias("month"),
        F.dayofmonth(RUN_DATE).alias("day"),
        F.col("hour"),
        F.to_timestamp(F.date_sub(F.col(RUN_DATE), 1)).alias(PUBLISHED_AT),
        F.col("hour").alias("cal_hour"),
        weekday.cast("int").alias("cal_weekday"),
        F.month(RUN_DATE).alias("cal_month"),
        (weekday >= 6).cast("int").alias("cal_is_weekend"),
        F.array_min(F.transform(holidays, lambda h: F.abs(F.datediff(h, F.col(RUN_DATE))))).alias(
            "cal_days_to_holiday"
        ),
        F.col(RUN_DATE),
    )
