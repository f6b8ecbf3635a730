"""Constraints a table's Delta log carries, so that no writer can break them: NOT NULL on its keys (a silver
table's declared keys, a feature table's join keys) and the CHECK constraints tables.yaml declares
(``checks: {positive_distance: "distance > 0"}``). Delta enforces both on every write and refuses a violating
write whole; the refusal is turned into one sentence naming the table, the constraint and a row's values, and the
table stays at its version.

NOT NULL travels with the write itself, as Delta's column invariant (``delta.invariants`` in the column's
metadata, kept in the table's schema from its first write on): no commit of its own. CHECK constraints are table
properties that only a table's creation or an ALTER TABLE sets: a table that declares checks is created with them,
before its first write. A table written before its keys were constrained keeps the schema it has.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError
from featurelake.lake.tables import Table

CHECK_PROPERTY = "delta.constraints."
# Delta's error classes of a write that broke a constraint (with replaceWhere, Delta reports a violated
# constraint as a mismatch of the overwrite condition "or constraint")
VIOLATIONS = (
    "DELTA_NOT_NULL_CONSTRAINT_VIOLATED",
    "DELTA_VIOLATE_CONSTRAINT_WITH_VALUES",
    "DELTA_REPLACE_WHERE_MISMATCH",
)


INVARIANTS = "delta.invariants"


def with_not_null_keys(table: Table, frame: DataFrame) -> DataFrame:
    """The frame with a NOT NULL invariant on each of the table's key columns (their values unchanged)."""
    keys = [k for k in table.not_null if k in frame.columns]
    if not keys:
        return frame

    def constrained(field) -> Column:
        invariant = {"expression": {"expression": f"`{field.name}` IS NOT NULL"}}
        return F.col(field.name).alias(field.name, metadata={**field.metadata, INVARIANTS: json.dumps(invariant)})

    return frame.select(*[constrained(f) if f.name in keys else F.col(f.name) for f in frame.schema.fields])


def create_with_checks(spark: SparkSession, table: Table, frame: DataFrame) -> None:
    """Create a table that declares CHECK constraints, with the frame's columns and partitioning, before its first
    write (nothing for a table without checks, or one that exists)."""
    from delta.tables import DeltaTable

    if not table.checks or DeltaTable.isDeltaTable(spark, table.path):
        return
    builder = DeltaTable.createIfNotExists(spark).location(table.path).addColumns(frame.schema)
    if table.partition_by:
        builder = builder.partitionedBy(*table.partition_by)
    for check, expression in table.checks.items():
        _refuse_unreadable(frame, table.name, check, expression)
        builder = builder.property(f"{CHECK_PROPERTY}{check}", expression)
    builder.execute()


@contextlib.contextmanager
def refusing_violations(table: Table, frame: DataFrame, run_dates: DateRange | None) -> Iterator[None]:
    """Turn Delta's refusal of a write that breaks a constraint into one sentence (InputError)."""
    try:
        yield
    except Exception as exc:
        if not any(error in str(exc) for error in VIOLATIONS):
            raise
        found = first_violation(table, frame)
        if found is None:
            raise
        slice_ = f" for {run_dates}" if run_dates is not None else ""
        raise InputError(
            f"{table.name} refused the write{slice_}: {found}; nothing was written, the table is unchanged. Fix the "
            "rows upstream (or the constraint in tables.yaml) and run the step again."
        ) from None


def first_violation(table: Table, frame: DataFrame) -> str | None:
    """The first constraint some row of the frame breaks, in words with that row's values (one small job per
    constraint, on the failure path only)."""
    name = table.name
    for column in table.not_null:
        if column in frame.columns:
            count = frame.where(F.col(column).isNull()).count()
            if count:
                rule = "a feature group's join key" if name.startswith("features.") else f"tables.{name}.keys"
                return f"{count:,} row(s) have a null {column}, which is NOT NULL ({rule})"
    for check, expression in table.checks.items():
        broken = frame.where(~F.coalesce(F.expr(expression), F.lit(False)))
        row = broken.limit(1).collect()  # bounded: one row
        if row:
            values = ", ".join(f"{k}={v!r}" for k, v in row[0].asDict().items() if not k.startswith("_"))
            return f"a row breaks tables.{name}.checks.{check} ({expression}): {values}"
    return None


def _refuse_unreadable(frame: DataFrame, name: str, check: str, expression: str) -> None:
    """A CHECK expression must be a boolean over the table's columns: parsed and resolved against the frame."""
    try:
        kind = frame.select(F.expr(expression).alias("check")).schema["check"].dataType.typeName()
    except Exception as exc:  # a parse or analysis error of Spark, whose first line says why
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InputError(
            f"tables.{name}.checks.{check} ({expression}) is not an expression over {name}: {first}."
        ) from None
    if kind != "boolean":
        raise InputError(
            f"tables.{name}.checks.{check} ({expression}) is of type {kind}, not a condition; write a comparison."
        )
