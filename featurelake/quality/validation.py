"""The validation: GX judges the metrics of the one pass (metrics.py), validates itself only what the pass does not
compute, and stores one validation result per gate in its context (file-backed under the lake, so Data Docs keep
every validation), named by the run id and the table's run dates.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import threading

from pyspark.sql import DataFrame

from featurelake.core.errors import SuiteError
from featurelake.core.settings import Settings
from featurelake.quality.metrics import RESULT_FORMAT, Pass, Plan
from featurelake.quality.mirror import SITE, quality_dir
from featurelake.quality.outcomes import Outcome
from featurelake.quality.suites import JUDGED_PER, ROW_COUNT, Suite

DOCS_SITE = "featurelake"
_CONTEXTS: dict[str, object] = {}  # one GX context per lake root and process
_REGISTERED: dict[tuple[str, str], tuple[str, object]] = {}  # (root, suite) -> (its JSON, the stored GX suite)
# Per lake root: the suites and validation results this process stored since it last built the Data Docs.
_UNBUILT: dict[str, list] = {}
# GX's context is not made for threads (its stores, its one Spark data source): the steps a run runs at once
# (pipeline.parallelism) take turns at it; their Spark work around it runs side by side.
_GX_TURN = threading.RLock()


def unbuilt(settings: Settings) -> list:
    """The suites and validation results (GX resource identifiers) stored since the Data Docs were last built
    by this process; taken, so the next call returns only what is stored after it."""
    return _UNBUILT.pop(settings.lake_root, [])


def gx_context(settings: Settings, spark=None):
    """The GX context, made once per process: file-backed under the lake's quality folder, so that every
    validation stays in the Data Docs (for a lake on an object store, a local mirror of it: mirror.py, filled
    through ``spark`` the first time)."""
    if settings.lake_root in _CONTEXTS:
        return _CONTEXTS[settings.lake_root]
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    quality = quality_dir(settings, spark)
    context = gx.get_context(mode="file", project_root_dir=str(quality))
    if DOCS_SITE not in context.get_site_names():
        context.add_data_docs_site(
            site_name=DOCS_SITE,
            site_config={
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(quality / SITE)},
            },
        )
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    _CONTEXTS[settings.lake_root] = context
    return context


def _registered_suite(context, settings: Settings, suite: Suite):
    """The suite stored in the context (its expectations carry the ids GX gave them); written again only when
    the suite's file changed."""
    import great_expectations as gx

    rules = [r for r in suite.rules if r.type != ROW_COUNT]
    text = json.dumps([[r.type, r.kwargs] for r in rules], sort_keys=True, default=str)
    known = _REGISTERED.get((settings.lake_root, suite.table))
    if known and known[0] == text:
        return known[1]
    expectations = [_fresh(r.expectation) for r in rules]
    stored = context.suites.add_or_update(gx.ExpectationSuite(name=suite.table, expectations=expectations))
    _REGISTERED[(settings.lake_root, suite.table)] = (text, stored)
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    _UNBUILT.setdefault(settings.lake_root, []).append(ExpectationSuiteIdentifier(name=suite.table))
    return stored


def _fresh(expectation):
    """A copy that belongs to no suite yet (GX assigns ids when a suite takes an expectation)."""
    copied = copy.copy(expectation)
    copied.id = None
    return copied


def validate(
    frame: DataFrame, suite: Suite, plan: Plan, found: Pass, settings: Settings, run_dates, run_id: str
) -> list[Outcome]:
    """GX's results for the suite (row counts per run date are the gate's own), stored as one validation
    result; one Outcome each, in the suite's order."""
    with _GX_TURN:
        context = gx_context(settings, frame.sparkSession)
        results = judge(context, settings, frame, suite, plan, found)
        key = _store(context, suite, list(results.values()), run_dates, run_id)
        _UNBUILT.setdefault(settings.lake_root, []).append(key)
    return [_outcome(name, item) for name, item in results.items()]


def judge(context, settings: Settings, frame: DataFrame, suite: Suite, plan: Plan, found: Pass) -> dict:
    """Per rule (by name, in the suite's order) GX's ExpectationValidationResult: judged by GX from the one
    pass, or validated by GX itself where the pass computes nothing."""
    stored = _registered_suite(context, settings, suite)
    rules = [r for r in suite.rules if r.type != ROW_COUNT]
    expectation_of = dict(zip([r.name for r in rules], stored.expectations, strict=True))
    results = {}
    for rule in rules:
        if rule.name in plan.metrics:
            results[rule.name] = _judged(expectation_of[rule.name], rule, plan, found)
        elif rule.per_period:
            raise SuiteError(
                f"{suite.path}: {rule.name} is judged per period (meta.{JUDGED_PER}), which featurelake does only for "
                "expectations its one pass computes; judge it per batch, or use a column-values expectation."
            )
    by_gx = [r for r in rules if r.name not in results]
    if by_gx:
        results.update(_validated_by_gx(context, frame, suite, [expectation_of[r.name] for r in by_gx], by_gx))
    return {r.name: results[r.name] for r in rules}


def _judged(expectation, rule, plan: Plan, found: Pass):
    """GX's judgement of the rule's metrics: over the batch, or for a rule judged per period, over each run date's
    rows on its own: the first run date that fails it (its result's ``run_date``), else the batch's result."""

    def on(values: dict):
        metrics = {m.config.id: m.value(values) for m in plan.metrics[rule.name]}
        configuration = {"result_format": dict(RESULT_FORMAT)}
        return expectation.metrics_validate(metrics=metrics, runtime_configuration=configuration)

    if rule.per_period:
        for day, values in sorted(found.days.items()):
            result = on(values)
            if not result.success:
                result.meta = {**(result.meta or {}), "run_date": day.isoformat()}
                return result
    return on(found.total)


def _validated_by_gx(context, frame: DataFrame, suite: Suite, expectations: list, rules: list) -> dict:
    """GX's own validation of the expectations the one pass does not compute (not stored: the gate stores one
    result with every expectation)."""
    import great_expectations as gx
    from great_expectations.validator.v1_validator import Validator

    source = context.data_sources.add_or_update_spark(name="featurelake", persist=False)
    asset = next((a for a in source.assets if a.name == suite.table), None) or source.add_dataframe_asset(
        name=suite.table
    )
    batch = next((b for b in asset.batch_definitions if b.name == "candidates"), None)
    batch = batch or asset.add_batch_definition_whole_dataframe("candidates")
    validator = Validator(batch_definition=batch, batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT)
    configurations = [e.configuration for e in expectations]  # keep their ids: results are matched by them
    part = validator.validate_expectation_suite(gx.ExpectationSuite(name=suite.table, expectations=configurations))
    name_by_id = {e.id: r.name for e, r in zip(expectations, rules, strict=True)}
    return {name_by_id[item.expectation_config.id]: item for item in part.results}


def _store(context, suite: Suite, results: list, run_dates, run_id: str):
    """One validation result in GX's store: the run id is its run name, the table and run dates its batch."""
    import great_expectations as gx
    from great_expectations.core.expectation_validation_result import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.validator import calc_validation_statistics

    now = dt.datetime.now(dt.UTC)
    run = RunIdentifier(run_name=re.sub(r"[^\w.:+-]", "_", run_id) or "unnamed", run_time=now)
    dates = f"{run_dates.start}" if run_dates.start == run_dates.end else f"{run_dates.start}..{run_dates.end}"
    batch_id = f"{suite.table}-{run_dates.start}-{run_dates.end}"
    statistics = calc_validation_statistics(results)
    result = ExpectationSuiteValidationResult(
        results=results,
        success=statistics.success,
        suite_name=suite.table,
        statistics={
            "evaluated_expectations": statistics.evaluated_expectations,
            "successful_expectations": statistics.successful_expectations,
            "unsuccessful_expectations": statistics.unsuccessful_expectations,
            "success_percent": statistics.success_percent,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": run,
            "validation_time": now,
            "batch_spec": {"data_asset_name": suite.table, "run_dates": dates},
            "batch_parameters": {"table": suite.table, "run_dates": dates},
            "active_batch_definition": {
                "datasource_name": "featurelake",
                "data_asset_name": suite.table,
                "batch_definition_name": "run dates",
                "batch_identifiers": {"run_dates": dates},
            },
        },
        batch_id=batch_id,
    )
    key = ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.table), run_id=run, batch_identifier=batch_id
    )
    context.validation_results_store.store_validation_results(result, key)
    return key


def _outcome(name: str, item) -> Outcome:
    details = item.result or {}
    return Outcome(
        expectation=name,
        expectation_type=item.expectation_config.type,
        kwargs=json.dumps(item.expectation_config.kwargs, sort_keys=True, default=str),
        success=bool(item.success),
        observed_value=None if details.get("observed_value") is None else str(details["observed_value"]),
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        element_count=details.get("element_count"),
        run_date=dt.date.fromisoformat(item.meta["run_date"]) if (item.meta or {}).get("run_date") else None,
    )
