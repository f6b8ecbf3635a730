"""The GX run: the suite validated by Great Expectations in its context (file-backed under the lake, so Data Docs
keep every validation).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from pyspark.sql import DataFrame

from featurelake.core.settings import Settings
from featurelake.quality.outcomes import Outcome
from featurelake.quality.suites import ROW_COUNT, Suite


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


def gx_outcomes(frame: DataFrame, suite: Suite, settings: Settings) -> list[Outcome]:
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
