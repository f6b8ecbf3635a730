"""The training-set plan: what a build reads (its conf, each feature group's metadata, the Delta version of every
input) and the manifest that records it. The contract that training, scoring, monitoring and the model card
share: pydantic models, frozen, refusing fields they do not know, validated whenever a manifest is read.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from functools import reduce
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import ErrorDetails
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.conf.data import DEFINITION, Window
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError, FeaturelakeError
from featurelake.core.periods import TimeWindow
from featurelake.core.project_code import import_definition
from featurelake.core.settings import Settings, confine
from featurelake.featurestore.api import AVAILABLE_AT
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog, run_date_condition
from featurelake.lake.tables import manifest_dir

PREDICTION_TIME = "prediction_time"
LABEL_PENDING = "_label_pending"  # a label whose horizon has not landed yet (dropped before writing)
SPLIT = "split"


def available_at_column(group: str) -> str:
    return f"{AVAILABLE_AT}_{group}"


# --------------------------------------------------------------------------------------------- the models


class FrozenRecord(BaseModel):
    """JSON the engine writes itself: nothing unknown in it, nothing changed once it is built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsPlan(FrozenRecord):
    """The label events: a table at a Delta version, one row per event, predicted at event_time + offset."""

    table: str
    keys: list[str]
    event_time: str
    prediction_offset_minutes: int
    columns: list[str]
    version: int
    noun: str = "event"  # what one event is called in reports (manifests before it: event)

    @property
    def known(self) -> list[str]:
        """The event's columns known at prediction time, besides its keys."""
        return [c for c in self.columns if c not in self.keys]


class LabelPlan(FrozenRecord):
    name: str
    definition: str  # <features package>.<module>:<function>, checked against DEFINITION when a manifest is read
    params: dict[str, Any]
    description: str = ""  # what a positive label means, in the reports' words
    positive: str = "positive"  # the word for a positive event
    horizon: Window = TimeWindow(0)  # how far after an event's own run date its label may read


class GroupPlan(FrozenRecord):
    """A feature group at a Delta version of its table: its keys, event time, TTL and features."""

    name: str
    table: str
    version: int
    keys: list[str]
    event_time: str
    ttl_seconds: float | None  # given as seconds or a timedelta; unset: a row of any age is used
    features: dict[str, str]  # name: description

    @field_validator("ttl_seconds", mode="before")
    @classmethod
    def _seconds(cls, ttl: Any) -> Any:
        return ttl.total_seconds() if isinstance(ttl, dt.timedelta) else ttl

    @property
    def ttl(self) -> dt.timedelta | None:
        return None if self.ttl_seconds is None else dt.timedelta(seconds=self.ttl_seconds)

    @property
    def available_at(self) -> str:
        return available_at_column(self.name)


class TrainingSetPlan(FrozenRecord):
    """All a build of a training set depends on, besides the label function."""

    name: str
    table: str
    events: EventsPlan
    label: LabelPlan
    splits: dict[str, tuple[dt.date, dt.date]] = Field(min_length=1)  # split: (from, to) run dates
    feature_groups: list[GroupPlan]
    time_buckets: int

    @field_validator("splits")
    @classmethod
    def _ordered(cls, splits: dict[str, tuple[dt.date, dt.date]]) -> dict[str, tuple[dt.date, dt.date]]:
        for split, (start, end) in splits.items():
            if end < start:
                raise ValueError(f"has split {split} ending on {end}, before it starts on {start}")
        return splits

    @property
    def spans(self) -> dict[str, DateRange]:
        return {split: DateRange(start, end) for split, (start, end) in self.splits.items()}

    @property
    def date_span(self) -> DateRange:
        """From the first split's first run date to the last split's last."""
        return DateRange(min(a for a, _ in self.splits.values()), max(b for _, b in self.splits.values()))

    @property
    def feature_columns(self) -> list[str]:
        """The columns a model may use: the event's own known columns, then every group's features."""
        return [*self.events.columns, *[f for group in self.feature_groups for f in group.features]]

    @property
    def build_columns(self) -> list[str]:
        """The columns the training set holds, known before anything is read (for the suite's checks)."""
        columns = [*self.events.keys, *self.events.known, PREDICTION_TIME, self.label.name, SPLIT]
        for group in self.feature_groups:
            columns += [*group.features, group.available_at]
        return columns

    @property
    def input_versions(self) -> dict[str, int]:
        """The Delta version read of every input table, the label events first."""
        return {self.events.table: self.events.version} | {g.table: g.version for g in self.feature_groups}

    def with_versions(self, version_of: Callable[[str], int]) -> TrainingSetPlan:
        """The same plan reading every table at the version ``version_of(table)`` gives."""
        return self.model_copy(
            update={
                "events": self.events.model_copy(update={"version": version_of(self.events.table)}),
                "feature_groups": [g.model_copy(update={"version": version_of(g.table)}) for g in self.feature_groups],
            }
        )


class SplitSummary(FrozenRecord):
    """What a build found in a split: its rows, the label's positive rate and its first and last run date."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    rows: int
    positive_rate: float
    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")


class Manifest(FrozenRecord):
    """A built version of a training set: its Delta commit's metadata, what it holds, and the plan it was built by.
    Written as ``to_json()`` to ``<layer>/_manifests/<name>/v<version>.json``."""

    training_set: str
    content_hash: str
    git_commit: str
    run_id: str
    input_versions: dict[str, int]
    version: int
    table: str
    created_at: str  # ISO 8601, UTC, to the second
    rows: int
    splits: dict[str, SplitSummary]
    label: str
    features: list[str]
    categorical_features: list[str]
    plan: TrainingSetPlan

    def to_json(self) -> str:
        """The manifest file's text: the field names as they are on disk (a split's ``from`` and ``to``)."""
        return self.model_dump_json(indent=2, by_alias=True)


# ------------------------------------------------------------------------------------------ planning a build


def plan_from_conf(spark: SparkSession, settings: Settings, name: str) -> TrainingSetPlan:
    """What a build of this training set reads now: its conf, its groups and their current table versions."""
    conf = settings.training_set(name)
    catalog = Catalog(spark, settings)
    groups = []
    for group_name in conf.feature_groups:
        group = settings.feature_group(group_name)
        table = settings.feature_table(group_name)
        stored = set(catalog.read(table).columns)
        absent = [c for c in group.columns if c not in stored]
        if absent:
            raise FeaturelakeError(
                f"Table {table} has no column {absent[0]}, which feature group {group_name} now declares; "
                f"re-run `featurelake features --group {group_name}` over the training set's dates first."
            )
        groups.append(
            GroupPlan(
                name=group_name,
                table=table,
                version=catalog.version(table),
                keys=list(group.keys),
                event_time=group.event_time,
                ttl_seconds=group.ttl,
                features=group.descriptions,
            )
        )
    return TrainingSetPlan(
        name=name,
        table=conf.table,
        events=EventsPlan(**conf.events.model_dump(), version=catalog.version(conf.events.table)),
        label=LabelPlan(**conf.label.model_dump()),
        splits={split: (span.start, span.end) for split, span in conf.splits.items()},
        feature_groups=groups,
        time_buckets=settings.project.features.time_buckets,
    )


def split_of(splits: dict[str, tuple[dt.date, dt.date]]) -> Column:
    """The split an event belongs to, by its run date; null outside every split."""
    spans = [(name, a, b) for name, (a, b) in splits.items()]
    return reduce(
        lambda chosen, span: chosen.when(F.col(RUN_DATE).between(F.lit(span[1]), F.lit(span[2])), F.lit(span[0])),
        spans[1:],
        F.when(F.col(RUN_DATE).between(F.lit(spans[0][1]), F.lit(spans[0][2])), F.lit(spans[0][0])),
    )


def with_label(settings: Settings, plan: TrainingSetPlan, events: DataFrame, span: DateRange) -> DataFrame:
    """The events of ``span`` with the plan's label, and ``_label_pending`` where it cannot be known yet.

    The label function's contract: it gets the event rows of the span and of the ``label.horizon`` after it
    (in periods of the events table, so a next-day or next-period label may look ahead to them), returns a
    Column over those rows, and null excludes an event. An event whose horizon reaches past the last run date
    the events table holds gets no label: it is pending, not excluded, and counted as such."""
    horizon, grain = plan.label.horizon, settings.grain(plan.events.table)
    seen = events.where(run_date_condition(DateRange(span.start, horizon.ahead(span.end, grain))))
    pending = F.lit(False)
    if horizon.count:
        landed = seen.agg(F.max(RUN_DATE).alias("landed")).first()["landed"]  # one row
        pending = F.lit(True) if landed is None else F.col(RUN_DATE) > F.lit(horizon.back(landed, grain))
    label = plan.label.name
    return (
        seen.withColumn(label, label_of(settings, plan, seen))
        .where(run_date_condition(span))
        .withColumn(LABEL_PENDING, pending)
        .withColumn(label, F.when(~F.col(LABEL_PENDING), F.col(label)))
    )


def label_of(settings: Settings, plan: TrainingSetPlan, raw: DataFrame) -> Column:
    """The plan's label of each event row (null: excluded), as an int named after the label: the one
    definition the training set and the realized metrics of monitoring both apply."""
    label = plan.label
    key = f"training_sets.{plan.name}.label"
    package = settings.features_package
    definition = import_definition(settings.project_dir, package, label.definition, f"{key}.definition")
    try:
        label_column = definition(raw, **label.params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{key}.params do not fit {label.definition}: {exc}.") from None
    return label_column.cast("int").alias(label.name)


def prediction_columns(events: EventsPlan) -> list[Column]:
    """What training and scoring both know of an event: its keys, its known columns and the moment it is
    predicted at (event time + offset). The one definition both paths use."""
    offset_micros = events.prediction_offset_minutes * 60_000_000
    prediction_time = F.timestamp_micros(F.unix_micros(F.col(events.event_time)) + F.lit(offset_micros))
    return [*[F.col(c) for c in events.keys], *[F.col(c) for c in events.known], prediction_time.alias(PREDICTION_TIME)]


# ------------------------------------------------------------------------------------------ reading a manifest


def manifest_paths(spark: SparkSession, settings: Settings, table: str) -> dict[int, str]:
    """Every manifest recorded for a training-set table, by the version it describes (``v<version>.json``; the
    ``.stats.json`` beside them are not manifests)."""
    parent, folder = manifest_dir(settings, table).rsplit("/", 1)
    found = {}
    for file in storage.list_files_in_folders(spark, parent, [folder], "v*.json").get(folder, []):
        stem = file.path.rsplit("/", 1)[1].removesuffix(".json")
        if stem[1:].isdigit():
            found[int(stem[1:])] = file.path
    return found


def parse_manifest(text: str, path: str) -> Manifest:
    """The manifest a file holds, validated; one sentence naming the file and the first failing field if it
    is not one, or if it names label code outside the features package."""
    try:
        manifest = Manifest.model_validate_json(text)
    except ValidationError as exc:
        raise FeaturelakeError(f"{path} is not a training-set manifest: {_failure(exc.errors()[0])}.") from None
    definition = manifest.plan.label.definition
    if not re.match(DEFINITION, definition):
        raise FeaturelakeError(f"{path} names label code {definition!r} outside the features package; not run.")
    return manifest


def _failure(error: ErrorDetails) -> str:
    field = ".".join(str(part) for part in error["loc"])
    message = error["msg"].rstrip(".")
    if error["type"] == "json_invalid":
        return f"it is not JSON ({message.removeprefix('Invalid JSON: ')})"
    if error["type"] == "missing":
        return f"{field} is missing"
    if error["type"] == "extra_forbidden":
        return f"{field} is not a field of a manifest"
    if error["type"] == "value_error":
        return f"{field} {message.removeprefix('Value error, ')}"
    shown = repr(error["input"])
    shown = shown if len(shown) <= 60 else f"{shown[:57]}..."
    return f"{field or 'it'} {message.removeprefix('Input ')}, not {shown}"


def load_manifest(spark: SparkSession, settings: Settings, path: str) -> Manifest:
    """A manifest named by the user; it must lie inside the lake root."""
    if not path.startswith(settings.lake_root):
        path = os.path.abspath(path)
    inside = confine(settings.lake_root, os.path.relpath(path, settings.lake_root), "--rebuild-from-manifest")
    text = storage.read_text(spark, inside)
    if text is None:
        raise FeaturelakeError(f"There is no manifest at {inside}; give the path of a v<version>.json manifest.")
    return parse_manifest(text, inside)
