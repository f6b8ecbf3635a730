"""The training-set plan: what a build reads (its conf, each feature group's metadata, the Delta version of every
input) and the manifest that records it. The contract that training, scoring, monitoring and the model card
share.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError, FeaturelakeError, NotReady
from featurelake.core.project_code import import_definition
from featurelake.core.schema.data import DEFINITION
from featurelake.core.settings import Settings, confine
from featurelake.featurestore.api import AVAILABLE_AT
from featurelake.lake import delta, storage

PREDICTION_TIME = "prediction_time"
SPLIT = "split"


def available_at_column(group: str) -> str:
    return f"{AVAILABLE_AT}_{group}"


def plan_from_conf(spark: SparkSession, settings: Settings, name: str) -> dict:
    """What a build of this training set reads now: its conf, its groups and their current table versions."""
    conf = settings.training_set(name)
    groups = []
    for group_name in conf.feature_groups:
        group = settings.feature_group(group_name)
        table = settings.feature_table(group_name)
        stored = set(delta.read_table(spark, settings, table).columns)
        absent = [c for c in group.columns if c not in stored]
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
                "features": group.descriptions,
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
        raise NotReady(f"Table {table} does not exist yet at {path}; run the stage that writes it first.")
    return delta.last_commit(spark, path).version


def feature_columns(plan: dict) -> list[str]:
    """The columns a model may use: the event's own known columns, then every group's features."""
    event_columns = [c for c in plan["events"]["columns"]]
    return [*event_columns, *[f for group in plan["feature_groups"] for f in group["features"]]]


def split_of(splits: dict) -> Column:
    """The split an event belongs to, by its run date; null outside every split."""
    spans = [(name, dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for name, (a, b) in splits.items()]
    return reduce(
        lambda chosen, span: chosen.when(F.col(RUN_DATE).between(F.lit(span[1]), F.lit(span[2])), F.lit(span[0])),
        spans[1:],
        F.when(F.col(RUN_DATE).between(F.lit(spans[0][1]), F.lit(spans[0][2])), F.lit(spans[0][0])),
    )


def label_of(settings: Settings, plan: dict, raw: DataFrame) -> Column:
    """The plan's label of each event row (null: excluded), as an int named after the label: the one
    definition the training set and the realized metrics of monitoring both apply."""
    label = plan["label"]
    key = f"training_sets.{plan['name']}.label"
    definition = import_definition(settings.project_dir, label["definition"], f"{key}.definition")
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


def build_columns(plan: dict) -> list[str]:
    """The columns a plan's training set holds, known before anything is read (for the suite's checks)."""
    events = plan["events"]
    known = [c for c in events["columns"] if c not in events["keys"]]
    columns = [*events["keys"], *known, PREDICTION_TIME, plan["label"]["name"], SPLIT]
    for group in plan["feature_groups"]:
        columns += [*group["features"], available_at_column(group["name"])]
    return columns


def date_span(plan: dict) -> DateRange:
    return DateRange(
        min(dt.date.fromisoformat(a) for a, _ in plan["splits"].values()),
        max(dt.date.fromisoformat(b) for _, b in plan["splits"].values()),
    )
