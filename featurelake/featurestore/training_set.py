"""Training sets: label events, a label, the feature groups joined point-in-time, splits by time.

A build is planned first: the training set's conf, each feature group's metadata and the Delta version of
every input table. The plan is all a build depends on (besides the label function), so it is recorded, with
the git commit and a content hash, in the Delta commit's metadata and in a manifest at
``<layer>/_manifests/<name>/v<version>.json``; ``--rebuild-from-manifest`` replays a plan from the recorded
table versions and checks it reproduces the recorded content hash (it writes nothing: the recorded version
itself stays readable by Delta time travel). Statistics per column are written next to the manifest.

Each event is predicted at ``event_time + prediction_offset_minutes`` and every feature group is joined as
of that moment; each group's ``_available_at_<group>`` column stays in the table, so anyone can check that
no value was known after the prediction time.
"""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.errors import ConfigError, FeaturelakeError
from featurelake.core.provenance import git_commit
from featurelake.core.spark import persisted
from featurelake.core.summary import StageSummary, accounted
from featurelake.featurestore.api import AVAILABLE_AT
from featurelake.featurestore.plan import (
    LABEL_PENDING,
    PREDICTION_TIME,
    SPLIT,
    Manifest,
    SplitSummary,
    TrainingSetPlan,
    load_manifest,
    plan_from_conf,
    prediction_columns,
    split_of,
    with_label,
)
from featurelake.featurestore.point_in_time import as_of_join, as_of_range_of
from featurelake.featurestore.statistics import (
    content_hash,
    not_entirely_null,
    render_statistics,
    split_checks,
    statistics,
)
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.quality import gate
from featurelake.quality.suites import suite_for

LABEL_EXCLUDED = "label excluded by the label definition"
NO_EVENT_TIME = "no event time to predict at"
LABEL_PENDING_REASON = "label not landed yet (its horizon reaches past the events delivered)"


# --------------------------------------------------------------------------------------------- the build


def label_events(catalog: Catalog, plan: TrainingSetPlan) -> DataFrame:
    """One row per event of the split ranges: keys, known columns, prediction time, label (null: excluded)."""
    events = plan.events
    table = catalog.read_version(events.table, events.version)
    labelled = with_label(catalog.settings, plan, table, plan.date_span)
    return labelled.select(
        *prediction_columns(events),
        F.col(plan.label.name),
        split_of(plan.splits).alias(SPLIT),
        F.col(RUN_DATE),
        F.col(LABEL_PENDING),
    ).where(F.col(SPLIT).isNotNull())


def join_features(catalog: Catalog, plan: TrainingSetPlan, events: DataFrame) -> DataFrame:
    """Each feature group's row as of every event's prediction time (one shuffle per group)."""
    as_of_range = as_of_range_of(events, PREDICTION_TIME)
    for group in plan.feature_groups:
        available = group.available_at
        rows = catalog.read_version(group.table, group.version).select(
            *group.keys, group.event_time, F.col(AVAILABLE_AT).alias(available), *group.features
        )
        try:
            events = as_of_join(
                events,
                rows,
                keys=group.keys,
                as_of=PREDICTION_TIME,
                event_time=group.event_time,
                created_time=available,
                ttl=group.ttl,
                feature_columns=[*group.features, available],
                time_buckets=plan.time_buckets,
                as_of_range=as_of_range,
            )
        except ValueError as exc:
            raise ConfigError(f"Feature group {group.name} cannot join training set {plan.name}: {exc}.") from None
    return events


def build(catalog: Catalog, plan: TrainingSetPlan) -> DataFrame:
    """The training set a plan describes, with excluded events still in it (label null)."""
    return label_events(catalog, plan).transform(lambda events: join_features(catalog, plan, events))


# ------------------------------------------------------------------------------------------- the stage


def build_training_set(ctx: Context, name: str, rebuild_from_manifest: str | None = None) -> StageSummary:
    """Build a training set's plan into a new version of its table, with its manifest and statistics; or, given
    a manifest, rebuild that version from its recorded inputs and check its content hash (writing nothing)."""
    spark, settings = ctx.spark, ctx.settings
    recorded = load_manifest(spark, settings, rebuild_from_manifest) if rebuild_from_manifest else None
    plan = recorded.plan if recorded else plan_from_conf(spark, settings, name)
    if plan.name != name or plan.table != settings.training_set(name).table:
        raise FeaturelakeError(
            f"The manifest {rebuild_from_manifest} is of {plan.table} ({plan.name}), not of training set {name}."
        )
    suite = suite_for(settings, plan.table, [*plan.build_columns, RUN_DATE])
    stage = "verify" if recorded else "training-set"
    with accounted(stage, plan.table, plan.date_span) as summary, persisted(build(ctx.catalog, plan)) as built:
        label = F.col(plan.label.name)
        counts = built.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.count_if(F.col(PREDICTION_TIME).isNull()).alias("no_time"),
            F.count_if(F.col(PREDICTION_TIME).isNotNull() & label.isNull() & ~F.col(LABEL_PENDING)).alias("excluded"),
            F.count_if(F.col(PREDICTION_TIME).isNotNull() & F.col(LABEL_PENDING)).alias("pending"),
        ).first()
        rows = built.where(label.isNotNull() & F.col(PREDICTION_TIME).isNotNull()).drop(LABEL_PENDING)
        summary.rows_in = counts["rows_in"]
        summary.published = counts["rows_in"] - counts["excluded"] - counts["no_time"] - counts["pending"]
        summary.rejected = {LABEL_EXCLUDED: counts["excluded"], NO_EVENT_TIME: counts["no_time"]}
        if counts["pending"]:
            summary.rejected[LABEL_PENDING_REASON] = counts["pending"]
        digest = content_hash(rows)
        if recorded:
            _verify(summary, recorded, digest, rebuild_from_manifest)
        else:
            _publish(summary, ctx, plan, rows, digest, suite)
    return summary


def _verify(summary: StageSummary, recorded: Manifest, digest: str, path: str) -> None:
    """A rebuild must give the recorded content hash; the live table stays as it is (older versions are there
    by time travel)."""
    if digest != recorded.content_hash:
        raise FeaturelakeError(
            f"Rebuilding {recorded.plan.name} from {path} gives content hash {digest[:12]}, but the manifest "
            f"records {recorded.content_hash[:12]}: the label code or an input table's history changed. "
            "Nothing was written."
        )
    summary.delta_version = recorded.version
    summary.detail = "rebuilt from the recorded input versions; nothing written"
    summary.report = (
        f"{recorded.table} v{recorded.version} rebuilt from {path}: content hash {digest} equal to the manifest's; "
        "nothing written"
    )


def _publish(summary, ctx: Context, plan: TrainingSetPlan, rows: DataFrame, digest: str, suite):
    """Gate the rows, overwrite the table in one commit, and write the manifest and statistics beside it."""
    spark, settings, catalog, run_id = ctx.spark, ctx.settings, ctx.catalog, ctx.run_id
    label = plan.label.name
    split_rows = (
        rows.groupBy(SPLIT)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(label).alias("positive_rate"),
            F.min(RUN_DATE).alias("first"),
            F.max(RUN_DATE).alias("last"),
        )
        .collect()  # bounded: one row per split
    )
    stats = statistics(rows, [c for c in rows.columns if c != RUN_DATE])
    checks = split_checks(split_rows, plan) + not_entirely_null(stats, plan.feature_columns)
    _, summary.gate = gate.run_gate(rows, ctx, plan.table, suite, plan.date_span, checks=checks)
    commit_info = {
        "training_set": plan.name,
        "content_hash": digest,
        "git_commit": git_commit(settings),
        "run_id": run_id,
        "input_versions": plan.input_versions,
    }
    commit = catalog.overwrite(rows.withColumn(RUN_ID, F.lit(run_id)), plan.table, commit_info)
    gate.record_committed(ctx, summary.gate, commit.version)
    splits = {
        r[SPLIT]: SplitSummary(rows=r["rows"], positive_rate=r["positive_rate"], start=r["first"], end=r["last"])
        for r in split_rows
    }
    features = plan.feature_columns
    written = Manifest(
        **commit_info,
        version=commit.version,
        table=plan.table,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        rows=sum(s.rows for s in splits.values()),
        splits=splits,
        label=label,
        features=features,
        categorical_features=[c for c in features if isinstance(rows.schema[c].dataType, StringType)],
        plan=plan,
    )
    directory = catalog.manifest_dir(plan.table)
    storage.write_text(spark, f"{directory}/v{commit.version}.stats.json", json.dumps(stats, indent=2, default=str))
    storage.write_text(spark, f"{directory}/v{commit.version}.json", written.to_json())
    split_text = ", ".join(f"{s} {v.rows:,} ({v.positive_rate:.1%} positive)" for s, v in sorted(splits.items()))
    summary.delta_version = commit.version
    summary.detail = f"{split_text}; content hash {digest[:12]}; manifest {directory}/v{commit.version}.json"
    summary.report = (
        f"{plan.table} v{commit.version}: {split_text}\ncontent hash {digest}"
        f"\nmanifest and statistics: {directory}/v{commit.version}.json, .stats.json\n"
        f"statistics:\n{render_statistics(stats)}"
    )
