"""A test kit for a project's feature groups, installed with featurelake.

``run_group`` runs a group through the engine's real contract (``featurelake.featurestore.materialize``):
the function called with the frames a test gives, bound to its parameters, then held to the declaration —
the rows of the run dates asked for, the keys, event time, ``_available_at`` and every declared feature cast
to its type. A group that returns a column it does not declare, misses one, or returns a type that cannot be
cast safely fails here exactly as it would in ``featurelake features``. ``assert_rows`` compares with
chispa, whose failures show the differing rows side by side. ``frame_of(spark, rows, schema)`` makes a frame of
hand-written rows with exactly that schema, handed to Spark as one Arrow batch (``spark.createDataFrame`` on a
list sends the rows through a Python worker: several times slower, on every call).

The pytest plugin (``featurelake.testing.plugin``, registered under pytest11) gives every project's tests the
fixtures ``spark`` (one local[2] session with Delta, UTC, ANSI), ``make_settings``/``settings`` (the
project's conf on a fresh lake under a temporary directory) and ``deliver`` (a file in the landing zone).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyspark.sql import DataFrame

from featurelake.core.dates import DateRange
from featurelake.core.errors import ConfigError
from featurelake.core.frames import local_frame as frame_of
from featurelake.core.settings import Settings
from featurelake.featurestore.api import FeatureGroup
from featurelake.featurestore.materialize import compute, input_window

__all__ = ["assert_rows", "deliver", "frame_of", "input_window", "run_group"]


def run_group(group: FeatureGroup, run_dates: DateRange, **frames: DataFrame) -> DataFrame:
    """The rows ``featurelake features`` would write for these run dates (before the gate), from the frames
    given by the group's parameter names (``flights=...``) or by the tables they are bound to.

    The engine gives a daily input the run dates and the look-back before them (``input_window``) and a
    snapshot input whole; give the frames accordingly."""
    by_table = {table: parameter for parameter, table in group.inputs.items()}
    bound = {by_table.get(name, name): frame for name, frame in frames.items()}
    unknown = sorted(set(bound) - set(group.inputs))
    if unknown:
        raise ConfigError(
            f"Feature group {group.name} has no input {unknown[0]}; its inputs are "
            f"{', '.join(f'{p} ({t})' for p, t in group.inputs.items()) or 'none'}."
        )
    missing = sorted(set(group.inputs) - set(bound))
    if missing:
        raise ConfigError(f"Feature group {group.name} needs its input {missing[0]} ({group.inputs[missing[0]]}).")
    return compute(group, bound, run_dates)


def assert_rows(actual: DataFrame, expected: list[dict], columns: list[str] | None = None) -> None:
    """The frame holds exactly these rows (as dicts of column -> value), in any order, compared on ``columns``
    (default: the keys of the expected rows); a failure shows both sides with chispa."""
    from chispa import assert_df_equality

    names = columns or list(dict.fromkeys(k for row in expected for k in row))
    chosen = actual.select(*names)
    wanted = frame_of(actual.sparkSession, [tuple(row.get(n) for n in names) for row in expected], chosen.schema)
    assert_df_equality(chosen, wanted, ignore_row_order=True, ignore_nullable=True, underline_cells=True)


def deliver(settings: Settings, source: str, day: str | dt.date, text: str, name: str | None = None) -> Path:
    """Write one hand-made file into the landing zone, as a source system would deliver it: in the folder of
    its run date (a period's first day), named ``name`` or <source>_<run date>.<csv|jsonl>."""
    day = str(day)
    suffix = "jsonl" if settings.source(source).format == "jsonl" else "csv"
    target = Path(settings.landing_path(source)) / day / (name or f"{source}_{day}.{suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
