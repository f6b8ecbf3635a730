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
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.errors import ConfigError, FeaturelakeError
from featurelake.core.provenance import git_commit
from featurelake.core.settings import Settings
from featurelake.core.summary import StageSummary
from featurelake.featurestore.groups import AVAILABLE_AT
from featurelake.featurestore.plan import (
    PREDICTION_TIME,
    SPLIT,
    Manifest,
    SplitSummary,
    TrainingSetPlan,
    label_of,
    load_manifest,
    manifest_dir,
    plan_from_conf,
    prediction_columns,
    split_of,
)
from featurelake.featurestore.point_in_time import as_of_join, as_of_range_of
from featurelake.featurestore.statistics import (
    content_hash,
    not_entirely_null,
    render_statistics,
    split_checks,
    statistics,
)
from featurelake.lake import delta, storage
from featurelake.quality import gate

LABEL_EXCLUDED = "label excluded by the label definition"
NO_EVENT_TIME = "no event time to predict at"


# --------------------------------------------------------------------------------------------- the build


def label_events(spark: SparkSession, settings: Settings, plan: TrainingSetPlan) -> DataFrame:
    """One row per event of the split ranges: keys, known columns, prediction time, label (null: excluded)."""
    events = plan.events
    raw = delta.read_version(spark, settings, events.table, events.version).where(
        delta.run_date_condition(plan.date_span)
    )
    return raw.select(
        *prediction_columns(events),
        label_of(settings, plan, raw),
        split_of(plan.splits).alias(SPLIT),
        F.col(RUN_DATE),
    ).where(F.col(SPLIT).isNotNull())


def join_features(spark: SparkSession, settings: Settings, plan: TrainingSetPlan, events: DataFrame) -> DataFrame:
    """Each feature group's row as of every event's prediction time (one shuffle per group)."""
    as_of_range = as_of_range_of(events, PREDICTION_TIME)
    for group in plan.feature_groups:
        available = group.available_at
        rows = delta.read_version(spark, settings, group.table, group.version).select(
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


def build(spark: SparkSession, settings: Settings, plan: TrainingSetPlan) -> DataFrame:
    """The training set a plan describes, with excluded events still in it (label null)."""
    return label_events(spark, settings, plan).transform(lambda events: join_features(spark, settings, plan, events))


# ------------------------------------------------------------------------------------------- the stage


def build_training_set(
    spark: SparkSession, settings: Settings, name: str, run_id: str, rebuild_from_manifest: str | None = None
) -> StageSummary:
    started = time.monotonic()
    manifest = load_manifest(spark, settings, rebuild_from_manifest) if rebuild_from_manifest else None
    plan = manifest.plan if manifest else plan_from_conf(spark, settings, name)
    if plan.name != name or plan.table != settings.training_set(name).table:
        raise FeaturelakeError(
            f"The manifest {rebuild_from_manifest} is of {plan.table} ({plan.name}), not of training set {name}."
        )
    table = plan.table
    label = plan.label.name
    suite_columns = [*plan.build_columns, RUN_DATE]
    suite = gate.load_suite(settings, table, suite_columns) if settings.table(table).gate else None
    candidates = build(spark, settings, plan).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        usable = F.col(label).isNotNull() & F.col(PREDICTION_TIME).isNotNull()
        counts = candidates.agg(
            F.count(F.lit(1)).alias("rows_in"),
            F.count_if(F.col(PREDICTION_TIME).isNull()).alias("no_time"),
            F.count_if(F.col(PREDICTION_TIME).isNotNull() & F.col(label).isNull()).alias("excluded"),
        ).first()
        rows = candidates.where(usable)
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
        digest = content_hash(rows)
        if manifest and digest != manifest.content_hash:
            raise FeaturelakeError(
                f"Rebuilding {name} from {rebuild_from_manifest} gives content hash {digest[:12]}, but the manifest "
                f"records {manifest.content_hash[:12]}: the label code or an input table's history changed. "
                "Nothing was written."
            )
        if manifest:  # a verification: the live table stays as it is (older versions are there by time travel)
            return StageSummary(
                stage="verify",
                table=table,
                run_dates=str(plan.date_span),
                rows_in=counts["rows_in"],
                published=counts["rows_in"] - counts["excluded"] - counts["no_time"],
                rejected={LABEL_EXCLUDED: counts["excluded"], NO_EVENT_TIME: counts["no_time"]},
                delta_version=manifest.version,
                seconds=time.monotonic() - started,
                detail="rebuilt from the recorded input versions; nothing written",
                report=f"{table} v{manifest.version} rebuilt from {rebuild_from_manifest}: content hash {digest} "
                "equal to the manifest's; nothing written",
            )
        stats = statistics(rows, [c for c in rows.columns if c != RUN_DATE])
        report = None
        if suite is not None:
            checks = split_checks(split_rows, plan) + not_entirely_null(stats, plan.feature_columns)
            _, report = gate.run_gate(rows, settings, table, suite, plan.date_span, run_id, checks=checks)
        commit_info = {
            "training_set": name,
            "content_hash": digest,
            "git_commit": git_commit(settings),
            "run_id": run_id,
            "input_versions": plan.input_versions,
        }
        path = settings.table_path(table)
        (
            rows.withColumn(RUN_ID, F.lit(run_id))
            .write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps(commit_info, sort_keys=True))
            .save(path)
        )
        commit = delta.last_commit(spark, path)
    finally:
        candidates.unpersist()
    splits = {
        r[SPLIT]: SplitSummary(rows=r["rows"], positive_rate=r["positive_rate"], start=r["first"], end=r["last"])
        for r in split_rows
    }
    features = plan.feature_columns
    written = Manifest(
        **commit_info,
        version=commit.version,
        table=table,
        created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        rows=sum(s.rows for s in splits.values()),
        splits=splits,
        label=label,
        features=features,
        categorical_features=[c for c in features if isinstance(rows.schema[c].dataType, StringType)],
        plan=plan,
    )
    directory = manifest_dir(settings, table)
    storage.write_text(spark, f"{directory}/v{commit.version}.stats.json", json.dumps(stats, indent=2, default=str))
    storage.write_text(spark, f"{directory}/v{commit.version}.json", written.to_json())
    split_text = ", ".join(f"{s} {v.rows:,} ({v.positive_rate:.1%} positive)" for s, v in sorted(splits.items()))
    summary = StageSummary(
        stage="training-set",
        table=table,
        run_dates=str(plan.date_span),
        rows_in=counts["rows_in"],
        published=written.rows,
        rejected={LABEL_EXCLUDED: counts["excluded"], NO_EVENT_TIME: counts["no_time"]},
        delta_version=commit.version,
        seconds=time.monotonic() - started,
        detail=(f"{split_text}; content hash {digest[:12]}" + f"; manifest {directory}/v{commit.version}.json"),
        gate=report,
        report=(
            f"{table} v{commit.version}: {split_text}\ncontent hash {digest}"
            + f"\nmanifest and statistics: {directory}/v{commit.version}.json, .stats.json\n"
            + f"statistics:\n{render_statistics(stats)}"
        ),
    )
    summary.check_balance()
    return summary
