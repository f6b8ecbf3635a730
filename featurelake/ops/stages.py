"""The registered stages, in dependency order: what `featurelake run` plans and the command line offers."""

from __future__ import annotations

from featurelake.featurestore.stages import FeaturesStage, TrainingSetStage
from featurelake.ingest.stages import IngestStage, RefineStage
from featurelake.lake.stage import Stage
from featurelake.ml.stages import ScoreStage, TrainStage
from featurelake.monitoring.stage import MonitorStage

STAGES: tuple[Stage, ...] = (
    IngestStage(),
    RefineStage(),
    FeaturesStage(),
    TrainingSetStage(),
    TrainStage(),
    ScoreStage(),
    MonitorStage(),
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
