"""Table handles: a table of the lake resolved once from conf, and the names and paths the lake derives.

A logical name (``silver.flights``) is resolved against the settings once per catalog (``Catalog.table``): its
path confined to the lake root, its cadence and the grain of its run dates, the run dates its source declares
empty, its keys, partitioning and gate, and the quarantine table beside it. Every step of a run then reads the
same frozen ``Table``. Tables the engine writes for a model or a training set have names and paths derived from
theirs, by the rules below and nowhere else: ``predictions.<model>``, ``monitoring.<model>``, a registered
version's folder ``models/<model>/v<version>`` (model card, drift reports) and a training set's
``<layer>/_manifests/<name>`` folder.

Example::

    table = catalog.table("silver.flights")
    table.path, table.grain.noun, table.keys      # 'lake/silver/flights', 'day', ('year', 'month', ...)
    catalog.predictions_table("flight_delay")     # 'predictions.flight_delay'
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from featurelake.core.columns import RUN_DATE
from featurelake.core.conf.tables import GateConf, TableConf
from featurelake.core.periods import Grain
from featurelake.core.settings import Settings, confine, quarantine_table


@dataclass(frozen=True)
class Table:
    """A table as conf describes it, resolved once (an engine table conf does not declare, such as the run
    ledger or a quarantine table, takes the defaults of ``TableConf``)."""

    name: str
    path: str  # confined to the lake root
    declared: bool  # named in tables.yaml, or implied by a feature group
    cadence: str  # hourly, daily, weekly, monthly, quarterly or snapshot: how often it receives a period
    grain: Grain  # the periods of its run dates
    gaps: frozenset[dt.date]  # run dates its source declares it delivers nothing for
    keys: tuple[str, ...]
    not_null: tuple[str, ...]  # NOT NULL in its Delta schema: its keys, a feature table's join keys
    checks: dict[str, str]  # its CHECK constraints by name
    partition_by: tuple[str, ...]
    gate: GateConf | None
    quarantine: str  # the table that holds the rows it refused

    @classmethod
    def resolve(cls, settings: Settings, name: str) -> Table:
        declared = name in settings.tables
        conf = settings.tables[name] if declared else TableConf()
        return cls(
            name=name,
            path=settings.table_path(name),
            declared=declared,
            cadence=settings.cadence(name),
            grain=settings.grain(name),
            gaps=frozenset(settings.known_gaps(name)),
            keys=tuple(conf.keys),
            not_null=tuple(settings.not_null_columns(name)),
            checks=dict(conf.checks),
            partition_by=tuple(conf.partition_by) if declared else (RUN_DATE,),
            gate=conf.gate,
            quarantine=quarantine_table(name),
        )


def predictions_table(model: str) -> str:
    """The table a model's scoring writes."""
    return f"predictions.{model}"


def monitoring_table(model: str) -> str:
    """The table a model's monitoring writes."""
    return f"monitoring.{model}"


def model_dir(settings: Settings, model: str, version: int) -> str:
    """The folder of a registered model version's files in the lake (its card, its drift reports)."""
    return confine(settings.lake_root, f"models/{model}/v{version}", f"models.{model}")


def manifest_dir(settings: Settings, table: str) -> str:
    """The folder of a training-set table's manifests (``v<version>.json``) and statistics."""
    layer, short = table.split(".", 1)
    return confine(settings.lake_root, f"{layer}/_manifests/{short}", f"tables.{table}")
