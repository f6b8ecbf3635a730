"""Great Expectations gates: a table's suite is checked on a stage's output before it is published.

Suites live in ``expectations/<table>.json`` (GX 1.x suite JSON) and are the single source of rules:

- GX validates the candidate rows and reports, per expectation, success, observed value and counts;
- for every row-level expectation the engine builds the same predicate GX counts as unexpected (NULLs
  ignored except by not-null, ``strict_min``/``strict_max``, windowed uniqueness, pair rows with both
  values missing ignored) and evaluates all of them in one pass into the rows' reasons array, so the rows
  quarantined are exactly the rows GX counts, with the names of the expectations they broke, and no
  failing id is ever collected to the driver;
- an expectation with ``mostly`` below 1 is a statistical rule (some rows may legitimately break it, e.g.
  cancelled flights have no departure time): its unexpected rows are counted and recorded but stay
  published; only its success decides;
- ``expect_table_row_count_to_be_between`` bounds the rows of each run date, so a range is checked day by
  day (GX sees the whole range as one batch, so the engine applies these bounds per run date itself).

Policies (``tables.<name>.gate.policy``): ``fail`` publishes nothing when any expectation fails;
``quarantine`` moves the rows failing row-level expectations to ``quarantine.<layer>_<name>`` and fails
when a table-level expectation fails or the quarantined fraction exceeds ``max_quarantine_fraction``;
``warn`` publishes everything and reports.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from featurelake.core.columns import REASONS, RUN_DATE
from featurelake.core.config import GateConf, Settings
from featurelake.core.errors import FeaturelakeError

ROW_COUNT = "expect_table_row_count_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
DAILY_METRIC = "featurelake.daily_metric"  # quality.results rows that anomaly checks read
ANOMALY = "featurelake.anomaly"
COLUMN_KWARGS = ("column", "column_A", "column_B")


class SuiteError(FeaturelakeError):
    """A suite that cannot be used: bad JSON, an unknown expectation type, a column the table lacks."""


class GateFailed(FeaturelakeError):
    """A gate stopped a table from being published."""


# ------------------------------------------------------------------------- row-level predicates (as GX)


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


# ------------------------------------------------------------------------------------------------ suites


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite."""

    name: str
    type: str
    kwargs: dict[str, Any]
    expectation: Any  # the GX expectation object

    @property
    def row_level(self) -> bool:
        return self.type in ROW_LEVEL

    @property
    def quarantines(self) -> bool:
        return self.row_level and float(self.kwargs.get("mostly", 1.0)) >= 1.0

    def unexpected(self) -> Column:
        return F.coalesce(ROW_LEVEL[self.type](self.kwargs), F.lit(False))


@dataclass(frozen=True)
class Suite:
    table: str
    path: Path
    rules: list[Rule]

    @property
    def quarantine_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.quarantines]


def suite_path(settings: Settings, table: str) -> Path:
    gate = settings.tables[table].gate
    return settings.expectations_dir / (gate.suite if gate and gate.suite else f"{table}.json")


def _rule_name(type_name: str, kwargs: dict) -> str:
    columns = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list", []))
    return f"{type_name}({', '.join(map(str, columns))})" if columns else type_name


def load_suite(settings: Settings, table: str, columns: list[str]) -> Suite:
    """Read and check a table's suite against the table's columns, before any data is read."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    path = suite_path(settings, table)
    if not path.exists():
        raise SuiteError(f"{path} does not exist; write the suite of {table} there (GX 1.x suite JSON).")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("expectations"), list):
        raise SuiteError(f"{path} must be a GX suite: an object with a list of expectations under 'expectations'.")
    gate = settings.tables[table].gate or GateConf()
    rules: list[Rule] = []
    for index, entry in enumerate(document["expectations"], start=1):
        where = f"{path}: expectation {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise SuiteError(
                f"{where} needs a 'type' naming a GX expectation, e.g. expect_column_values_to_not_be_null."
            )
        type_name, kwargs = entry["type"], entry.get("kwargs") or {}
        name = _rule_name(type_name, kwargs)
        try:
            expectation = ExpectationConfiguration(
                type=type_name, kwargs=kwargs, meta=entry.get("meta") or {}
            ).to_domain_obj()
        except Exception as exc:  # GX raises its own and pydantic's errors; the message is what matters
            if type(exc).__name__ == "ExpectationNotFoundError":
                raise SuiteError(f"{where} has type {type_name}, which is not a GX expectation type.") from None
            detail = " ".join(str(exc).split())[:300]
            raise SuiteError(f"{where} ({name}) has invalid arguments: {detail}.") from None
        referenced = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list", []))
        missing = [c for c in referenced if c not in columns]
        if missing:
            raise SuiteError(f"{where} ({name}) names column {missing[0]}, which {table} does not have.")
        if gate.policy == "quarantine" and not (type_name in ROW_LEVEL or type_name.startswith("expect_table_")):
            from great_expectations.expectations.expectation import ColumnMapExpectation

            if isinstance(expectation, ColumnMapExpectation):
                raise SuiteError(
                    f"{where} ({name}) is a row-level expectation featurelake cannot quarantine yet; use one of "
                    f"{', '.join(sorted(ROW_LEVEL))}, or set tables.{table}.gate.policy to fail or warn."
                )
        taken = sum(1 for r in rules if r.name == name or r.name.startswith(f"{name} #"))
        rules.append(Rule(f"{name} #{taken + 1}" if taken else name, type_name, kwargs, expectation))
    return Suite(table, path, rules)


# --------------------------------------------------------------------------------------- the transforms


def flag_failures(suite: Suite):
    """Append to each row's reasons the names of the quarantining expectations it breaks, in one pass."""

    def apply(frame: DataFrame) -> DataFrame:
        failures = F.filter(
            F.array(*[F.when(rule.unexpected(), F.lit(rule.name)) for rule in suite.quarantine_rules]),
            lambda name: name.isNotNull(),
        )
        existing = F.col(REASONS) if REASONS in frame.columns else F.array().cast("array<string>")
        return frame.withColumn(REASONS, F.concat(existing, failures) if suite.quarantine_rules else existing)

    return apply


# -------------------------------------------------------------------------------------- the validation


@dataclass
class Outcome:
    """One expectation's result in one validation: a row of quality.results."""

    expectation: str
    expectation_type: str
    kwargs: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    run_date: Any = None


@dataclass
class GateReport:
    table: str
    policy: str
    outcomes: list[Outcome] = field(default_factory=list)
    quarantined: int = 0
    candidates: int = 0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def anomalies(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expectation_type == ANOMALY]

    @property
    def expectations_failed(self) -> list[Outcome]:
        return [o for o in self.failed if o.expectation_type != ANOMALY]

    def line(self) -> str:
        checked = len(self.outcomes) - len(self.anomalies)
        flagged = "".join(
            f"\n    anomaly on {o.run_date}: {o.expectation} = {o.observed_value}" for o in self.anomalies
        )
        return (
            f"gate {self.table} ({self.policy}): {checked - len(self.expectations_failed)} passed, "
            f"{len(self.expectations_failed)} failed, {len(self.anomalies)} anomalies, "
            f"{self.quarantined} rows quarantined{flagged}"
        )


def _fresh(expectation):
    """A copy that belongs to no suite yet (GX assigns ids when a suite takes an expectation)."""
    copied = copy.copy(expectation)
    copied.id = None
    return copied


DOCS_SITE = "featurelake"


def gx_context(settings: Settings):
    """The GX context: file-backed under <lake>/quality/gx for a local lake, so that every validation stays
    in the Data Docs; in memory for a lake on an object store (GX's file stores are local)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    root = Path(settings.lake_root)
    if "://" in settings.lake_root:
        context = gx.get_context(mode="ephemeral")
    else:
        context = gx.get_context(mode="file", project_root_dir=str(root / "quality"))
        if DOCS_SITE not in context.get_site_names():
            context.add_data_docs_site(
                site_name=DOCS_SITE,
                site_config={
                    "class_name": "SiteBuilder",
                    "show_how_to_buttons": False,
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                    "store_backend": {
                        "class_name": "TupleFilesystemStoreBackend",
                        "base_directory": str(root / "quality" / "docs"),
                    },
                },
            )
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def build_docs(settings: Settings) -> str | None:
    """Rebuild the Data Docs site from every suite and validation stored so far; returns its index."""
    if "://" in settings.lake_root or not (Path(settings.lake_root) / "quality" / "gx").exists():
        return None
    context = gx_context(settings)
    index = context.build_data_docs(site_names=[DOCS_SITE]).get(DOCS_SITE)
    _add_static_overview(context, Path(settings.lake_root) / "quality" / "docs")
    return index


def _add_static_overview(context, docs: Path) -> None:
    """GX's index lists suites and validations with JavaScript fetched from public CDNs, so on a machine
    without internet access it shows nothing. Add the same listing as plain HTML at the top of the index."""
    import html

    store = context.validation_results_store
    validations = []
    for key in store.list_keys():
        suite_name = key.expectation_suite_identifier.name
        stamp = key.run_id.run_time.strftime("%Y%m%dT%H%M%S.%fZ")
        pages = sorted((docs / "validations").glob(f"{suite_name.replace('.', '/')}/*/{stamp}/*.html"))
        status = "passed" if store.get(key).success else "failed"
        validations.append((key.run_id.run_time, suite_name, status, pages[0].relative_to(docs) if pages else None))
    validations.sort(reverse=True)
    suites = sorted(s.name for s in context.suites.all())

    def link(target, text: str) -> str:
        return f'<a href="{html.escape(str(target))}">{html.escape(text)}</a>' if target else html.escape(text)

    suite_items = "".join(
        f'<li class="featurelake-suite">{link(Path("expectations", *name.split(".")).with_suffix(".html"), name)}</li>'
        for name in suites
    )
    validation_items = "".join(
        f'<li class="featurelake-validation {status}">{link(page, f"{name} at {when:%Y-%m-%d %H:%M:%S} UTC")}: '
        f"<strong>{status.upper()}</strong></li>"
        for when, name, status, page in validations
    )
    overview = (
        '<section id="featurelake-overview"><h2>featurelake quality</h2>'
        f"<h3>Expectation suites ({len(suites)})</h3><ul>{suite_items}</ul>"
        f"<h3>Validations ({len(validations)}, newest first)</h3><ul>{validation_items}</ul></section>"
    )
    index = docs / "index.html"
    text = index.read_text(encoding="utf-8")
    index.write_text(text.replace("<body>", f"<body>{overview}", 1), encoding="utf-8")


def _gx_outcomes(frame: DataFrame, suite: Suite, settings: Settings) -> list[Outcome]:
    import great_expectations as gx

    context = gx_context(settings)
    source = context.data_sources.add_or_update_spark(name="featurelake", persist=False)
    asset = next((a for a in source.assets if a.name == suite.table), None) or source.add_dataframe_asset(
        name=suite.table
    )
    batch = next((b for b in asset.batch_definitions if b.name == "candidates"), None)
    batch = batch or asset.add_batch_definition_whole_dataframe("candidates")
    expectations = [_fresh(r.expectation) for r in suite.rules if r.type != ROW_COUNT]
    gx_suite = context.suites.add_or_update(gx.ExpectationSuite(name=suite.table, expectations=expectations))
    definition = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{suite.table} gate", data=batch, suite=gx_suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "BASIC", "partial_unexpected_count": 0},
    )
    # GX orders results by its own metric plan, not by the suite: match them by the ids the suite assigned.
    rule_names = [r.name for r in suite.rules if r.type != ROW_COUNT]
    name_by_id = {e.id: name for e, name in zip(gx_suite.expectations, rule_names, strict=True)}
    outcomes = []
    for item in sorted(result.results, key=lambda r: rule_names.index(name_by_id[r.expectation_config.id])):
        details = item.result or {}
        outcomes.append(
            Outcome(
                expectation=name_by_id[item.expectation_config.id],
                expectation_type=item.expectation_config.type,
                kwargs=json.dumps(item.expectation_config.kwargs, sort_keys=True, default=str),
                success=bool(item.success),
                observed_value=None if details.get("observed_value") is None else str(details["observed_value"]),
                unexpected_count=details.get("unexpected_count"),
                unexpected_percent=details.get("unexpected_percent"),
                element_count=details.get("element_count"),
            )
        )
    return outcomes


def _daily_metrics(frame: DataFrame, suite: Suite) -> dict:
    """Per run date: the row count and the null fraction of every column the suite expects not null.
    One aggregation; bounded by run dates x metrics."""
    null_columns = sorted({r.kwargs["column"] for r in suite.rules if r.type == NOT_NULL})
    aggregates = [F.count(F.lit(1)).alias("row_count")] + [
        (F.count_if(F.col(c).isNull()) / F.count(F.lit(1))).alias(f"null_fraction({c})") for c in null_columns
    ]
    rows = frame.groupBy(RUN_DATE).agg(*aggregates).collect()
    return {row[RUN_DATE]: {k: v for k, v in row.asDict().items() if k != RUN_DATE} for row in rows}


def _row_count_outcomes(metrics: dict, suite: Suite) -> list[Outcome]:
    outcomes = []
    for rule in (r for r in suite.rules if r.type == ROW_COUNT):
        low, high = rule.kwargs.get("min_value"), rule.kwargs.get("max_value")
        for day in sorted(metrics):
            n = metrics[day]["row_count"]
            ok = (low is None or (n > low if rule.kwargs.get("strict_min") else n >= low)) and (
                high is None or (n < high if rule.kwargs.get("strict_max") else n <= high)
            )
            kwargs = json.dumps(rule.kwargs, sort_keys=True)
            outcomes.append(Outcome(rule.name, rule.type, kwargs, ok, str(n), None, None, n, run_date=day))
    return outcomes


def _metric_outcomes(metrics: dict) -> list[Outcome]:
    return [
        Outcome(name, DAILY_METRIC, "{}", True, repr(float(value)), None, None, None, run_date=day)
        for day, values in sorted(metrics.items())
        for name, value in values.items()
    ]


def _anomaly_outcomes(spark, settings: Settings, table: str, metrics: dict) -> list[Outcome]:
    """Flag a day whose row count or null fraction is more than max_sigma standard deviations from the
    same metric over the trailing window_days (earlier runs' history plus the days of this run)."""
    import datetime as dt
    import statistics

    from featurelake.lake import delta

    anomaly = settings.project.quality.anomaly
    if not metrics:
        return []
    window = dt.timedelta(days=anomaly.window_days)
    series: dict[str, dict] = {}
    results_path = settings.table_path(settings.project.quality.results_table)
    if delta.table_exists(spark, results_path):
        history = (
            spark.read.format("delta")
            .load(results_path)
            .where(
                (F.col("table") == table)
                & (F.col("expectation_type") == DAILY_METRIC)
                & F.col("run_date_from").between(F.lit(min(metrics) - window), F.lit(max(metrics)))
            )
            .groupBy("run_date_from", "expectation")
            .agg(F.max_by("observed_value", "validated_at").alias("value"))
            .collect()  # bounded: the window's days x metrics
        )
        for row in history:
            series.setdefault(row["expectation"], {})[row["run_date_from"]] = float(row["value"])
    for day, values in metrics.items():
        for name, value in values.items():
            series.setdefault(name, {})[day] = float(value)
    outcomes = []
    for day in sorted(metrics):
        for name, value in metrics[day].items():
            trailing = [v for d, v in series[name].items() if day - window <= d < day]
            if len(trailing) < anomaly.min_history:
                continue
            mean, spread = statistics.fmean(trailing), statistics.pstdev(trailing)
            distance = abs(float(value) - mean)
            sigmas = distance / spread if spread > 0 else (float("inf") if distance > 1e-12 else 0.0)
            if sigmas > anomaly.max_sigma:
                observed = (
                    f"{float(value):.6g} against a trailing mean of {mean:.6g} ± {spread:.3g} ({sigmas:.1f} sigma)"
                )
                outcomes.append(Outcome(f"anomaly: {name}", ANOMALY, "{}", False, observed, None, None, None, day))
    return outcomes


def run_gate(
    frame: DataFrame, settings: Settings, table: str, suite: Suite, run_dates, run_id: str, checks=()
) -> tuple[DataFrame, GateReport]:
    """Validate candidate rows; return them with failing rule names appended to their reasons, and a report.

    Every outcome is appended to quality.results, passing or not. Raises GateFailed (nothing to publish)
    when the table's policy says so. ``checks`` are outcomes the caller computed itself (engine checks
    that GX has no expectation for), judged and recorded with the rest. The caller publishes the rows
    with empty reasons and quarantines the others; it should cache ``frame``, which is read several times.
    """
    gate = settings.tables[table].gate or GateConf()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    metrics = _daily_metrics(frame, suite)
    anomalies = _anomaly_outcomes(frame.sparkSession, settings, table, metrics)
    outcomes = _row_count_outcomes(metrics, suite) + _gx_outcomes(frame, suite, settings) + list(checks) + anomalies
    report = GateReport(table, gate.policy, outcomes)
    flagged = frame.transform(flag_failures(suite))
    if gate.policy == "quarantine" and suite.quarantine_rules and report.failed:
        totals = flagged.agg(F.count(F.lit(1)).alias("rows"), F.count_if(F.size(REASONS) > 0).alias("failing")).first()
        report.candidates, report.quarantined = totals["rows"], totals["failing"]
    record(frame.sparkSession, settings, report, suite, run_dates, run_id, _metric_outcomes(metrics))
    if gate.policy == "warn":
        return frame, report
    if gate.policy == "fail":
        failed = [o for o in report.failed if gate.anomalies_fail or o.expectation_type != ANOMALY]
        if failed:
            raise GateFailed(_failure_sentence(table, failed, "nothing was published"))
        return frame, report
    table_level_failures = [o for o in report.failed if not _is_quarantined(o, suite) and o.expectation_type != ANOMALY]
    if table_level_failures:
        raise GateFailed(_failure_sentence(table, table_level_failures, "nothing was published"))
    if report.quarantined > gate.max_quarantine_fraction * report.candidates:
        raise GateFailed(
            f"The gate of {table} would quarantine {report.quarantined} of {report.candidates} rows "
            f"({report.quarantined / report.candidates:.2%}), more than "
            f"tables.{table}.gate.max_quarantine_fraction ({gate.max_quarantine_fraction:.2%}); nothing was "
            f"published. {_failure_sentence(table, report.failed, '')}"
        )
    return flagged, report


def _is_quarantined(outcome: Outcome, suite: Suite) -> bool:
    return any(r.name == outcome.expectation and r.quarantines for r in suite.rules)


def _failure_sentence(table: str, failed: list[Outcome], consequence: str) -> str:
    parts = []
    for o in failed[:5]:
        observed = o.observed_value if o.observed_value is not None else f"{o.unexpected_count} unexpected rows"
        when = f" on {o.run_date}" if o.run_date else ""
        parts.append(f"{o.expectation}{when} (observed {observed})")
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return f"The gate of {table} failed {len(failed)} expectation(s): {'; '.join(parts)}{more}" + (
        f"; {consequence}." if consequence else "."
    )


RESULTS_SCHEMA = (
    "run_id string, validated_at timestamp, table string, suite string, policy string, run_date_from date, "
    "run_date_to date, expectation string, expectation_type string, kwargs string, success boolean, "
    "observed_value string, unexpected_count bigint, unexpected_percent double, element_count bigint"
)


def record(
    spark, settings: Settings, report: GateReport, suite: Suite, run_dates, run_id: str, metrics: list[Outcome]
) -> None:
    """Append one row per expectation, and the daily metrics anomaly checks read, to quality.results."""
    import datetime as dt

    from featurelake.lake import delta

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        (
            run_id,
            now,
            report.table,
            str(suite.path.name),
            report.policy,
            o.run_date or run_dates.start,
            o.run_date or run_dates.end,
            o.expectation,
            o.expectation_type,
            o.kwargs,
            o.success,
            o.observed_value,
            o.unexpected_count,
            None if o.unexpected_percent is None else float(o.unexpected_percent),
            o.element_count,
        )
        for o in [*report.outcomes, *metrics]
    ]
    delta.append(spark.createDataFrame(rows, RESULTS_SCHEMA), settings, settings.project.quality.results_table)
