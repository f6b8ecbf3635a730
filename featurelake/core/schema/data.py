"""The schema of conf for data: the lake, Spark, sources, tables, their gates and the quality checks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

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


def _known_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value} is not an IANA time zone name such as America/New_York") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_timezone)]


class LocalClock(Strict):
    """A local wall-clock time given as date parts and an HHMM integer, converted to a UTC timestamp."""

    year: Identifier
    month: Identifier
    day: Identifier
    hhmm: Identifier
    timezone: TimeZone


class Offset(Strict):
    """A shift in local calendar time: months, then days, then hours."""

    months: int = Field(default=0, ge=-1200, le=1200)
    days: int = Field(default=0, ge=-36600, le=36600)
    hours: int = Field(default=0, ge=-8784, le=8784)


class PeriodTime(Strict):
    """A UTC timestamp from what a row has to date it: a DATE column, or date parts (year and month, and a day
    when there is one), in a time zone, at the start or the end of that period (local midnight), shifted by an
    offset, e.g. a monthly report delivered on the 15th of the next month: at start, offset months 1, days 14."""

    date: Identifier | None = None
    year: Identifier | None = None
    month: Identifier | None = None
    day: Identifier | None = None
    timezone: TimeZone
    at: Literal["start", "end"] = "start"
    offset: Offset = Field(default_factory=Offset)

    @model_validator(mode="after")
    def _one_way_to_date(self) -> PeriodTime:
        if (self.date is None) == (self.year is None or self.month is None):
            raise ValueError("period_time needs either date, or year and month (and day when the rows have one)")
        if self.date is not None and (self.year or self.month or self.day):
            raise ValueError("period_time takes a date or date parts, not both")
        return self

    def inputs(self) -> list[str]:
        return [c for c in (self.date, self.year, self.month, self.day) if c is not None]


class AddMinutes(Strict):
    """A timestamp column plus a number of minutes from another column."""

    timestamp: Identifier
    minutes: Identifier


class Derivation(Strict):
    name: Identifier
    local_clock: LocalClock | None = None
    add_minutes: AddMinutes | None = None
    period_time: PeriodTime | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Derivation:
        kinds = [k for k in ("local_clock", "add_minutes", "period_time") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"derived column {self.name} needs exactly one of local_clock, add_minutes, period_time")
        return self

    def inputs(self) -> list[str]:
        if self.period_time is not None:
            return self.period_time.inputs()
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
    window_days (with at least min_history days of history) is flagged — and further than the floors too, so
    a history that barely varies does not make a one-row change an anomaly of infinite sigma."""

    window_days: int = Field(default=28, ge=2)
    max_sigma: float = Field(default=4.0, gt=0)
    min_history: int = Field(default=7, ge=2)
    # A deviation is anomalous only beyond this share of the trailing mean, and beyond this absolute amount.
    min_relative_deviation: float = Field(default=0.1, ge=0)
    min_absolute_deviation: float = Field(default=0.0, ge=0)


class QualityConf(Strict):
    expectations_dir: str = "expectations"  # relative to the project directory (the parent of conf/)
    results_table: TableName = "quality.results"
    anomaly: AnomalyConf = Field(default_factory=AnomalyConf)
