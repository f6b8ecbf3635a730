"""The one pass: the metrics Great Expectations needs for a suite, computed in a single Spark aggregation.

GX splits an expectation in two: the metrics it declares (``get_validation_dependencies``: ``table.row_count``,
``column_values.in_set.unexpected_count``, ``column.mean``, ...) and the judgement of those metrics
(``metrics_validate``: success, observed value, counts, percentages, ``mostly``). GX computes each metric in a
Spark job of its own, ~50 per validation. Here the engine computes the metrics of every expectation it knows,
for the whole batch and per run date, in one ``rollup`` aggregation over the rows flagged for the quarantine
split, and hands them to GX's own ``metrics_validate``: what is reported is what GX would report.

A metric is computed here exactly as GX's Spark engine computes it (``F.mean``, ``F.min``, ``F.stddev_samp``,
``F.countDistinct``, a sum widened to double for integral columns, proportions of non-null rows); an unexpected
count is the count of the rule's predicate (``predicates.py``, tested equal to GX's unexpected rows). An
expectation needing anything else (another metric, a ``row_condition``, a non-default ``ignore_row_if``) is left
to GX.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.columns import REASONS, RUN_DATE
from featurelake.quality.suites import NOT_NULL, ROW_COUNT, Rule, Suite

# No partial lists of unexpected values: the quarantine holds the rows themselves.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
NUMERIC = (T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.FloatType, T.DoubleType, T.DecimalType)
INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
MEAN_TYPES = (T.DecimalType, T.IntegerType, T.DoubleType, T.FloatType, T.LongType)  # GX's column.mean accepts
DEFAULT_IGNORE = {"column_pair_values": "both_values_are_missing", "compound_columns": "all_values_are_missing"}
TOTAL = "__grand_total"


@dataclass(frozen=True)
class Metric:
    """One metric an expectation needs: GX's configuration (its id keys the value) and how to get the value,
    either a constant or the value of one or more aggregate columns combined."""

    config: Any  # great_expectations MetricConfiguration
    columns: tuple[str, ...] = ()  # aggregate column names this metric reads
    constant: Any = None

    def value(self, row: dict) -> Any:
        return self.constant if not self.columns else _combine(self.config.metric_name, [row[c] for c in self.columns])


def _combine(name: str, values: list) -> Any:
    if name == "column.unique_proportion":  # GX: distinct / non-null, 0 when every value is null
        distinct, nonnull = values
        return distinct / nonnull if nonnull else 0
    if name == "column.non_null_proportion":  # GX: non-null / rows, 0 on no rows
        nonnull, rows = values
        return nonnull / rows if rows else 0
    return values[0]


@dataclass(frozen=True)
class Plan:
    """The aggregate columns of one pass, and per engine-judged rule the metrics GX will read."""

    aggregates: dict[str, Column]
    metrics: dict[str, list[Metric]]  # rule name -> its metrics
    gx_rules: list[Rule]  # rules GX validates itself
    null_columns: list[str]  # daily null fractions, read by the anomaly checks


def plan(suite: Suite, frame: DataFrame) -> Plan:
    """Which metrics each rule needs and the aggregate columns that compute them, shared between rules."""
    types = {f.name: f.dataType for f in frame.schema.fields}
    aggregates: dict[str, Column] = {"row_count": F.count(F.lit(1)), "failing": F.count_if(F.size(REASONS) > 0)}
    metrics: dict[str, list[Metric]] = {}
    gx_rules: list[Rule] = []
    for index, rule in enumerate(r for r in suite.rules if r.type != ROW_COUNT):
        needed = _metrics_of(rule, index, types, aggregates)
        if needed is None:
            gx_rules.append(rule)
        else:
            metrics[rule.name] = needed
    null_columns = sorted({r.kwargs["column"] for r in suite.rules if r.type == NOT_NULL})
    for column in null_columns:
        aggregates.setdefault(f"nulls({column})", F.count_if(F.col(column).isNull()))
    return Plan(aggregates, metrics, gx_rules, null_columns)


def dependencies(rule: Rule) -> dict:
    """GX's own list of the metrics this expectation needs, by name."""
    declared = rule.expectation.get_validation_dependencies(runtime_configuration={"result_format": RESULT_FORMAT})
    return dict(declared.metric_configurations)


def _metrics_of(rule: Rule, index: int, types: dict, aggregates: dict[str, Column]) -> list[Metric] | None:
    """The rule's metrics, adding the aggregate columns they need; None when GX must compute one of them."""
    needed = []
    for name, config in dependencies(rule).items():
        domain = config.metric_domain_kwargs
        if domain.get("row_condition") is not None:
            return None
        family = name.split(".")[0]
        if family in DEFAULT_IGNORE and domain.get("ignore_row_if") != DEFAULT_IGNORE[family]:
            return None
        column = domain.get("column")
        if name.endswith(".unexpected_values"):
            needed.append(Metric(config, constant=[]))  # partial_unexpected_count is 0: GX would list none
            continue
        expressions = _expressions(name, rule, column, types, domain)
        if expressions is None:
            return None
        keys = []
        for key, expression in expressions:
            aggregates.setdefault(key, expression)
            keys.append(key)
        needed.append(Metric(config, tuple(keys)))
    return needed


def _expressions(name: str, rule: Rule, column: str | None, types: dict, domain: dict) -> list | None:
    """(aggregate column name, aggregate expression) pairs for one GX metric; None when not computed here."""
    if name == "table.row_count":
        return [("row_count", F.count(F.lit(1)))]
    if name == "column_values.nonnull.unexpected_count":
        return [(f"nulls({column})", F.count_if(F.col(column).isNull()))]
    if name.endswith(".unexpected_count") and rule.row_level:
        return [(f"unexpected:{rule.name}", F.count_if(F.col(flag_column(rule))))]
    if name.endswith(".filtered_row_count") and rule.row_level:
        columns = domain.get("column_list") or [domain["column_A"], domain["column_B"]]
        all_missing = reduce(Column.__and__, [F.col(c).isNull() for c in columns])
        return [(f"kept({', '.join(columns)})", F.count_if(~all_missing))]
    if column is None or column not in types:
        return None
    kind = types[column]
    if name in ("column.min", "column.max"):
        function = F.min if name == "column.min" else F.max
        return [(f"{name}({column})", function(F.col(column)))]
    if name == "column.mean" and isinstance(kind, MEAN_TYPES):
        return [(f"mean({column})", F.mean(F.col(column)))]
    if name == "column.sum" and isinstance(kind, NUMERIC):
        summed = F.col(column).cast("double") if isinstance(kind, INTEGRAL) else F.col(column)
        return [(f"sum({column})", F.sum(summed))]
    if name == "column.standard_deviation" and isinstance(kind, NUMERIC):
        return [(f"stddev({column})", F.stddev_samp(F.col(column)))]
    if name == "column.distinct_values.count":
        return [(f"distinct({column})", F.countDistinct(F.col(column)))]
    if name == "column.unique_proportion":
        return [(f"distinct({column})", F.countDistinct(F.col(column))), (f"nonnull({column})", F.count(column))]
    if name == "column.non_null_proportion":
        return [(f"nonnull({column})", F.count(column)), ("row_count", F.count(F.lit(1)))]
    return None


def flag_column(rule: Rule) -> str:
    return f"__unexpected:{rule.name}"


def flag_rules(suite: Suite) -> list[Rule]:
    return [r for r in suite.rules if r.row_level]


def with_flags(suite: Suite):
    """One column per row-level rule: true where GX counts the row unexpected. Window predicates (uniqueness)
    are evaluated here, so the aggregation above them only counts."""

    def apply(frame: DataFrame) -> DataFrame:
        return frame.select("*", *[rule.unexpected().alias(flag_column(rule)) for rule in flag_rules(suite)])

    return apply


def with_reasons(suite: Suite):
    """Append to each row's reasons the names of the quarantining expectations it breaks, from its flags."""

    def apply(frame: DataFrame) -> DataFrame:
        names = [F.when(F.col(flag_column(r)), F.lit(r.name)) for r in suite.quarantine_rules]
        existing = F.col(REASONS) if REASONS in frame.columns else F.array().cast("array<string>")
        failures = F.filter(F.array(*names), lambda name: name.isNotNull()) if names else None
        return frame.withColumn(REASONS, F.concat(existing, failures) if names else existing)

    return apply


def without_flags(suite: Suite):
    def apply(frame: DataFrame) -> DataFrame:
        return frame.drop(*[flag_column(r) for r in flag_rules(suite)])

    return apply


@dataclass(frozen=True)
class Pass:
    """What the one aggregation found: the whole batch's aggregate values and each run date's."""

    total: dict[str, Any]
    days: dict[Any, dict[str, Any]]


def one_pass(flagged: DataFrame, aggregates: dict[str, Column]) -> Pass:
    """Every aggregate over the whole batch and per run date, in one job; bounded by run dates x aggregates."""
    columns = [expression.alias(key) for key, expression in aggregates.items()]
    rows = flagged.rollup(RUN_DATE).agg(*columns, F.grouping(RUN_DATE).alias(TOTAL)).collect()
    total = next((r.asDict() for r in rows if r[TOTAL] == 1), None)
    if total is None:  # no rows: a rollup has no grand total then, a global aggregation has its one row
        total = flagged.agg(*columns).first().asDict()
    return Pass(total, {r[RUN_DATE]: r.asDict() for r in rows if r[TOTAL] == 0})
