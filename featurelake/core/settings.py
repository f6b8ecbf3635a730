"""The validated configuration of one environment, with the paths it implies resolved and confined to the lake root."""

from __future__ import annotations

import datetime as dt
import os
import posixpath
import re
from pathlib import Path
from urllib.parse import urlsplit

from featurelake.core.columns import RUN_DATE
from featurelake.core.conf.data import SourceConf, SparkConf
from featurelake.core.conf.ml import ModelConf, TrainingSetConf
from featurelake.core.conf.project import ProjectConf
from featurelake.core.conf.tables import GateConf, TableConf
from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError, InputError
from featurelake.core.periods import DAILY, Grain

# Cadences from the finest to the coarsest.
CADENCE_ORDER = ("hourly", "daily", "weekly", "monthly", "quarterly", "snapshot")


def feature_table_name(group: str) -> str:
    """The table a feature group writes: ``features.<group>``."""
    return f"features.{group}"


class Settings:
    """The validated configuration of one environment, with the paths it implies resolved."""

    def __init__(
        self, project: ProjectConf, env: str, conf_dir: Path, files: list[Path], feature_groups: dict | None = None
    ):
        self.project = project
        self.env = env
        self.conf_dir = conf_dir
        self.files = files
        self.lake_root = _resolve_root(project.lake.root, conf_dir.parent)
        self.landing_root = confine(self.lake_root, project.lake.landing, "lake.landing")
        self.expectations_dir = (conf_dir.parent / project.quality.expectations_dir).resolve()
        # The enabled feature groups of the project's features package (featurelake.core.project_code).
        self.feature_groups = dict(feature_groups or {})
        implied = {self.feature_table(g): self._feature_table_conf(g) for g in self.feature_groups}
        self._tables = {**implied, **project.tables}

    @property
    def lake_is_remote(self) -> bool:
        """Whether the lake root names a file system by its scheme (s3a://, abfss://, gs://): not the local disk."""
        return has_scheme(self.lake_root)

    @property
    def sources(self) -> dict[str, SourceConf]:
        return self.project.sources

    @property
    def tables(self) -> dict[str, TableConf]:
        """Every table: those tables.yaml declares, and features.<group> of every feature group it does not."""
        return self._tables

    def _feature_table_conf(self, group: str) -> TableConf:
        """A feature table's default: one slice per run date, gated by its suite when it has one (fail: a failing
        feature row means the group's code is wrong; anomalous days are reported, not failed)."""
        suite = self.expectations_dir / f"{self.feature_table(group)}.json"
        gate = GateConf(policy="fail", anomalies="warn") if suite.exists() else None
        return TableConf(partition_by=[RUN_DATE], gate=gate)

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

    def source_of(self, table: str) -> tuple[str, SourceConf] | None:
        """The source a table is fed by, directly (bronze) or through refinement (silver); None for others."""
        for name, source in self.sources.items():
            if source.table == table:
                return name, source
        refine = self.tables[table].refine if table in self.tables else None
        return self.source_of(refine.source) if refine is not None else None

    def cadence(self, table: str) -> str:
        """How often a table receives a period of data: its source's cadence; a feature table's is the finest of
        its inputs with periods (snapshot when it reads snapshots only); daily for anything else."""
        fed = self.source_of(table)
        if fed is not None:
            return fed[1].cadence
        group = self.feature_groups.get(table.split(".", 1)[1]) if table.startswith("features.") else None
        if group is not None:
            cadences = {self.cadence(t) for t in group.tables} - {"snapshot"}
            return min(cadences, key=CADENCE_ORDER.index) if cadences else "snapshot"
        return "daily"

    def grain(self, table: str) -> Grain:
        """The periods of a table's run dates (days for snapshots and derived tables)."""
        fed = self.source_of(table)
        if fed is not None:
            return Grain.of(fed[1].cadence, fed[1].week_starts)
        group = self.feature_groups.get(table.split(".", 1)[1]) if table.startswith("features.") else None
        if group is not None and self.cadence(table) != "snapshot":
            return next(self.grain(t) for t in group.tables if self.cadence(t) == self.cadence(table))
        return DAILY

    def periods(self, table: str, run_dates: DateRange, what: str) -> list[dt.date]:
        """The run dates of the table's periods that begin in the range; none is one sentence naming the run
        date that would be (``what`` says which step asked, e.g. "refine silver.market")."""
        grain = self.grain(table)
        periods = grain.starts(run_dates)
        if not periods:
            raise InputError(
                f"No {grain.noun} of {table} ({self.cadence(table)}) begins in {run_dates}; a period's run date is "
                f"its first day, so {what} {grain.start(run_dates.start)} or a range that holds it."
            )
        return periods

    def model_grain(self, model: str) -> Grain:
        """The periods a model is scored and monitored in: those of its training set's events table."""
        return self.grain(self.training_set(self.model(model).training_set).events.table)

    def known_gaps(self, table: str) -> set[dt.date]:
        """Run dates (periods) for which the source feeding a table delivers nothing, by its declaration."""
        fed = self.source_of(table)
        return set(fed[1].known_gaps) if fed is not None else set()

    def business_columns(self, table: str) -> list[str]:
        """The columns a table holds besides lineage, as conf declares them (known before any data is read)."""
        for source in self.sources.values():
            if source.table == table:
                return [*source.columns, *source.allow_evolution.new]
        refine = self.table(table).refine
        if refine is None:
            raise ConfigError(f"Table {table} is neither fed by a source nor refined, so its columns are unknown.")
        return [*self.business_columns(refine.source), *[d.name for d in refine.derive]]

    def not_null_columns(self, table: str) -> list[str]:
        """The columns a table's Delta schema declares NOT NULL: its declared keys, a feature table's join keys."""
        group = self.feature_groups.get(table.split(".", 1)[1]) if table.startswith("features.") else None
        declared = self.tables[table].keys if table in self.tables else []
        return list(dict.fromkeys([*declared, *(group.keys if group is not None else ())]))

    def feature_group(self, name: str):
        """An enabled feature group of the project's features package (featurelake.featurestore.api.FeatureGroup)."""
        if name not in self.feature_groups:
            raise ConfigError(
                f"No feature group named {name} in {self.project_dir / self.features_package} (or it is switched off "
                f"under features.groups); known groups: {', '.join(sorted(self.feature_groups)) or 'none'}."
            )
        return self.feature_groups[name]

    def feature_table(self, group: str) -> str:
        return feature_table_name(group)

    def training_set(self, name: str) -> TrainingSetConf:
        return self._named("training set", "training_sets.yaml", self.project.training_sets, name)

    def training_set_inputs(self, name: str) -> frozenset[str]:
        """The tables a training set (and a model's scoring of it) reads: its groups' feature tables and its events."""
        training_set = self.training_set(name)
        return frozenset({*(self.feature_table(g) for g in training_set.feature_groups), training_set.events.table})

    def model(self, name: str) -> ModelConf:
        return self._named("model", "models.yaml", self.project.models, name)

    @property
    def project_dir(self) -> Path:
        return self.conf_dir.parent

    @property
    def features_package(self) -> str:
        """The Python package of the project's feature groups and labels (``features.package``)."""
        return self.project.features.package

    def refined_tables(self) -> list[str]:
        return [name for name, table in self.tables.items() if table.refine is not None]

    def resolve_conf_file(self, name: str) -> str:
        """A file named by conf, relative to the conf directory; when that directory has no such file, the copy
        featurelake ships (featurelake/resources: ivysettings.xml), so a conf dir of YAML alone works."""
        own = (self.conf_dir / name).resolve()
        shipped = Path(__file__).resolve().parents[1] / "resources" / name
        return str(shipped if not own.exists() and shipped.exists() else own)

    @property
    def experiment(self) -> str:
        """The MLflow experiment: mlflow.experiment, or one per pipeline, featurelake-<project directory>."""
        return self.project.mlflow.experiment or f"featurelake-{self.project_dir.name}"


def quarantine_table(table: str) -> str:
    """The table that holds the rows a table refused: bronze.flights -> quarantine.bronze_flights."""
    layer, short = table.split(".", 1)
    return f"quarantine.{layer}_{short}"


def has_scheme(path: str) -> bool:
    """Whether a path names a file system by its scheme (s3a://, abfss://, gs://, file://)."""
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", path))


def _resolve_root(root: str, project_dir: Path) -> str:
    if has_scheme(root):
        return root.rstrip("/")
    path = Path(root)
    return str((path if path.is_absolute() else project_dir / path).resolve())


def confine(root: str, relative: str, key: str) -> str:
    """Join a relative path to the lake root, refusing any path that would land outside it."""
    if has_scheme(relative) or relative.startswith("/") or relative.startswith("~"):
        raise ConfigError(f"{key} is {relative!r}; it must be a path relative to the lake root {root}.")
    if has_scheme(root):
        parts = urlsplit(root)
        base = parts.path or "/"
        joined = posixpath.normpath(posixpath.join(base, relative))
        inside = joined == base.rstrip("/") or joined.startswith(base.rstrip("/") + "/")
        result = f"{parts.scheme}://{parts.netloc}{joined}"
    else:
        joined = posixpath.normpath(posixpath.join(root, relative))
        inside = joined == root or joined.startswith(root.rstrip("/") + "/")
        result = joined
        real = real_outside(root, joined) if inside else None
        if real is not None:
            raise ConfigError(
                f"{key} is {relative!r}, which is a symbolic link to {real}, outside the lake root {root}; "
                "make it a directory inside the lake root."
            )
    if not inside:
        raise ConfigError(f"{key} is {relative!r}, which resolves outside the lake root {root}; use a path inside it.")
    return result


def real_outside(root: str, path: str) -> str | None:
    """Where a local path really is (symbolic links followed) when that is outside the root's real path."""
    real, real_root = os.path.realpath(path), os.path.realpath(root)
    return None if real == real_root or real.startswith(real_root.rstrip("/") + "/") else real
