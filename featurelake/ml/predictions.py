"""What scoring writes and monitoring reads: the columns of ``predictions.<model>``, the model's inputs cast to its
signature, and the training-set manifest and plan of a registered model. Shared through this module, so neither
stage imports the other.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.errors import FeaturelakeError
from featurelake.featurestore.plan import Manifest, TrainingSetPlan, parse_manifest
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog
from featurelake.ml import tracking

PROBABILITY, DECISION = "probability", "decision"
# The model's inputs as it saw them (cast to its signature), kept with each prediction: what monitoring
# compares with the training set, and what an audit of a decision needs.
INPUTS = "inputs"


def training_manifest(catalog: Catalog, registered: tracking.RegisteredModel) -> Manifest:
    """The manifest of the training-set version a registered model was trained on, validated."""
    settings = catalog.settings
    training_set = settings.training_set(settings.model(registered.name).training_set)
    path = f"{catalog.manifest_dir(training_set.table)}/v{registered.training_set_version}.json"
    text = storage.read_text(catalog.spark, path)
    if text is None:
        raise FeaturelakeError(
            f"{registered.uri} was trained on {training_set.table} v{registered.training_set_version}, whose "
            f"manifest {path} is gone, so its features cannot be rebuilt; retrain the model."
        )
    return parse_manifest(text, path)


def scoring_plan(catalog: Catalog, trained_on: TrainingSetPlan) -> TrainingSetPlan:
    """The training plan with every table at its current version: same groups, keys, TTLs and events."""
    return trained_on.with_versions(catalog.version)


def model_inputs(schema: list[tuple[str, str]]):
    """Cast the features to the model's signature (what it was trained on), keeping everything else."""

    def cast(frame: DataFrame) -> DataFrame:
        types = dict(schema)
        return frame.select(
            *[c for c in frame.columns if c not in types],
            *[F.col(c).cast("string" if kind == "string" else "double").alias(c) for c, kind in schema],
        )

    return cast
