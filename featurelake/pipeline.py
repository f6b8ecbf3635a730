"""The stages in order for a range of run dates: ingest every source, refine every silver table,
materialize every feature group, then build each training set whose last split ends inside the range and
train the models on it; finally score the run dates after each model's training window with its champion
and monitor the champion on the last of them.

Snapshot sources are due only on the dates they were delivered; a range without a delivery skips them.
(The full runner with a run ledger, resume and training stages grows here in later issues.)
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from featurelake import tracking
from featurelake.config import Settings
from featurelake.feature_groups import load_group, materialize
from featurelake.ingest import delivered_snapshot_dates, ingest
from featurelake.lake import DateRange, table_exists
from featurelake.monitoring import monitor
from featurelake.refine import refine
from featurelake.scoring import predictions_table, score
from featurelake.summary import StageSummary
from featurelake.training import train_model
from featurelake.training_set import build_training_set


def run_pipeline(
    spark: SparkSession, settings: Settings, run_dates: DateRange, run_id: str, report=print
) -> list[StageSummary]:
    summaries: list[StageSummary] = []
    skipped_tables: set[str] = set()
    for source, conf in settings.sources.items():
        if conf.cadence == "snapshot" and not delivered_snapshot_dates(spark, settings, source, run_dates):
            report(f"ingest {conf.table} [{run_dates}]: no snapshot delivered in the range, nothing to do")
            skipped_tables.add(conf.table)
            continue
        summaries.append(ingest(spark, settings, source, run_dates, run_id))
        report(summaries[-1].line())
    for table in settings.refined_tables():
        if settings.tables[table].refine.source in skipped_tables:
            continue
        for summary in refine(spark, settings, table, run_dates, run_id):
            summaries.append(summary)
            report(summary.line())
    for name in settings.project.features.groups:
        absent = [t for t in load_group(settings, name).inputs if not table_exists(spark, settings.table_path(t))]
        if absent:
            report(f"features {settings.feature_table(name)} [{run_dates}]: {absent[0]} has no data yet, skipped")
            continue
        summaries.append(materialize(spark, settings, name, run_dates, run_id))
        report(summaries[-1].line())
    built: set[str] = set()
    for name, training_set in settings.project.training_sets.items():
        last_split_ends = max(span.end for span in training_set.splits.values())
        if run_dates.start <= last_split_ends <= run_dates.end:
            summaries.append(build_training_set(spark, settings, name, run_id))
            report(summaries[-1].line())
            built.add(name)
    for model, conf in settings.project.models.items():
        if conf.training_set in built:
            summaries.append(train_model(spark, settings, model, run_id))
            report(summaries[-1].line())
    for model, conf in settings.project.models.items():
        production = days_after_training_window(settings, conf.training_set, run_dates)
        if production is None:
            continue
        if tracking.champion_version(settings, model) is None:
            report(f"score {predictions_table(model)} [{production}]: {model} has no champion in the registry, skipped")
            continue
        summaries.append(score(spark, settings, model, production, run_id))
        report(summaries[-1].line())
        summaries.append(monitor(spark, settings, model, production.end, run_id).summary)
        report(summaries[-1].line())
    return summaries


def days_after_training_window(settings: Settings, training_set: str, run_dates: DateRange) -> DateRange | None:
    """The run dates after the last split of the training set: the days its models predict in production."""
    window_ends = max(span.end for span in settings.training_set(training_set).splits.values())
    first = max(run_dates.start, window_ends + dt.timedelta(days=1))
    return DateRange(first, run_dates.end) if first <= run_dates.end else None
