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
import hashlib
import json
import os
import re
import subprocess
import time
from functools import reduce
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType, StringType

from featurelake.core.columns import RUN_DATE, RUN_ID
from featurelake.core.config import DEFINITION, Settings, confine
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError, FeaturelakeError
from featurelake.core.summary import StageSummary
from featurelake.featurestore.groups import AVAILABLE_AT, load_definition, load_group
from featurelake.featurestore.point_in_time import as_of_join, as_of_range_of
from featurelake.lake import delta, storage
from featurelake.quality import gate
from featurelake.quality.gate import Outcome

PREDICTION_TIME = "prediction_time"
SPLIT = "split"
LABEL_EXCLUDED = "label excluded by the label definition"
NO_EVENT_TIME = "no event time to predict at"
GIT_COMMIT_VARIABLE = "FEATURELAKE_GIT_COMMIT"


def available_at_column(group: str) -> str:
    return f"{AVAILABLE_AT}_{group}"


# ---------------------------------------------------------------------------------------------- the plan


def plan_from_conf(spark: SparkSession, settings: Settings, name: str) -> dict:
    """What a build of this training set reads now: its conf, its groups and their current table versions."""
    conf = settings.training_set(name)
    groups = []
    for group_name in conf.feature_groups:
        group = load_group(settings, group_name)
        table = settings.feature_table(group_name)
        stored = set(delta.read_table(spark, settings, table).columns)
        absent = [c for c in [*group.keys, group.event_time, AVAILABLE_AT, *group.features] if c not in stored]
        if absent:
            raise FeaturelakeError(
                f"Table {table} has no column {absent[0]}, which feature group {group_name} now declares; "
                f"re-run `featurelake features --group {group_name}` over the training set's dates first."
            )
        groups.append(
            {
                "name": group_name,
                "table": table,
                "version": _current_version(spark, settings, table),
                "keys": list(group.keys),
                "event_time": group.event_time,
                "ttl_seconds": None if group.ttl is None else group.ttl.total_seconds(),
                "features": dict(group.features),
            }
        )
    return {
        "name": name,
        "table": conf.table,
        "events": {**conf.events.model_dump(), "version": _current_version(spark, settings, conf.events.table)},
        "label": conf.label.model_dump(),
        "splits": {split: [span.start.isoformat(), span.end.isoformat()] for split, span in conf.splits.items()},
        "feature_groups": groups,
        "time_buckets": settings.project.features.time_buckets,
    }


def _current_version(spark: SparkSession, settings: Settings, table: str) -> int:
    path = settings.table_path(table)
    if not delta.table_exists(spark, path):
        raise FeaturelakeError(f"Table {table} does not exist yet at {path}; run the stage that writes it first.")
    return delta.last_commit(spark, path).version


def feature_columns(plan: dict) -> list[str]:
    """The columns a model may use: the event's own known columns, then every group's features."""
    event_columns = [c for c in plan["events"]["columns"]]
    return [*event_columns, *[f for group in plan["feature_groups"] for f in group["features"]]]


# --------------------------------------------------------------------------------------------- the build


def split_of(splits: dict) -> Column:
    """The split an event belongs to, by its run date; null outside every split."""
    spans = [(name, dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for name, (a, b) in splits.items()]
    return reduce(
        lambda chosen, span: chosen.when(F.col(RUN_DATE).between(F.lit(span[1]), F.lit(span[2])), F.lit(span[0])),
        spans[1:],
        F.when(F.col(RUN_DATE).between(F.lit(spans[0][1]), F.lit(spans[0][2])), F.lit(spans[0][0])),
    )


def label_events(spark: SparkSession, settings: Settings, plan: dict) -> DataFrame:
    """One row per event of the split ranges: keys, known columns, prediction time, label (null: excluded)."""
    events = plan["events"]
    first = min(dt.date.fromisoformat(a) for a, _ in plan["splits"].values())
    last = max(dt.date.fromisoformat(b) for _, b in plan["splits"].values())
    raw = delta.read_version(spark, settings, events["table"], events["version"]).where(
        delta.run_date_condition(DateRange(first, last))
    )
    return raw.select(
        *prediction_columns(events),
        label_of(settings, plan, raw),
        split_of(plan["splits"]).alias(SPLIT),
        F.col(RUN_DATE),
    ).where(F.col(SPLIT).isNotNull())


def label_of(settings: Settings, plan: dict, raw: DataFrame) -> Column:
    """The plan's label of each event row (null: excluded), as an int named after the label: the one
    definition the training set and the realized metrics of monitoring both apply."""
    label = plan["label"]
    key = f"training_sets.{plan['name']}.label"
    definition = load_definition(settings, label["definition"], f"{key}.definition")
    try:
        label_column = definition(raw, **label["params"])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}.params do not fit {label['definition']}: {exc}.") from None
    return label_column.cast("int").alias(label["name"])


def prediction_columns(events: dict) -> list[Column]:
    """What training and scoring both know of an event: its keys, its known columns and the moment it is
    predicted at (event time + offset). The one definition both paths use."""
    offset_micros = events["prediction_offset_minutes"] * 60_000_000
    known = [c for c in events["columns"] if c not in events["keys"]]
    prediction_time = F.timestamp_micros(F.unix_micros(F.col(events["event_time"])) + F.lit(offset_micros))
    return [*[F.col(c) for c in events["keys"]], *[F.col(c) for c in known], prediction_time.alias(PREDICTION_TIME)]


def join_features(spark: SparkSession, settings: Settings, plan: dict, events: DataFrame) -> DataFrame:
    """Each feature group's row as of every event's prediction time (one shuffle per group)."""
    as_of_range = as_of_range_of(events, PREDICTION_TIME)
    for group in plan["feature_groups"]:
        available = available_at_column(group["name"])
        rows = delta.read_version(spark, settings, group["table"], group["version"]).select(
            *group["keys"], group["event_time"], F.col(AVAILABLE_AT).alias(available), *group["features"]
        )
        ttl = None if group["ttl_seconds"] is None else dt.timedelta(seconds=group["ttl_seconds"])
        try:
            events = as_of_join(
                events,
                rows,
                keys=group["keys"],
                as_of=PREDICTION_TIME,
                event_time=group["event_time"],
                created_time=available,
                ttl=ttl,
                feature_columns=[*group["features"], available],
                time_buckets=plan["time_buckets"],
                as_of_range=as_of_range,
            )
        except ValueError as exc:
            raise ConfigError(
                f"Feature group {group['name']} cannot join training set {plan['name']}: {exc}."
            ) from None
    return events


def build(spark: SparkSession, settings: Settings, plan: dict) -> DataFrame:
    """The training set a plan describes, with excluded events still in it (label null)."""
    return label_events(spark, settings, plan).transform(lambda events: join_features(spark, settings, plan, events))


def content_hash(frame: DataFrame) -> str:
    """A hash of the rows and the schema, independent of row order and partitioning."""
    columns = sorted(frame.columns)
    # xxhash64 skips nulls, so (null, x) and (x, null) would collide: hash where the nulls are, too
    row_hash = F.xxhash64(*[F.col(c) for c in columns], *[F.isnull(c) for c in columns])
    totals = frame.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(row_hash.cast("decimal(38,0)")).alias("total"),
        F.bit_xor(row_hash).alias("xor"),
    ).first()
    schema = json.dumps([(c, frame.schema[c].dataType.simpleString()) for c in columns])
    return hashlib.sha256(f"{totals['rows']}|{totals['total']}|{totals['xor']}|{schema}".encode()).hexdigest()


def statistics(frame: DataFrame, columns: list[str]) -> list[dict]:
    """Per column: count, null fraction; mean, std, min, max of numbers; distinct values of categories.
    One aggregation, one row of results."""
    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for column in columns:
        data_type = frame.schema[column].dataType
        aggregates.append(F.count(column).alias(f"{column}|count"))
        if isinstance(data_type, NumericType):
            value = F.col(column).cast("double")
            aggregates += [
                F.avg(value).alias(f"{column}|mean"),
                F.stddev_samp(value).alias(f"{column}|std"),
                F.min(value).alias(f"{column}|min"),
                F.max(value).alias(f"{column}|max"),
            ]
        elif isinstance(data_type, StringType):
            # HyperLogLog, in the same single pass and bounded memory (count_distinct would expand the rows
            # once per column); within 1 %, exact for the few values of a categorical column
            aggregates.append(F.approx_count_distinct(column, rsd=0.01).alias(f"{column}|distinct"))
    values = frame.agg(*aggregates).first().asDict()
    rows = values.pop("_rows")
    result = []
    for column in columns:
        entry = {
            "column": column,
            "type": frame.schema[column].dataType.simpleString(),
            "count": values[f"{column}|count"],
        }
        entry["null_fraction"] = 1 - entry["count"] / rows if rows else None
        for measure in ("mean", "std", "min", "max", "distinct"):
            if f"{column}|{measure}" in values:
                entry[measure] = values[f"{column}|{measure}"]
        result.append(entry)
    return result


def render_statistics(stats: list[dict]) -> str:
    def number(value) -> str:
        return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)

    headers = ["column", "type", "count", "null %", "mean", "std", "min", "max", "distinct"]
    rows = [
        [
            s["column"],
            s["type"],
            str(s["count"]),
            f"{100 * s['null_fraction']:.1f}" if s["null_fraction"] is not None else "",
            *[number(s.get(m)) for m in ("mean", "std", "min", "max", "distinct")],
        ]
        for s in stats
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- the checks


def _split_checks(split_rows: list, plan: dict) -> list[Outcome]:
    """Every declared split holds rows, and the splits' actual date ranges do not overlap."""
    outcomes = []
    found = {r[SPLIT]: r for r in split_rows}
    for split in plan["splits"]:
        n = found[split]["rows"] if split in found else 0
        outcomes.append(
            Outcome(f"split {split} is not empty", "featurelake.split_not_empty", "{}", n > 0, str(n), None, None, n)
        )
    ordered = sorted(split_rows, key=lambda r: r["first"])
    overlaps = [
        f"{a[SPLIT]} and {b[SPLIT]}" for a, b in zip(ordered, ordered[1:], strict=False) if b["first"] <= a["last"]
    ]
    ranges = ", ".join(f"{r[SPLIT]} {r['first']}..{r['last']}" for r in ordered)
    outcomes.append(
        Outcome(
            "split date ranges are disjoint",
            "featurelake.split_ranges_disjoint",
            "{}",
            not overlaps,
            ranges + (f" (overlap: {', '.join(overlaps)})" if overlaps else ""),
            None,
            None,
            None,
        )
    )
    return outcomes


def _not_entirely_null(stats: list[dict], features: list[str]) -> list[Outcome]:
    by_column = {s["column"]: s for s in stats}
    return [
        Outcome(
            f"feature {c} is not entirely null",
            "featurelake.feature_not_entirely_null",
            json.dumps({"column": c}),
            by_column[c]["count"] > 0,
            f"{by_column[c]['count']} values",
            None,
            None,
            None,
        )
        for c in features
    ]


# ------------------------------------------------------------------------------------------- the stage


def git_commit(settings: Settings) -> str:
    """The code version: $FEATURELAKE_GIT_COMMIT (set by packaging), else the git HEAD of the project
    (or of the engine's checkout), with ``-dirty`` when files differ from it or are not committed."""
    if os.environ.get(GIT_COMMIT_VARIABLE):
        return os.environ[GIT_COMMIT_VARIABLE]
    for directory in (settings.project_dir, Path(__file__).resolve().parent):
        try:
            head = _git(directory, "rev-parse", "HEAD")
            dirty = _git(directory, "status", "--porcelain")
        except (OSError, subprocess.CalledProcessError):
            continue
        return f"{head}-dirty" if dirty else head
    return "unknown"


def _git(directory: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(directory), *args], capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()


def manifest_dir(settings: Settings, table: str) -> str:
    layer, short = table.split(".", 1)
    return confine(settings.lake_root, f"{layer}/_manifests/{short}", f"tables.{table}")


def load_manifest(spark: SparkSession, settings: Settings, path: str) -> dict:
    """A manifest named by the user; it must lie inside the lake root."""
    if not path.startswith(settings.lake_root):
        path = os.path.abspath(path)
    inside = confine(settings.lake_root, os.path.relpath(path, settings.lake_root), "--rebuild-from-manifest")
    text = storage.read_text(spark, inside)
    if text is None:
        raise FeaturelakeError(f"There is no manifest at {inside}; give the path of a v<version>.json manifest.")
    try:
        manifest = json.loads(text)
        plan = manifest["plan"]
        recorded = (manifest["content_hash"], manifest["version"], plan["table"], plan["label"]["definition"])
        plan["events"], plan["splits"], plan["feature_groups"], plan["time_buckets"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise FeaturelakeError(
            f"{inside} is not a training-set manifest (a plan, version or hash is missing)."
        ) from None
    if not re.match(DEFINITION, str(recorded[3])):
        raise FeaturelakeError(f"{inside} names label code {recorded[3]!r} outside the features package; not run.")
    return manifest


def build_training_set(
    spark: SparkSession, settings: Settings, name: str, run_id: str, rebuild_from_manifest: str | None = None
) -> StageSummary:
    started = time.monotonic()
    manifest = load_manifest(spark, settings, rebuild_from_manifest) if rebuild_from_manifest else None
    plan = manifest["plan"] if manifest else plan_from_conf(spark, settings, name)
    if plan["name"] != name or plan["table"] != settings.training_set(name).table:
        raise FeaturelakeError(
            f"The manifest {rebuild_from_manifest} is of {plan['table']} ({plan['name']}), not of training set {name}."
        )
    table = plan["table"]
    label = plan["label"]["name"]
    suite_columns = [*build_columns(plan), RUN_DATE]
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
        if manifest and digest != manifest["content_hash"]:
            raise FeaturelakeError(
                f"Rebuilding {name} from {rebuild_from_manifest} gives content hash {digest[:12]}, but the manifest "
                f"records {manifest['content_hash'][:12]}: the label code or an input table's history changed. "
                "Nothing was written."
            )
        if manifest:  # a verification: the live table stays as it is (older versions are there by time travel)
            return StageSummary(
                stage="verify",
                table=table,
                run_dates=str(_date_span(plan)),
                rows_in=counts["rows_in"],
                published=counts["rows_in"] - counts["excluded"] - counts["no_time"],
                rejected={LABEL_EXCLUDED: counts["excluded"], NO_EVENT_TIME: counts["no_time"]},
                delta_version=manifest["version"],
                seconds=time.monotonic() - started,
                detail="rebuilt from the recorded input versions; nothing written",
                report=f"{table} v{manifest['version']} rebuilt from {rebuild_from_manifest}: content hash {digest} "
                "equal to the manifest's; nothing written",
            )
        stats = statistics(rows, [c for c in rows.columns if c != RUN_DATE])
        report = None
        if suite is not None:
            checks = _split_checks(split_rows, plan) + _not_entirely_null(stats, feature_columns(plan))
            _, report = gate.run_gate(rows, settings, table, suite, _date_span(plan), run_id, checks=checks)
        commit_info = {
            "training_set": name,
            "content_hash": digest,
            "git_commit": git_commit(settings),
            "run_id": run_id,
            "input_versions": {plan["events"]["table"]: plan["events"]["version"]}
            | {g["table"]: g["version"] for g in plan["feature_groups"]},
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
        r[SPLIT]: {
            "rows": r["rows"],
            "positive_rate": r["positive_rate"],
            "from": str(r["first"]),
            "to": str(r["last"]),
        }
        for r in split_rows
    }
    written = {
        **commit_info,
        "version": commit.version,
        "table": table,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rows": sum(s["rows"] for s in splits.values()),
        "splits": splits,
        "label": label,
        "features": feature_columns(plan),
        "categorical_features": [c for c in feature_columns(plan) if isinstance(rows.schema[c].dataType, StringType)],
        "plan": plan,
    }
    directory = manifest_dir(settings, table)
    storage.write_text(spark, f"{directory}/v{commit.version}.stats.json", json.dumps(stats, indent=2, default=str))
    storage.write_text(spark, f"{directory}/v{commit.version}.json", json.dumps(written, indent=2, default=str))
    split_text = ", ".join(f"{s} {v['rows']:,} ({v['positive_rate']:.1%} positive)" for s, v in sorted(splits.items()))
    summary = StageSummary(
        stage="training-set",
        table=table,
        run_dates=str(_date_span(plan)),
        rows_in=counts["rows_in"],
        published=written["rows"],
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


def build_columns(plan: dict) -> list[str]:
    """The columns a plan's training set holds, known before anything is read (for the suite's checks)."""
    events = plan["events"]
    known = [c for c in events["columns"] if c not in events["keys"]]
    columns = [*events["keys"], *known, PREDICTION_TIME, plan["label"]["name"], SPLIT]
    for group in plan["feature_groups"]:
        columns += [*group["features"], available_at_column(group["name"])]
    return columns


def _date_span(plan: dict) -> DateRange:
    return DateRange(
        min(dt.date.fromisoformat(a) for a, _ in plan["splits"].values()),
        max(dt.date.fromisoformat(b) for _, b in plan["splits"].values()),
    )
