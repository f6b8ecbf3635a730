"""Quarantine tables: the rows a table refused, with the reasons, kept beside it (quarantine.<layer>_<name>).

Every stage that refuses rows writes them through here, so all quarantine tables share one schema and a
rerun of a run date replaces (or empties) exactly that date's quarantined rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import INGESTED_AT, REASONS, RUN_DATE, RUN_ID, SOURCE_FILE
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog

RAW = "_raw"

QUARANTINE_SCHEMA = T.StructType(
    [
        T.StructField(RAW, T.StringType()),
        T.StructField(REASONS, T.ArrayType(T.StringType())),
        T.StructField(SOURCE_FILE, T.StringType()),
        T.StructField(INGESTED_AT, T.TimestampType()),
        T.StructField(RUN_ID, T.StringType()),
        T.StructField(RUN_DATE, T.DateType()),
    ]
)


def refused_rows(frame: DataFrame, raw: Column, run_id: str) -> DataFrame:
    """The rows of ``frame`` with a non-empty reasons column, in the quarantine schema."""
    return frame.where(F.size(REASONS) > 0).select(
        raw.alias(RAW),
        F.col(REASONS),
        F.col(SOURCE_FILE),
        F.col(INGESTED_AT),
        F.lit(run_id).alias(RUN_ID),
        F.col(RUN_DATE),
    )


def publish(catalog: Catalog, table: str, run_dates: DateRange, rows: DataFrame | None) -> None:
    """Replace the run dates' slice of the table's quarantine with ``rows``, or empty it when there are none."""
    name = catalog.table(table).quarantine
    if rows is None:
        catalog.clear_slice(name, run_dates, QUARANTINE_SCHEMA)
    else:
        catalog.replace_slice(rows, name, run_dates)
