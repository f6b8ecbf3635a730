"""`featurelake vacuum`: delete the data files old versions of the lake's tables held, except the versions
something recorded still reads.

Delta's VACUUM deletes every file that no version committed within its retention needs. A version older than
that is still read by the lake's own records: a training-set manifest replays its inputs at their recorded
versions (``training-set --rebuild-from-manifest``), a registered model version's monitoring reads the
training-set version it was trained on, and an operator may pin a version in conf (``vacuum.pinned``). So each
table is vacuumed with the longer of ``vacuum.retention_hours`` and the age of the oldest version it must keep:
every version from that one on stays readable.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from pyspark.sql import SparkSession

from featurelake.core.settings import Settings
from featurelake.featurestore.plan import manifest_paths, parse_manifest
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog
from featurelake.ml import tracking


@dataclass(frozen=True)
class Kept:
    """A version of a table that must stay readable, and what reads it."""

    table: str
    version: int
    why: str


@dataclass(frozen=True)
class Vacuumed:
    table: str
    retention_hours: int
    deleted_files: int
    kept: Kept | None  # the oldest version kept beyond the retention, if any

    def line(self) -> str:
        beyond = "" if self.kept is None else f"; kept from version {self.kept.version} on ({self.kept.why})"
        return f"vacuum {self.table}: {self.deleted_files} files deleted, retention {self.retention_hours} h{beyond}"


def kept_versions(spark: SparkSession, settings: Settings) -> list[Kept]:
    """Every version a manifest, a registered model version or conf needs."""
    kept = [Kept(t, v, "vacuum.pinned") for t, versions in settings.project.vacuum.pinned.items() for v in versions]
    for conf in settings.project.training_sets.values():
        for path in manifest_paths(spark, settings, conf.table).values():
            manifest = parse_manifest(storage.read_text(spark, path) or "", path)
            why = f"manifest {manifest.table} v{manifest.version}"
            kept.append(Kept(manifest.table, manifest.version, why))
            kept.extend(Kept(table, version, why) for table, version in manifest.input_versions.items())
    for model, conf in settings.project.models.items():
        table = settings.training_set(conf.training_set).table
        for version, training_set_version in tracking.registered_training_set_versions(settings, model).items():
            kept.append(Kept(table, training_set_version, f"models:/{model}/{version}"))
    return kept


def vacuum(spark: SparkSession, settings: Settings, tables: list[str] | None = None) -> list[Vacuumed]:
    """Vacuum the named tables (default every table written so far), keeping what ``kept_versions`` needs."""
    catalog = Catalog(spark, settings)
    retention = settings.project.vacuum.retention_hours
    kept = kept_versions(spark, settings)
    done = []
    for table in tables or sorted(settings.tables):
        if not catalog.exists(table):
            continue
        latest = catalog.version(table)
        needed = [k for k in kept if k.table == table and k.version < latest]
        oldest = min(needed, key=lambda k: k.version, default=None)
        hours = retention
        if oldest is not None:
            age = dt.datetime.now(dt.UTC).replace(tzinfo=None) - catalog.committed_at(table, oldest.version)
            # an hour more than its age: every file a later commit removed is newer than the cut
            hours = max(retention, math.ceil(age.total_seconds() / 3600) + 1)
        deleted = catalog.vacuum(table, hours)
        done.append(Vacuumed(table, hours, deleted, oldest if hours > retention else None))
    return done
