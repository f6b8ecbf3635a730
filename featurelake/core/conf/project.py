"""The whole project's conf: every section, as one validated model."""

from __future__ import annotations

from pydantic import Field

from featurelake.core.conf.data import (
    Identifier,
    LakeConf,
    SourceConf,
    SparkConf,
    Strict,
    TableName,
)
from featurelake.core.conf.ml import FeaturesConf, ModelConf, TrainingSetConf
from featurelake.core.conf.tables import QualityConf, TableConf


class TrackingConf(Strict):
    """MLflow: an empty tracking URI means a SQLite store under the lake root (works offline)."""

    tracking_uri: str = ""
    registry_uri: str = ""
    experiment: str = ""  # default: one per pipeline, featurelake-<project directory name>
    # Where runs' artifacts go when the store is the default one: relative to the lake root.
    artifacts: str = "mlflow/artifacts"
    store: str = "mlflow/mlflow.db"


class PipelineConf(Strict):
    """How `featurelake run` schedules the stages and records them in its run ledger."""

    # A range is run in batches of this many calendar days (not run dates): each batch's stages all commit
    # before the next batch starts, so a failure costs at most one batch. Fewer, larger batches have less
    # per-job overhead.
    batch_days: int = Field(default=3660, ge=1, le=36600)
    ledger: TableName = "ops.run_ledger"
    # A step whose Delta commit conflicts with a concurrent writer is retried, at most this many times in all.
    commit_attempts: int = Field(default=3, ge=1, le=20)
    retry_wait_seconds: float = Field(default=2.0, ge=0, le=600)
    # Steps of one stage that run at once (sources ingested, tables refined, feature groups materialized side by
    # side; a step that reads another's table waits for it): each step's small Spark jobs and driver work leave
    # cores to the next. What is written is the same whatever the number.
    parallelism: int = Field(default=1, ge=1, le=64)


class VacuumConf(Strict):
    """`featurelake vacuum`: the data files no version of a table newer than the retention needs are deleted,
    except those of the versions something recorded still reads (a training-set manifest's inputs, a registered
    model version's training set) and of the versions pinned here. Never shorter than Delta's own check (7 days)."""

    retention_hours: int = Field(default=168, ge=168, le=876_000)
    pinned: dict[TableName, list[int]] = Field(default_factory=dict)  # versions kept readable, per table


class ProjectConf(Strict):
    lake: LakeConf
    spark: SparkConf = Field(default_factory=SparkConf)
    quality: QualityConf = Field(default_factory=QualityConf)
    sources: dict[Identifier, SourceConf]
    tables: dict[TableName, TableConf]
    features: FeaturesConf = Field(default_factory=FeaturesConf)
    training_sets: dict[Identifier, TrainingSetConf] = Field(default_factory=dict)
    models: dict[Identifier, ModelConf] = Field(default_factory=dict)
    mlflow: TrackingConf = Field(default_factory=TrackingConf)
    pipeline: PipelineConf = Field(default_factory=PipelineConf)
    vacuum: VacuumConf = Field(default_factory=VacuumConf)
