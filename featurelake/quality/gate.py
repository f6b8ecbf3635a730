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

import logging

from pyspark.sql import DataFrame

from featurelake.core.conf.tables import GateConf
from featurelake.core.errors import GateFailed
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.quality import metrics, results
from featurelake.quality.anomalies import (
    anomaly_outcomes,
    daily_metrics,
    metric_outcomes,
    remember,
    row_count_outcomes,
)
from featurelake.quality.outcomes import ANOMALY, GateReport, Outcome
from featurelake.quality.suites import Suite
from featurelake.quality.validation import validate

# -------------------------------------------------------------------------------------- the validation


def run_gate(
    frame: DataFrame, ctx: Context, table: str, suite: Suite | None, run_dates, checks=()
) -> tuple[DataFrame, GateReport | None]:
    """Validate candidate rows; return them with failing rule names appended to their reasons, and a report.

    The outcomes are appended to quality.results by ``record_committed`` once the caller has committed what
    the gate judged, with the table version it wrote; a failed gate records them itself, as not committed,
    before it raises GateFailed (nothing to publish) when the table's policy says so. An attempt that stops in
    between (a kill) records nothing: the history anomaly checks learn from holds committed data only.
    ``checks`` are outcomes the caller computed itself (engine checks that GX has no expectation for), judged
    and recorded with the rest. The caller publishes the rows with empty
    reasons and quarantines the others; it should cache ``frame``, which is read several times. Without a
    suite (a table with no gate) the rows pass as they are, with no report.
    """
    if suite is None:  # the table has no gate
        return frame, None
    settings, catalog, run_id = ctx.settings, ctx.catalog, ctx.run_id
    gate = catalog.table(table).gate or GateConf()
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    plan = metrics.plan(suite, frame)
    flags = frame.transform(metrics.with_flags(suite)).transform(metrics.with_reasons(suite))
    found = metrics.one_pass(flags, plan.aggregates)
    flagged = flags.transform(metrics.without_flags(suite))
    daily = daily_metrics(found, plan.null_columns)
    anomalies = anomaly_outcomes(ctx, table, daily)
    expectations = validate(frame, suite, plan, found, settings, run_dates, run_id)
    outcomes = row_count_outcomes(daily, suite) + expectations + list(checks) + anomalies
    report = GateReport(table, gate.policy, outcomes, suite=suite.path.name, run_dates=run_dates, run_id=run_id)
    report.daily = daily
    if gate.policy == "quarantine" and suite.quarantine_rules and report.failed:
        report.candidates, report.quarantined = found.total["row_count"], found.total["failing"]
    if gate.policy == "warn":
        return frame, report
    if gate.policy == "fail":
        failed = [o for o in report.failed if gate.anomalies_fail or o.expectation_type != ANOMALY]
        if failed:
            raise _not_committed(catalog, report, _failure_sentence(table, failed, "nothing was published"))
        return frame, report
    table_level_failures = [o for o in report.failed if not _is_quarantined(o, suite) and o.expectation_type != ANOMALY]
    if table_level_failures:
        sentence = _failure_sentence(table, table_level_failures, "nothing was published")
        raise _not_committed(catalog, report, sentence)
    if report.quarantined > gate.max_quarantine_fraction * report.candidates:
        raise _not_committed(
            catalog,
            report,
            f"The gate of {table} would quarantine {report.quarantined} of {report.candidates} rows "
            f"({report.quarantined / report.candidates:.2%}), more than "
            f"tables.{table}.gate.max_quarantine_fraction ({gate.max_quarantine_fraction:.2%}); nothing was "
            f"published. {_failure_sentence(table, report.failed, '')}",
        )
    return flagged, report


def _not_committed(catalog: Catalog, report: GateReport, sentence: str) -> GateFailed:
    """A failed gate: its outcomes recorded as not committed, and the error to raise."""
    _record(catalog, report, None)
    return GateFailed(sentence)


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


def record_committed(ctx: Context, report: GateReport | None, version: int | None) -> None:
    """Once the caller committed what the gate judged: its outcomes and daily metrics appended to quality.results
    with the table version written (none: the write changed nothing), and the metrics added to this process's
    anomaly history. Nothing for a table without a gate."""
    if report is None:
        return
    _record(ctx.catalog, report, version, committed=True)
    remember(ctx, report.table, report.daily)


def _record(catalog: Catalog, report: GateReport, version: int | None, committed: bool = False) -> None:
    """Append one row per expectation, and the daily metrics anomaly checks read, to quality.results; rows of a
    validation whose data was not committed say so (anomaly history leaves them out)."""
    import datetime as dt

    now = dt.datetime.now(dt.UTC)  # aware: stored as this instant whatever the process's time zone
    rows = [
        (
            report.run_id,
            now,
            report.table,
            report.suite,
            report.policy,
            o.run_date or report.run_dates.start,
            o.run_date or report.run_dates.end,
            o.expectation,
            o.expectation_type,
            o.kwargs,
            o.success,
            o.observed_value,
            o.unexpected_count,
            None if o.unexpected_percent is None else float(o.unexpected_percent),
            o.element_count,
            committed,
            version,
        )
        for o in [*report.outcomes, *metric_outcomes(report.daily)]
    ]
    results.append(catalog, rows)  # in the order of results.RESULTS_SCHEMA
