"""Row-level predicates, each true for exactly the rows GX counts as unexpected for its expectation type.

NULLs are ignored except by not-null, ``strict_min``/``strict_max`` are honoured, uniqueness is windowed over the
whole batch, and a pair expectation ignores rows with both values missing; tests hold each one equal to GX's
unexpected rows."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, Window
from pyspark.sql import functions as F


def _not_null(kwargs: dict) -> Column:
    return F.col(kwargs["column"]).isNull()


def _between(kwargs: dict) -> Column:
    column = F.col(kwargs["column"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    inside = F.lit(True)
    if low is not None:
        inside = inside & (column > F.lit(low) if kwargs.get("strict_min") else column >= F.lit(low))
    if high is not None:
        inside = inside & (column < F.lit(high) if kwargs.get("strict_max") else column <= F.lit(high))
    return column.isNotNull() & ~inside


def _in_set(kwargs: dict) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & ~column.isin(list(kwargs["value_set"]))


def _not_in_set(kwargs: dict) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & column.isin(list(kwargs["value_set"]))


def _match_regex(kwargs: dict) -> Column:
    column = F.col(kwargs["column"])
    return column.isNotNull() & ~column.rlike(kwargs["regex"])


def _unique(kwargs: dict) -> Column:
    column = kwargs["column"]
    window = Window.partitionBy(column).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return F.col(column).isNotNull() & (F.count(F.lit(1)).over(window) > 1)


def _compound_unique(kwargs: dict) -> Column:
    columns = list(kwargs["column_list"])
    window = Window.partitionBy(*columns).rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    all_missing = reduce(Column.__and__, [F.col(c).isNull() for c in columns])
    return ~all_missing & (F.count(F.lit(1)).over(window) > 1)


def _a_greater_than_b(kwargs: dict) -> Column:
    a, b = F.col(kwargs["column_A"]), F.col(kwargs["column_B"])
    expected = (a >= b) if kwargs.get("or_equal") else (a > b)
    return F.coalesce(~expected, F.lit(False))


ROW_LEVEL = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_not_be_in_set": _not_in_set,
    "expect_column_values_to_match_regex": _match_regex,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _a_greater_than_b,
}
