"""Declaring feature groups: an entity, typed features, the inputs bound to the function's parameters.

A feature group is a pure function of its input tables, declared once with everything the engine needs::

    from featurelake import DateRange, Entity, Feature, feature_group

    carrier = Entity("carrier", join_keys={"carrier": "string"}, description="an airline")

    @feature_group(
        entity=carrier,
        inputs={"flights": "silver.flights"},
        event_time="day_ends_at",
        availability_lag=dt.timedelta(hours=6),
        ttl=dt.timedelta(days=7),
        lookback="27 days",
        features=[Feature("carrier_delayed_share_7d", "double", "share of arrivals more than 15 minutes late")],
    )
    def carrier_performance(flights: DataFrame, run_dates: DateRange) -> DataFrame:
        ...

- ``entity``: what the values describe; its join keys (with their types) are the group's keys;
- ``inputs``: each parameter of the function bound to a table by its logical name; ``run_dates`` (the run
  dates being materialized) is passed too when the function takes it;
- ``event_time``: the column saying when the values are true in the world;
- when the values could first be known: a ``created_time`` column, or an ``availability_lag`` after the
  event time (a day's statistics are known only once the day is over);
- ``keep_versions``: a row recomputed with a later ``created_time`` (a correction that arrived later) is added as
  a version beside the one known before, instead of replacing it: an event before the correction is joined with
  the value known then (needs ``created_time``; a recomputation with the same ``created_time`` replaces);
- ``ttl``: how old a row may be and still be used (unset: any age);
- ``lookback``: how far before the first run date the function reads its inputs: "27 days" for a 28-day
  rate, "2 periods" for a three-period rate whatever the cadence, "11 months", "3 hours" (the days holding
  them: for an hourly source, the day before); a bare number counts periods;
- ``features``: each feature with its Spark type and a description.

Everything is checked when the module is imported, before any data is read: the parameters against the
inputs, the names, the types. The engine discovers every group of the project's ``features`` package
(conf may switch one off or point at another definition), casts what the function returns to the declared
types, and refuses a column whose type cannot be cast safely, naming the group and the column.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal, get_args

from pyspark.sql import Column
from pyspark.sql import functions as F

from featurelake.core.errors import ConfigError
from featurelake.core.periods import TimeWindow

FeatureType = Literal["string", "int", "bigint", "double", "boolean", "date", "timestamp"]
FEATURE_TYPES = get_args(FeatureType)
RUN_DATES_PARAMETER = "run_dates"
AVAILABLE_AT = "_available_at"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_TABLE = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


def _check_type(owner: str, column: str, type_name: str) -> None:
    if type_name not in FEATURE_TYPES:
        raise ConfigError(f"{owner} declares {column} as {type_name!r}; use one of {', '.join(FEATURE_TYPES)}.")


@dataclass(frozen=True)
class Entity:
    """What feature values describe (a carrier, an airport, a route), by the columns that identify it."""

    name: str
    join_keys: Mapping[str, FeatureType]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.join_keys:
            raise ConfigError(f"Entity {self.name} needs at least one join key, e.g. join_keys={{'id': 'string'}}.")
        for key, type_name in self.join_keys.items():
            _check_type(f"Entity {self.name}", key, type_name)


@dataclass(frozen=True)
class Feature:
    """One feature column: its name, Spark type and what it means."""

    name: str
    type: FeatureType
    description: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"Feature {self.name!r} is not a plain column name (lower case, digits, underscores).")
        _check_type(f"Feature {self.name}", self.name, self.type)


@dataclass(frozen=True)
class FeatureGroup:
    """A declared feature group (see the module text); build one with ``@feature_group``."""

    featurelake_feature_group: ClassVar[bool] = True  # how discovery (featurelake.core.project_code) knows one

    name: str
    function: Callable
    entity: Entity
    features: tuple[Feature, ...]
    event_time: str
    inputs: Mapping[str, str] = field(default_factory=dict)  # parameter -> table
    created_time: str | None = None
    availability_lag: dt.timedelta = dt.timedelta(0)
    ttl: dt.timedelta | None = None
    lookback: TimeWindow = TimeWindow(0)
    description: str = ""
    module: str = ""
    keep_versions: bool = False

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.entity.join_keys)

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables the group reads, by logical name."""
        return tuple(self.inputs.values())

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def feature_types(self) -> dict[str, str]:
        return {f.name: f.type for f in self.features}

    @property
    def descriptions(self) -> dict[str, str]:
        return {f.name: f.description for f in self.features}

    @property
    def columns(self) -> list[str]:
        """What its table holds besides the run date and run id, in order."""
        return [*self.keys, self.event_time, AVAILABLE_AT, *self.feature_names]

    def available_at(self) -> Column:
        """When each row could first be known: its created time, or its event time plus the lag."""
        known = F.col(self.created_time) if self.created_time else F.col(self.event_time)
        if not self.availability_lag:
            return known
        return known + F.make_dt_interval(secs=F.lit(self.availability_lag.total_seconds()))

    def call(self, frames: Mapping[str, object], run_dates) -> object:
        """Call the function with each input bound to its parameter (and the run dates, if it takes them)."""
        arguments = {parameter: frames[parameter] for parameter in self.inputs}
        if RUN_DATES_PARAMETER in inspect.signature(self.function).parameters:
            arguments[RUN_DATES_PARAMETER] = run_dates
        return self.function(**arguments)


def feature_group(
    *,
    entity: Entity,
    features: list[Feature],
    event_time: str,
    inputs: Mapping[str, str] | None = None,
    created_time: str | None = None,
    availability_lag: dt.timedelta = dt.timedelta(0),
    ttl: dt.timedelta | None = None,
    lookback: str | int = 0,
    name: str | None = None,
    keep_versions: bool = False,
):
    """Declare a function as a feature group (named after the function unless ``name`` says otherwise)."""

    def declare(function: Callable) -> FeatureGroup:
        try:
            window = TimeWindow.parse(lookback)
        except ValueError as exc:
            raise ConfigError(
                f"Feature group {name or function.__name__} ({function.__module__}): lookback {exc}."
            ) from None
        group = FeatureGroup(
            name=name or function.__name__,
            function=function,
            entity=entity,
            features=tuple(features),
            event_time=event_time,
            inputs=dict(inputs or {}),
            created_time=created_time,
            availability_lag=availability_lag,
            ttl=ttl,
            lookback=window,
            description=(function.__doc__ or "").strip().split("\n\n")[0],
            module=function.__module__,
            keep_versions=keep_versions,
        )
        _check_declaration(group)
        return group

    return declare


def _check_declaration(group: FeatureGroup) -> None:
    where = f"Feature group {group.name} ({group.module})"
    if not _NAME.match(group.name):
        raise ConfigError(f"{where}: its name is not a plain lower-case name; rename it or pass name=.")
    parameters = inspect.signature(group.function).parameters
    unbound = [p for p in parameters if p not in group.inputs and p != RUN_DATES_PARAMETER]
    if unbound:
        raise ConfigError(
            f"{where}: parameter {unbound[0]} is bound to no input; add it to inputs={{'{unbound[0]}': "
            "'<layer>.<table>'}} or remove it (the function may also take run_dates)."
        )
    for parameter, table in group.inputs.items():
        if parameter not in parameters:
            raise ConfigError(f"{where}: input {parameter} ({table}) is no parameter of {group.function.__name__}.")
        if not _TABLE.match(str(table)):
            raise ConfigError(f"{where}: input {parameter} names {table!r}, which is not a table like silver.flights.")
    names = [*group.keys, group.event_time, *group.feature_names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where} declares {repeated[0]} twice (keys, event time and features must differ).")
    if group.keep_versions and group.created_time is None:
        raise ConfigError(
            f"{where}: keep_versions keeps a row's versions by when each was known; declare that column as "
            "created_time (for a source whose folders are arrival days: a refine arrival_time)."
        )
    if group.ttl is not None and group.ttl <= dt.timedelta(0):
        raise ConfigError(f"{where}: ttl must be positive (or None for any age).")
