"""The schema of conf for learning: feature groups, training sets, models and their monitoring."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from featurelake.core.conf.data import (
    Definition,
    Identifier,
    Strict,
    TableName,
    Window,
)
from featurelake.core.periods import TimeWindow

FeatureSelector = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.\*)?$")]


class FeatureGroupConf(Strict):
    """Overrides of a discovered feature group (groups are found in the project's features package)."""

    # A group defined outside discovery, as module:attribute of the features package, e.g. features.extra:holidays.
    definition: Definition | None = None
    enabled: bool = True


class FeaturesConf(Strict):
    """How feature groups are materialized (each into the table features.<group>) and joined."""

    # The Python package of the project's feature groups and labels: the directory of that name beside conf/
    # (or, on a cluster, shipped in --py-files). Only its modules are searched, so two projects in one
    # repository, each with its own package, never see each other's groups.
    package: Identifier = "features"
    # Each key's rows of a point-in-time join are spread over this many tasks (hot keys, see point_in_time).
    time_buckets: int = Field(default=16, ge=1, le=1024)
    groups: dict[Identifier, FeatureGroupConf] = Field(default_factory=dict)

    @field_validator("package")
    @classmethod
    def _own_package(cls, package: str) -> str:
        if package == "featurelake" or package in sys.stdlib_module_names:
            raise ValueError(f"is {package}, a package of Python or the engine; name the project's own package")
        return package


class DateSpan(Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: dt.date = Field(alias="from")
    end: dt.date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> DateSpan:
        if self.end < self.start:
            raise ValueError(f"ends ({self.end}) before it starts ({self.start})")
        return self


class LabelEventsConf(Strict):
    """The rows a training set labels: one per row of a table, predicted at event_time + offset."""

    table: TableName
    keys: list[Identifier]
    event_time: Identifier
    # When the prediction is made, relative to the event time (negative: before it); features are joined
    # as of that moment, so nothing known later can leak in.
    prediction_offset_minutes: int = Field(le=0)
    # Event columns known at prediction time, kept as features and segments (e.g. the scheduled route).
    columns: list[Identifier] = Field(default_factory=list)
    # What one event is called in the model card and the drift report (e.g. flight, order, visit).
    noun: str = Field(default="event", min_length=1, max_length=60)


class LabelConf(Strict):
    name: Identifier
    definition: Definition  # a function (events, **params) -> Column; null excludes the event
    params: dict[str, Any] = Field(default_factory=dict)
    # The words of the reports: what a positive label means (e.g. "arrived more than 15 minutes late"), and
    # the word for a positive event (e.g. delayed: "12.3 % delayed", "delayed share").
    description: str = Field(default="", max_length=500)
    positive: str = Field(default="positive", min_length=1, max_length=60)
    # How far after an event's own run date the label may read (a next-day or next-period label: "1 period"):
    # the label function sees the events of the span and of the horizon after it; an event whose horizon
    # reaches past the last run date the events table holds is not labelled yet, and counted as such.
    horizon: Window = TimeWindow(0)


class TrainingSetConf(Strict):
    table: TableName
    events: LabelEventsConf
    label: LabelConf
    feature_groups: list[Identifier]
    # Splits by the event's run date; ranges may not overlap.
    splits: dict[Identifier, DateSpan]

    @field_validator("splits")
    @classmethod
    def _disjoint(cls, splits: dict[str, DateSpan]) -> dict[str, DateSpan]:
        ordered = sorted(splits.items(), key=lambda item: item[1].start)
        for (a, first), (b, second) in zip(ordered, ordered[1:], strict=False):
            if second.start <= first.end:
                raise ValueError(f"split {b} starts on {second.start}, inside split {a} (until {first.end})")
        if not splits:
            raise ValueError("needs at least one split")
        return splits


Algorithm = Literal["gbt", "random_forest", "logistic_regression"]


class ModelFeaturesConf(Strict):
    """The training-set columns a model reads: strings indexed (unseen values kept), numbers imputed."""

    # Column names, or <group>.* for every feature of a group of the kind (strings / numbers).
    categorical: list[FeatureSelector] = Field(default_factory=list)
    numeric: list[FeatureSelector] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct(self) -> ModelFeaturesConf:
        both = sorted(set(self.categorical) & set(self.numeric))
        if both:
            raise ValueError(f"lists {', '.join(both)} as both categorical and numeric")
        if not self.categorical and not self.numeric:
            raise ValueError("needs at least one feature")
        return self

    @property
    def all(self) -> list[str]:
        return [*self.categorical, *self.numeric]


class BaselineConf(Strict):
    # A logistic regression on a few obvious numeric features, on the same splits, to beat.
    logistic_regression: list[Identifier] = Field(min_length=1)


class ModelCardConf(Strict):
    intended_use: str
    limitations: list[str] = Field(default_factory=list)


class MonitoringConf(Strict):
    """How `featurelake monitor` judges a model on a run date D: the drift of the predictions of the last
    ``window`` against the training set's reference split, and the realized quality of the last ``window``
    whose labels have landed (``label_lag`` after the run date). Lengths count periods of the model's events
    table ("7 periods": seven days of a daily model, seven months of a monthly one) or a unit ("90 days")."""

    window: Window = TimeWindow(7)
    label_lag: Window = TimeWindow(1)
    # The realized AUC of each period is plotted over this long.
    history: Window = TimeWindow(30)
    reference_split: Identifier = "train"
    # Numeric features are cut at the reference's quantiles into this many bins (plus one for nulls).
    psi_bins: int = Field(default=10, ge=2, le=100)
    # Categories beyond the reference's most frequent ones share one bin.
    max_categories: int = Field(default=30, ge=1, le=1000)
    # Each column's drift thresholds are calibrated on the reference (featurelake/monitoring/calibration.py): this
    # quantile of its PSI and Jensen-Shannon distance between each window of `window`'s length inside the
    # reference and the rest of it; a calibrated PSI threshold is never below min_psi (under 0.1 is commonly read
    # as no shift).
    drift_quantile: float = Field(default=0.95, gt=0, le=1)
    min_psi: float = Field(default=0.1, ge=0)
    # A reference with fewer windows than this is too short to calibrate on: these fixed PSI thresholds apply.
    min_reference_windows: int = Field(default=5, ge=1)
    feature_psi: float = Field(default=0.25, gt=0)
    prediction_psi: float = Field(default=0.25, gt=0)
    # Retraining is recommended when the realized AUC, or the AUC estimated from the probabilities before labels
    # land, is more than max_auc_drop below the model's test AUC, or when inputs holding more than
    # max_drifted_importance of the model's importance drifted and the estimated AUC moved more than
    # estimate_tolerance away from the test AUC, either way. Drift alone, anomalies and report-only inputs never
    # decide; an expected calibration error of the labelled window above max_calibration_error is flagged in the
    # report.
    max_auc_drop: float = Field(default=0.05, ge=0, le=1)
    max_calibration_error: float = Field(default=0.1, gt=0, le=1)
    max_drifted_importance: float = Field(default=0.3, ge=0, le=1)
    estimate_tolerance: float = Field(default=0.02, ge=0, le=1)
    # The probabilities are calibrated on the labelled predictions of `history` before the realized window before
    # they estimate performance; while those are fewer than min_labelled_rows, on this labelled split (not the one
    # the model was fitted on): the test split, the labels nearest to production (the demo's first December
    # week: estimate 0.706 against a realized 0.672, where the validation split of September-October gave 0.764).
    estimate_split: Identifier = "test"
    # Fewer labelled rows (or only one class) in the window give no realized metrics, so no signal from them.
    min_labelled_rows: int = Field(default=200, ge=1)
    # Features whose PSI is reported but decides nothing, e.g. calendar features, which differ between any
    # short window and a long training period by construction.
    report_only: list[Identifier] = Field(default_factory=list)
    # `featurelake run` monitors the last period of each run and, in a backfill, every `every` after the
    # training window ("1 period": each one).
    every: Window = TimeWindow(7)

    @model_validator(mode="after")
    def _positive_lengths(self) -> MonitoringConf:
        for name in ("window", "history", "every"):
            if getattr(self, name).count < 1:
                raise ValueError(f"monitoring.{name} must be at least 1 period")
        return self


class ModelConf(Strict):
    """A model: an MLlib pipeline over a training set, tuned on its validation split, judged on its test split."""

    training_set: Identifier
    algorithm: Algorithm = "gbt"
    features: ModelFeaturesConf
    # Estimator parameters by their MLlib names (maxIter, maxDepth, regParam, ...), fixed for every fit.
    params: dict[Identifier, Any] = Field(default_factory=dict)
    # Candidate values per parameter; every combination is fitted on train and scored on validation.
    grid: dict[Identifier, list[Any]] = Field(default_factory=dict)
    seed: int = 2013
    # mean is reproducible to the last bits; median is MLlib's approximate quantile, whose merge order (and so
    # its value, within its error) can change between runs on a cluster
    impute: Literal["mean", "median"] = "mean"
    # The training rows are spread over this many partitions in a fixed order, so a fit is reproducible.
    partitions: int = Field(default=8, ge=1, le=10_000)
    # Grid candidates fitted at once (as Spark's TrainValidationSplit's parallelism): each fit runs its own Spark
    # jobs, so a fit's small jobs leave cores to the next; the models and metrics are the same whatever the number.
    parallelism: int = Field(default=1, ge=1, le=64)
    train_split: Identifier = "train"
    validation_split: Identifier = "validation"
    test_split: Identifier = "test"
    baselines: BaselineConf
    segments: list[Identifier] = Field(default_factory=list)
    # A segment whose test AUC is this far below the overall test AUC is flagged.
    segment_auc_drop: float = Field(default=0.05, ge=0, le=1)
    # Segments with fewer test rows (or no row of one class) get no AUC: too few to judge.
    segment_min_rows: int = Field(default=100, ge=1)
    # A new version becomes the champion only when its test AUC beats the champion's by this much.
    champion_margin: float = Field(default=0.002, ge=0, le=1)
    card: ModelCardConf
    monitoring: MonitoringConf = Field(default_factory=MonitoringConf)

    @model_validator(mode="after")
    def _grid_not_fixed(self) -> ModelConf:
        both = sorted(set(self.params) & set(self.grid))
        if both:
            raise ValueError(f"sets {', '.join(both)} under both params and grid; keep one")
        empty = sorted(name for name, values in self.grid.items() if not values)
        if empty:
            raise ValueError(f"grid.{empty[0]} lists no value")
        return self
