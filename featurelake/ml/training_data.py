"""The training rows of a model: a training-set version with its manifest, checked against the model's conf before
any fit.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from featurelake.core.conf.ml import ModelConf
from featurelake.core.errors import ConfigError, FeaturelakeError, NotReady
from featurelake.featurestore.plan import SPLIT, Manifest, parse_manifest
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog
from featurelake.ml.estimators import (
    model_input,
)


@dataclass(frozen=True)
class TrainingData:
    name: str
    table: str
    version: int
    manifest: Manifest
    rows: DataFrame  # the model's input columns, spread and ordered for a reproducible fit

    @property
    def label(self) -> str:
        return self.manifest.label


def read_training_data(catalog: Catalog, model: str, conf: ModelConf, version: int | None) -> TrainingData:
    """A version of the model's training set (the latest by default) with its manifest, checked against
    every column the model's conf names before anything is fitted."""
    spark, settings = catalog.spark, catalog.settings
    training_set = settings.training_set(conf.training_set)
    if not catalog.exists(training_set.table):
        raise NotReady(
            f"Training set {conf.training_set} does not exist yet at {catalog.path(training_set.table)}; build it "
            f"first with `featurelake training-set --name {conf.training_set}`."
        )
    latest = catalog.version(training_set.table)
    version = latest if version is None else version
    if not 0 <= version <= latest:
        raise FeaturelakeError(
            f"Training set {conf.training_set} has versions 0 to {latest}; there is no version {version}."
        )
    manifest_path = f"{catalog.manifest_dir(training_set.table)}/v{version}.json"
    text = storage.read_text(spark, manifest_path)
    if text is None:
        raise FeaturelakeError(
            f"Training set {conf.training_set} v{version} has no manifest at {manifest_path}, so its lineage is "
            "unknown; train on a version built by `featurelake training-set`."
        )
    manifest = parse_manifest(text, manifest_path)
    rows = catalog.read_version(training_set.table, version)
    check_columns(model, conf, conf.training_set, version, rows)
    keys = manifest.plan.events.keys
    ordered = (
        rows.transform(model_input(conf, manifest.label, keys))
        .repartition(conf.partitions, *keys)
        .sortWithinPartitions(*keys)
    )
    return TrainingData(conf.training_set, training_set.table, version, manifest, ordered)


def check_columns(model: str, conf: ModelConf, training_set: str, version: int, rows: DataFrame) -> None:
    types = {f.name: f.dataType for f in rows.schema.fields}
    wanted = {
        "features.categorical": conf.features.categorical,
        "features.numeric": conf.features.numeric,
        "baselines.logistic_regression": conf.baselines.logistic_regression,
        "segments": conf.segments,
    }
    for key, columns in wanted.items():
        for column in columns:
            if column not in types:
                raise ConfigError(
                    f"models.{model}.{key} names {column}, which training set {training_set} v{version} does not "
                    "have; add it to the training set (a feature group or events.columns) and rebuild it, or "
                    "remove it from conf/base/models.yaml."
                )
    for key in ("features.numeric", "baselines.logistic_regression"):
        for column in wanted[key]:
            if not isinstance(types[column], NumericType):
                raise ConfigError(
                    f"models.{model}.{key} names {column}, a {types[column].simpleString()} column of training "
                    f"set {training_set}; a numeric feature is needed there (strings go under features.categorical)."
                )


@dataclass(frozen=True)
class SplitCounts:
    """What one pass over a training set's rows says before any fit."""

    rows_in: int  # every row of the training set
    split_rows: dict[str, int]  # by role: train, validation, test
    train_positive_rate: float

    @property
    def rows_used(self) -> int:
        return sum(self.split_rows.values())


def split_counts(conf: ModelConf, data: TrainingData) -> SplitCounts:
    """Rows per split, the positive rate and the non-null count of every numeric feature, in one pass (one
    row per split collected); a split without both classes, or a feature with no value to impute from in
    the train split, is one sentence before any fit."""
    rows = (
        data.rows.groupBy(SPLIT)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(data.label).alias("positive_rate"),
            *[F.count(c).alias(f"values_{c}") for c in conf.features.numeric],
        )
        .collect()  # bounded: one row per split
    )
    by_split = {r[SPLIT]: r for r in rows}
    roles = {"train": conf.train_split, "validation": conf.validation_split, "test": conf.test_split}
    for role, split in roles.items():
        if split not in by_split or by_split[split]["rows"] == 0:
            raise FeaturelakeError(
                f"Training set {data.name} v{data.version} has no rows in its {split} split, which the model "
                f"uses for {role}; rebuild the training set over dates that cover every split."
            )
        if by_split[split]["positive_rate"] in (0.0, 1.0):
            raise FeaturelakeError(
                f"The {split} split of training set {data.name} v{data.version} holds only one class of "
                f"{data.label}, so no AUC can be computed on it; widen the split's dates."
            )
    empty = [c for c in conf.features.numeric if by_split[conf.train_split][f"values_{c}"] == 0]
    if empty:
        raise FeaturelakeError(
            f"Feature {empty[0]} has no value in the {conf.train_split} split of training set {data.name} "
            f"v{data.version}, so nulls cannot be imputed; fix its feature group or remove it from the model."
        )
    return SplitCounts(
        rows_in=sum(r["rows"] for r in rows),
        split_rows={role: by_split[split]["rows"] for role, split in roles.items()},
        train_positive_rate=by_split[conf.train_split]["positive_rate"],
    )
