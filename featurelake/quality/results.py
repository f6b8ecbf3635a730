"""quality.results: the history of every validation, one row per expectation judged (and per daily metric anomaly
checks read), appended by the gates (featurelake.quality.gate). Its layout is defined here and nowhere else: the
schema the gates append with, the columns its readers filter on, and which rows count.

A row is recorded with the table version its validation judged once the judged rows are committed
(``committed`` true); a failed gate's rows say they were not committed, and readers of the history see committed
rows only (``committed_results``). Rows recorded before the commit columns existed read as committed.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.lake.catalog import Catalog

RUN_ID = "run_id"
VALIDATED_AT = "validated_at"
TABLE = "table"
RUN_DATE_FROM = "run_date_from"
EXPECTATION = "expectation"
EXPECTATION_TYPE = "expectation_type"
OBSERVED_VALUE = "observed_value"
COMMITTED = "committed"

RESULTS_SCHEMA = T.StructType(
    [
        T.StructField(RUN_ID, T.StringType()),
        T.StructField(VALIDATED_AT, T.TimestampType()),
        T.StructField(TABLE, T.StringType()),
        T.StructField("suite", T.StringType()),
        T.StructField("policy", T.StringType()),
        T.StructField(RUN_DATE_FROM, T.DateType()),
        T.StructField("run_date_to", T.DateType()),
        T.StructField(EXPECTATION, T.StringType()),
        T.StructField(EXPECTATION_TYPE, T.StringType()),
        T.StructField("kwargs", T.StringType()),
        T.StructField("success", T.BooleanType()),
        T.StructField(OBSERVED_VALUE, T.StringType()),
        T.StructField("unexpected_count", T.LongType()),
        T.StructField("unexpected_percent", T.DoubleType()),
        T.StructField("element_count", T.LongType()),
        T.StructField(COMMITTED, T.BooleanType()),
        T.StructField("table_version", T.LongType()),
    ]
)


def recorded(catalog: Catalog) -> bool:
    """Whether any validation was recorded yet."""
    return catalog.exists(catalog.settings.project.quality.results_table)


def append(catalog: Catalog, rows: list[tuple]) -> None:
    """Append rows of RESULTS_SCHEMA (a history written before the commit columns gains them); in a run, on its
    writer thread (Catalog.append_later)."""
    results = catalog.settings.project.quality.results_table
    catalog.append_later(catalog.frame_of(rows, RESULTS_SCHEMA), results, merge_schema=True)


def committed_results(catalog: Catalog) -> DataFrame:
    """The results of the validations whose rows were committed (rows recorded before the ``committed`` column
    existed count as committed)."""
    results = catalog.read(catalog.settings.project.quality.results_table)
    if COMMITTED not in results.columns:
        return results
    return results.where(F.coalesce(F.col(COMMITTED), F.lit(True)))
