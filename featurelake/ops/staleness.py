"""Training sets built on data corrected since, and the models trained on them.

A build reads its sources' periods as they were delivered then. When a period inside the build's date span is
delivered again with other files (a corrected re-delivery, which the run ledger records by the fingerprint of
what each ingest read) after the build, the build no longer says what the lake says: it is stale, and so is every
model trained on it, until the training set is built again. `featurelake run` lists them at its end.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings
from featurelake.featurestore.plan import Manifest, manifest_paths, parse_manifest
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog


@dataclass(frozen=True)
class Stale:
    """The latest build of a training set, and the source periods re-delivered inside its span since."""

    table: str
    version: int
    built_at: str
    redelivered: dict[str, list[dt.date]]  # source -> periods
    models: list[str]

    def line(self) -> str:
        changed = "; ".join(
            f"{len(days)} period(s) of {source} ({', '.join(d.isoformat() for d in days[:3])}"
            f"{' and more' if len(days) > 3 else ''})"
            for source, days in sorted(self.redelivered.items())
        )
        models = f"; models trained on it: {', '.join(self.models)}" if self.models else ""
        return (
            f"stale: {self.table} v{self.version} (built {self.built_at}) read data re-delivered since: {changed}"
            f"{models}. Build it again (featurelake training-set) and retrain."
        )


def stale_builds(spark: SparkSession, settings: Settings, sources: set[str] | None = None) -> list[Stale]:
    """The training sets whose latest build predates a re-delivery of a period in its span (of ``sources`` only,
    when given: the ones a run has just re-ingested)."""
    catalog = Catalog(spark, settings)
    found: list[Stale] = []
    for name, conf in settings.project.training_sets.items():
        manifest = _latest_manifest(spark, settings, conf.table)
        if manifest is None:
            continue
        feeding = _sources_of(settings, manifest) & (sources if sources is not None else set(settings.sources))
        if not feeding:
            continue
        built = dt.datetime.fromisoformat(manifest.created_at).astimezone(dt.UTC).replace(tzinfo=None)
        changed = redelivered(catalog, feeding, manifest.plan.date_span, built)
        if changed:
            models = sorted(m for m, model in settings.project.models.items() if model.training_set == name)
            found.append(Stale(conf.table, manifest.version, manifest.created_at, changed, models))
    return found


def redelivered(catalog: Catalog, sources: set[str], span: DateRange, since: dt.datetime) -> dict[str, list[dt.date]]:
    """The periods of these sources in the span whose delivery was ingested again, reading other files than it
    had before ``since`` (naive UTC), after it; from the run ledger (one row per period at most is collected)."""
    ledger = catalog.settings.project.pipeline.ledger
    if not catalog.exists(ledger):
        return {}
    rows = catalog.read(ledger)
    if "inputs" not in rows.columns:
        return {}
    before = F.col("finished_at") <= F.lit(since)
    ingests = rows.where(
        (F.col("stage") == F.lit("ingest"))
        & F.col("target").isin(*sorted(sources))
        & F.col("run_date").between(F.lit(span.start), F.lit(span.end))
        & F.col("inputs").isNotNull()
    )
    per_period = ingests.groupBy("target", "run_date").agg(
        F.max_by(F.when(before, F.col("inputs")), F.when(before, F.col("finished_at"))).alias("then"),
        F.max_by("inputs", "finished_at").alias("now"),
        F.max("finished_at").alias("last"),
    )
    changed = per_period.where(
        F.col("then").isNotNull() & (F.col("now") != F.col("then")) & (F.col("last") > F.lit(since))
    )
    found: dict[str, list[dt.date]] = {}
    for row in changed.orderBy("target", "run_date").collect():  # bounded: sources x periods of the span
        found.setdefault(row["target"], []).append(row["run_date"])
    return found


def _latest_manifest(spark: SparkSession, settings: Settings, table: str) -> Manifest | None:
    paths = manifest_paths(spark, settings, table)
    if not paths:
        return None
    path = paths[max(paths)]
    return parse_manifest(storage.read_text(spark, path) or "", path)


def _sources_of(settings: Settings, manifest: Manifest) -> set[str]:
    """The sources whose deliveries a build read: through its events table and its feature groups' tables."""
    tables = {manifest.plan.events.table, *(group.table for group in manifest.plan.feature_groups)}
    return set().union(*(_feeding(settings, table) for table in tables))


def _feeding(settings: Settings, table: str) -> set[str]:
    fed = settings.source_of(table)
    if fed is not None:
        return {fed[0]}
    group = settings.feature_groups.get(table.split(".", 1)[1]) if table.startswith("features.") else None
    return set().union(*(_feeding(settings, t) for t in group.tables)) if group is not None else set()
