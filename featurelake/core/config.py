"""The pipeline declared as data: conf/base/*.yaml, overridden per environment by conf/<env>/*.yaml.

Every key is validated here, before Spark starts, so a wrong configuration is one sentence that names the
file and the key. Values may name environment variables as ``${VAR}`` or ``${VAR:default}``; their values
are never echoed in messages, since they may be secrets.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from featurelake.core.errors import ConfigError

ENV_VARIABLE = "FEATURELAKE_ENV"
CONF_DIR_VARIABLE = "FEATURELAKE_CONF_DIR"
DEFAULT_ENV = "local"

# Spark types a source schema may declare; names as in Spark SQL DDL.
SparkTypeName = Literal["string", "int", "bigint", "double", "boolean", "date", "timestamp"]

# Reader options that open-source Spark accepts and then silently ignores (they are Databricks features),
# and options the engine sets itself; a user setting either would get behaviour other than the one read.
UNSUPPORTED_READER_OPTIONS = {"badrecordspath": "badRecordsPath", "rescueddatacolumn": "rescuedDataColumn"}
ENGINE_READER_OPTIONS = {
    "header",
    "inferschema",
    "enforceschema",
    "mode",
    "columnnameofcorruptrecord",
    "samplingratio",
}

IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Code the configuration may name: an attribute of a module of the project's features/ package.
DEFINITION = r"^features(\.[a-z_][a-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$"
TABLE_NAME = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER)]
Definition = Annotated[str, Field(pattern=DEFINITION)]
TableName = Annotated[str, Field(pattern=TABLE_NAME)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LakeConf(Strict):
    root: str
    landing: str = "landing"


class SparkConf(Strict):
    master: str | None = None
    app_name: str = "featurelake"
    shuffle_partitions: int = Field(default=8, ge=1)
    # A directory of Delta Lake JARs to use instead of resolving them from Maven Central.
    delta_jars_dir: str | None = None
    ivy_settings: str | None = "ivysettings.xml"
    settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class DateColumns(Strict):
    """Columns that date a row; a daily delivery must hold only rows of its run date."""

    year: Identifier
    month: Identifier
    day: Identifier


class Evolution(Strict):
    """Source columns whose change is accepted instead of stopping the ingest."""

    new: list[Identifier] = Field(default_factory=list)
    missing: list[Identifier] = Field(default_factory=list)
    retyped: list[Identifier] = Field(default_factory=list)


class SourceConf(Strict):
    format: Literal["csv", "jsonl"]
    cadence: Literal["daily", "snapshot"]
    table: TableName
    files: str = "*"
    landing_dir: str | None = None
    columns: dict[Identifier, SparkTypeName]
    date_columns: DateColumns | None = None
    allow_evolution: Evolution = Field(default_factory=Evolution)
    # Run dates on which the source is known to deliver nothing (a real gap, not a failed delivery).
    known_gaps: list[dt.date] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _refuse_ignored_options(cls, options: dict[str, str]) -> dict[str, str]:
        for key in options:
            if key.lower() in UNSUPPORTED_READER_OPTIONS:
                raise ValueError(
                    f"option {key} is a Databricks feature that open-source Spark silently ignores; remove it "
                    "(malformed rows already go to the quarantine table)"
                )
            if key.lower() in ENGINE_READER_OPTIONS:
                raise ValueError(f"option {key} is set by the engine; remove it")
        return options

    @model_validator(mode="after")
    def _check_columns(self) -> SourceConf:
        if self.cadence == "daily" and self.date_columns is None:
            raise ValueError("a daily source needs date_columns (year, month, day) to check rows against the run date")
        if self.date_columns is not None:
            for part in ("year", "month", "day"):
                column = getattr(self.date_columns, part)
                if column not in self.columns:
                    raise ValueError(f"date_columns.{part} names {column}, which is not in columns")
        for change in ("missing", "retyped"):
            for column in getattr(self.allow_evolution, change):
                if column not in self.columns:
                    raise ValueError(f"allow_evolution.{change} names {column}, which is not in columns")
        return self


class LocalClock(Strict):
    """A local wall-clock time given as date parts and an HHMM integer, converted to a UTC timestamp."""

    year: Identifier
    month: Identifier
    day: Identifier
    hhmm: Identifier
    timezone: str

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value} is not an IANA time zone name such as America/New_York") from None
        return value


class AddMinutes(Strict):
    """A timestamp column plus a number of minutes from another column."""

    timestamp: Identifier
    minutes: Identifier


class Derivation(Strict):
    name: Identifier
    local_clock: LocalClock | None = None
    add_minutes: AddMinutes | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Derivation:
        kinds = [k for k in ("local_clock", "add_minutes") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"derived column {self.name} needs exactly one of local_clock, add_minutes")
        return self

    def inputs(self) -> list[str]:
        spec = self.local_clock or self.add_minutes
        fields = ("year", "month", "day", "hhmm") if self.local_clock else ("timestamp", "minutes")
        return [getattr(spec, f) for f in fields]


class RefineConf(Strict):
    source: TableName
    kind: Literal["daily", "snapshot"]
    derive: list[Derivation] = Field(default_factory=list)


class GateConf(Strict):
    """How a table's Great Expectations suite gates its publication."""

    policy: Literal["fail", "quarantine", "warn"] = "fail"
    suite: str | None = None  # file under the expectations directory; default <table>.json
    max_quarantine_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    # Whether an anomalous day fails the gate; by default it does for the fail policy only.
    anomalies: Literal["fail", "warn"] | None = None

    @model_validator(mode="after")
    def _anomalies_fail_only_with_fail(self) -> GateConf:
        if self.anomalies == "fail" and self.policy != "fail":
            raise ValueError(
                f"anomalies: fail needs policy: fail (a {self.policy} gate never fails on a day's anomaly)"
            )
        return self

    @property
    def anomalies_fail(self) -> bool:
        return self.anomalies == "fail" or (self.anomalies is None and self.policy == "fail")


class TableConf(Strict):
    path: str | None = None
    keys: list[Identifier] = Field(default_factory=list)
    partition_by: list[Identifier] = Field(default_factory=list)
    refine: RefineConf | None = None
    gate: GateConf | None = None


class AnomalyConf(Strict):
    """A day's row count or null fraction further than max_sigma standard deviations from its trailing
    window_days (with at least min_history days of history) is flagged."""

    window_days: int = Field(default=28, ge=2)
    max_sigma: float = Field(default=4.0, gt=0)
    min_history: int = Field(default=7, ge=2)


class QualityConf(Strict):
    expectations_dir: str = "expectations"  # relative to the project directory (the parent of conf/)
    results_table: TableName = "quality.results"
    anomaly: AnomalyConf = Field(default_factory=AnomalyConf)


class FeatureGroupConf(Strict):
    definition: Definition  # module:attribute in features/, e.g. features.carrier:carrier_performance


class FeaturesConf(Strict):
    """The feature groups to materialize, each into the table features.<group>."""

    # Each key's rows of a point-in-time join are spread over this many tasks (hot keys, see point_in_time).
    time_buckets: int = Field(default=16, ge=1, le=1024)
    groups: dict[Identifier, FeatureGroupConf] = Field(default_factory=dict)


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


class LabelConf(Strict):
    name: Identifier
    definition: Definition  # a function (events, **params) -> Column; null excludes the event
    params: dict[str, Any] = Field(default_factory=dict)


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

    categorical: list[Identifier] = Field(default_factory=list)
    numeric: list[Identifier] = Field(default_factory=list)

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
    """How `featurelake monitor` judges a model on a run date D: the drift of the last window_days of
    predictions against the training set's reference split, and the realized quality of the last
    window_days whose labels have landed (label_lag_days after the run date)."""

    window_days: int = Field(default=7, ge=1, le=366)
    label_lag_days: int = Field(default=1, ge=0, le=366)
    # The daily realized AUC is plotted over this many labelled days.
    history_days: int = Field(default=30, ge=1, le=3660)
    reference_split: Identifier = "train"
    # Numeric features are cut at the reference's quantiles into this many bins (plus one for nulls).
    psi_bins: int = Field(default=10, ge=2, le=100)
    # Categories beyond the reference's most frequent ones share one bin.
    max_categories: int = Field(default=30, ge=1, le=1000)
    # A PSI above these recommends retraining (0.1-0.25 is commonly read as a moderate shift, above 0.25 a major one).
    feature_psi: float = Field(default=0.25, gt=0)
    prediction_psi: float = Field(default=0.25, gt=0)
    # Realized AUC this far below the model's test AUC, or an expected calibration error above max_calibration_error.
    max_auc_drop: float = Field(default=0.05, ge=0, le=1)
    max_calibration_error: float = Field(default=0.1, gt=0, le=1)
    # Fewer labelled rows (or only one class) in the window give no realized metrics, so no signal from them.
    min_labelled_rows: int = Field(default=200, ge=1)
    # Features whose PSI is reported but decides nothing, e.g. calendar features, which differ between any
    # short window and a long training period by construction.
    report_only: list[Identifier] = Field(default_factory=list)
    # `featurelake run` monitors the last run date of each run and, in a backfill, every every_days-th run
    # date after the training window (1: daily).
    every_days: int = Field(default=7, ge=1, le=366)


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


class TrackingConf(Strict):
    """MLflow: an empty tracking URI means a SQLite store under the lake root (works offline)."""

    tracking_uri: str = ""
    registry_uri: str = ""
    experiment: str = "featurelake"
    # Where runs' artifacts go when the store is the default one: relative to the lake root.
    artifacts: str = "mlflow/artifacts"
    store: str = "mlflow/mlflow.db"


# The stages of `featurelake run`, in dependency order.
STAGES = ("ingest", "refine", "features", "training_set", "train", "score", "monitor")


class PipelineConf(Strict):
    """How `featurelake run` schedules the stages and records them in its run ledger."""

    # A range is run in batches of this many run dates: each batch's stages all commit before the next
    # batch starts, so a failure costs at most one batch. Fewer, larger batches have less per-job overhead.
    batch_days: int = Field(default=3660, ge=1, le=36600)
    ledger: TableName = "ops.run_ledger"
    # A step whose Delta commit conflicts with a concurrent writer is retried, at most this many times in all.
    commit_attempts: int = Field(default=3, ge=1, le=20)
    retry_wait_seconds: float = Field(default=2.0, ge=0, le=600)


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


class Settings:
    """The validated configuration of one environment, with the paths it implies resolved."""

    def __init__(self, project: ProjectConf, env: str, conf_dir: Path, files: list[Path]):
        self.project = project
        self.env = env
        self.conf_dir = conf_dir
        self.files = files
        self.lake_root = _resolve_root(project.lake.root, conf_dir.parent)
        self.landing_root = confine(self.lake_root, project.lake.landing, "lake.landing")
        self.expectations_dir = (conf_dir.parent / project.quality.expectations_dir).resolve()

    @property
    def sources(self) -> dict[str, SourceConf]:
        return self.project.sources

    @property
    def tables(self) -> dict[str, TableConf]:
        return self.project.tables

    @property
    def spark(self) -> SparkConf:
        return self.project.spark

    def _named(self, kind: str, file: str, entries: dict, name: str):
        if name not in entries:
            raise ConfigError(
                f"No {kind} named {name} in {self.conf_dir}/base/{file}; "
                f"known {kind}s: {', '.join(sorted(entries)) or 'none'}."
            )
        return entries[name]

    def source(self, name: str) -> SourceConf:
        return self._named("source", "sources.yaml", self.sources, name)

    def table(self, name: str) -> TableConf:
        return self._named("table", "tables.yaml", self.tables, name)

    def table_path(self, name: str) -> str:
        """Where a table lives: its declared path, or <layer>/<name> under the lake root."""
        layer, short = name.split(".", 1)
        declared = self.tables[name].path if name in self.tables else None
        return confine(self.lake_root, declared or f"{layer}/{short}", f"tables.{name}.path")

    def landing_path(self, source: str) -> str:
        conf = self.source(source)
        return confine(self.landing_root, conf.landing_dir or source, f"sources.{source}.landing_dir")

    def known_gaps(self, table: str) -> set[dt.date]:
        """Run dates on which the source feeding a bronze table delivers nothing, by its declaration."""
        return {day for source in self.sources.values() if source.table == table for day in source.known_gaps}

    def business_columns(self, table: str) -> list[str]:
        """The columns a table holds besides lineage, as conf declares them (known before any data is read)."""
        for source in self.sources.values():
            if source.table == table:
                return [*source.columns, *source.allow_evolution.new]
        refine = self.table(table).refine
        if refine is None:
            raise ConfigError(f"Table {table} is neither fed by a source nor refined, so its columns are unknown.")
        return [*self.business_columns(refine.source), *[d.name for d in refine.derive]]

    def feature_table(self, group: str) -> str:
        return f"features.{group}"

    def training_set(self, name: str) -> TrainingSetConf:
        return self._named("training set", "training_sets.yaml", self.project.training_sets, name)

    def model(self, name: str) -> ModelConf:
        return self._named("model", "models.yaml", self.project.models, name)

    @property
    def project_dir(self) -> Path:
        return self.conf_dir.parent

    def refined_tables(self) -> list[str]:
        return [name for name, table in self.tables.items() if table.refine is not None]

    def resolve_conf_file(self, name: str) -> str:
        return str((self.conf_dir / name).resolve())


def quarantine_table(table: str) -> str:
    """The table that holds the rows a table refused: bronze.flights -> quarantine.bronze_flights."""
    layer, short = table.split(".", 1)
    return f"quarantine.{layer}_{short}"


def _has_scheme(path: str) -> bool:
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path))


def _resolve_root(root: str, project_dir: Path) -> str:
    if _has_scheme(root):
        return root.rstrip("/")
    path = Path(root)
    return str((path if path.is_absolute() else project_dir / path).resolve())


def confine(root: str, relative: str, key: str) -> str:
    """Join a relative path to the lake root, refusing any path that would land outside it."""
    if _has_scheme(relative) or relative.startswith("/") or relative.startswith("~"):
        raise ConfigError(f"{key} is {relative!r}; it must be a path relative to the lake root {root}.")
    if _has_scheme(root):
        parts = urlsplit(root)
        base = parts.path or "/"
        joined = posixpath.normpath(posixpath.join(base, relative))
        inside = joined == base.rstrip("/") or joined.startswith(base.rstrip("/") + "/")
        result = f"{parts.scheme}://{parts.netloc}{joined}"
    else:
        joined = posixpath.normpath(posixpath.join(root, relative))
        inside = joined == root or joined.startswith(root.rstrip("/") + "/")
        result = joined
    if not inside:
        raise ConfigError(f"{key} is {relative!r}, which resolves outside the lake root {root}; use a path inside it.")
    return result


# ---------------------------------------------------------------------------------------------- loading

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def load_settings(env: str | None = None, conf_dir: str | Path | None = None) -> Settings:
    """Load conf/base and conf/<env>, interpolate environment variables and validate the result."""
    env = env or os.environ.get(ENV_VARIABLE) or DEFAULT_ENV
    conf_path = Path(conf_dir or os.environ.get(CONF_DIR_VARIABLE) or "conf").resolve()
    base_dir = conf_path / "base"
    if not base_dir.is_dir():
        raise ConfigError(
            f"No configuration at {base_dir}; run from the project directory or pass --conf-dir "
            f"(or set {CONF_DIR_VARIABLE})."
        )
    env_dir = conf_path / env
    if not env_dir.is_dir():
        known = sorted(p.name for p in conf_path.iterdir() if p.is_dir() and p.name != "base")
        raise ConfigError(f"Unknown environment {env}: there is no {env_dir}; known environments: {', '.join(known)}.")

    merged: dict[str, Any] = {}
    origins: dict[tuple, Path] = {}
    files = sorted(base_dir.glob("*.yaml")) + sorted(env_dir.glob("*.yaml"))
    for file in files:
        document = _read_yaml(file)
        _merge(merged, document, origins, file, (), override=file.parent == env_dir)
    merged = _interpolate(merged, origins, ())
    try:
        project = ProjectConf.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins, conf_path)) from None
    _check_references(project, origins, conf_path)
    return Settings(project, env, conf_path, files)


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{file} must hold a mapping of keys at its top level.")
    return document


def _merge(target: dict, document: dict, origins: dict, file: Path, path: tuple, override: bool) -> None:
    for key, value in document.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            origins.setdefault(here, file)
            _merge(target[key], value, origins, file, here, override)
            continue
        if key in target and not override:
            raise ConfigError(
                f"{file} sets {'.'.join(map(str, here))}, which {origins[here]} already sets; "
                "declare each key once in conf/base (override it in conf/<env>)."
            )
        target[key] = value
        for old in [p for p in origins if p[: len(here)] == here]:
            del origins[old]
        _record_origins(value, origins, file, here)


def _record_origins(value: Any, origins: dict, file: Path, path: tuple) -> None:
    origins[path] = file
    if isinstance(value, dict):
        for key, inner in value.items():
            _record_origins(inner, origins, file, (*path, key))


def _interpolate(value: Any, origins: dict, path: tuple) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, origins, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, origins, (*path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{_origin(origins, path)}: {'.'.join(map(str, path))} needs the environment variable {name}, "
            f"which is not set; set it or give a default as ${{{name}:value}}."
        )

    return _VARIABLE.sub(substitute, value)


def _origin(origins: dict, loc: tuple) -> Path | str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return "conf/base"


def _describe(exc: ValidationError, origins: dict, conf_path: Path) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "is not a known key; check its spelling against README.md"
    elif error["type"] == "missing":
        message = "is required but missing"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    origin = _origin(origins, loc)
    if origin == "conf/base" and loc:
        origin = conf_path / "base" / f"{loc[0]}.yaml"
    return f"{origin}: {key} {message}."


def _check_references(project: ProjectConf, origins: dict, conf_path: Path) -> None:
    """Every table named anywhere must be declared in tables; every column a table uses must exist."""

    def missing(loc: tuple, table: str) -> ConfigError:
        return ConfigError(
            f"{_origin(origins, loc)}: {'.'.join(map(str, loc))} names table {table}, which is not declared "
            f"under tables; declare it in {conf_path}/base/tables.yaml."
        )

    columns_of: dict[str, set[str]] = {}
    for name, source in project.sources.items():
        if source.table not in project.tables:
            raise missing(("sources", name, "table"), source.table)
        columns_of[source.table] = set(source.columns) | set(source.allow_evolution.new)
    for name, table in project.tables.items():
        if table.refine is None:
            continue
        if table.refine.source not in project.tables:
            raise missing(("tables", name, "refine", "source"), table.refine.source)
        available = set(columns_of.get(table.refine.source, set()))
        for i, derivation in enumerate(table.refine.derive):
            for column in derivation.inputs():
                if available and column not in available:
                    raise ConfigError(
                        f"{_origin(origins, ('tables', name))}: tables.{name}.refine.derive[{i}] reads column "
                        f"{column}, which {table.refine.source} does not have."
                    )
            available.add(derivation.name)
        for key in table.keys:
            if available and key not in available:
                raise ConfigError(
                    f"{_origin(origins, ('tables', name))}: tables.{name}.keys names column {key}, "
                    f"which {name} does not have."
                )
        if not table.keys:
            raise ConfigError(
                f"{_origin(origins, ('tables', name))}: tables.{name} is refined but declares no keys; "
                "list the columns that identify a row under keys."
            )

    if project.pipeline.ledger not in project.tables:
        raise missing(("pipeline", "ledger"), project.pipeline.ledger)
    for group in project.features.groups:
        if f"features.{group}" not in project.tables:
            raise missing(("features", "groups", group), f"features.{group}")
    for name, training_set in project.training_sets.items():
        loc = ("training_sets", name)
        for table in (training_set.table, training_set.events.table):
            if table not in project.tables:
                raise missing(loc, table)
        for group in training_set.feature_groups:
            if group not in project.features.groups:
                raise ConfigError(
                    f"{_origin(origins, loc)}: training_sets.{name}.feature_groups names {group}, which is not "
                    f"under features.groups; declare it in {conf_path}/base/features.yaml."
                )
    for name, model in project.models.items():
        if model.training_set not in project.training_sets:
            raise ConfigError(
                f"{_origin(origins, ('models', name))}: models.{name}.training_set names {model.training_set}, "
                f"which is not under training_sets; declare it in {conf_path}/base/training_sets.yaml."
            )
        splits = project.training_sets[model.training_set].splits
        chosen = {key: getattr(model, key) for key in ("train_split", "validation_split", "test_split")}
        chosen["monitoring.reference_split"] = model.monitoring.reference_split
        for key, split in chosen.items():
            if split not in splits:
                raise ConfigError(
                    f"{_origin(origins, ('models', name))}: models.{name}.{key} is {split}, which is "
                    f"not a split of training set {model.training_set} ({', '.join(splits)})."
                )
        unknown = [f for f in model.monitoring.report_only if f not in model.features.all]
        if unknown:
            raise ConfigError(
                f"{_origin(origins, ('models', name))}: models.{name}.monitoring.report_only names {unknown[0]}, "
                f"which is not a feature of the model; list features from models.{name}.features."
            )
