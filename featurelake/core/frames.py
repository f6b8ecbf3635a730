"""DataFrames of the few rows a program holds itself (the ledger's, a gate's results, a test's hand-written rows).

``spark.createDataFrame`` on a list of tuples sends the rows through a Python worker process: about a quarter of
a second for two rows, every time. Handed over as one Arrow batch they take about a thirtieth of that, with
exactly the schema given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql import types as T


def local_frame(spark: SparkSession, rows: Sequence[Sequence[Any] | Mapping[str, Any]], schema: T.StructType | str):
    """A DataFrame of these rows (tuples in the schema's column order, or mappings by column name) with exactly
    this schema (a StructType or a DDL string such as ``"carrier string, day date"``)."""
    import pyarrow as pa
    from pyspark.sql import types as T
    from pyspark.sql.pandas.types import to_arrow_schema

    if isinstance(schema, str):
        schema = T._parse_datatype_string(schema)
    names = schema.fieldNames()
    tuples = [tuple(row[n] for n in names) if isinstance(row, Mapping) else tuple(row) for row in rows]
    arrow = to_arrow_schema(schema)
    columns = list(zip(*tuples, strict=True)) if tuples else [() for _ in names]
    arrays = [pa.array(list(values), type=field.type) for values, field in zip(columns, arrow, strict=True)]
    frame: DataFrame = spark.createDataFrame(pa.Table.from_arrays(arrays, schema=arrow), schema)
    return frame
