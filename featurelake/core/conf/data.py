"""The schema of conf for data: the lake, Spark, sources, tables, their gates and the quality checks."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from featurelake.core.periods import Grain, TimeWindow

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
# Settings that would lose rows or versions without a word: skipping damaged or missing files on read, and
# VACUUM below Delta's retention (which removes files that manifests and registered models still read).
SILENT_LOSS_SETTINGS = {
    "spark.sql.files.ignorecorruptfiles": ("true", "skips damaged files on read, losing their rows without a word"),
    "spark.sql.files.ignoremissingfiles": ("true", "skips missing files on read, losing their rows without a word"),
    "spark.databricks.delta.retentiondurationcheck.enabled": (
        "false",
        "lets VACUUM remove files that recorded manifests and registered models still read",
    ),
}
SILENT_LOSS_OPTIONS = {"ignorecorruptfiles", "ignoremissingfiles"}


# Code the configuration may name: an attribute of a module of the project's features package (``features.package``,
# checked at load: featurelake.core.project_code), e.g. features.labels:is_delayed.
DEFINITION = r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)+:[A-Za-z_][A-Za-z0-9_]*$"
TABLE_NAME = r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$"


Identifier = Annotated[str, Field(pattern=IDENTIFIER)]


Definition = Annotated[str, Field(pattern=DEFINITION)]


TableName = Annotated[str, Field(pattern=TABLE_NAME)]


def _window(value: Any) -> TimeWindow:
    return TimeWindow.parse(value)


# A length of time in conf: "3 periods" (of the table it applies to), "12 months", "90 days"; a bare number
# counts periods.
Window = Annotated[TimeWindow, BeforeValidator(_window), PlainSerializer(str, return_type=str)]


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
    # Maven coordinates a local session resolves beside Delta's, e.g. org.apache.hadoop:hadoop-aws:<Spark's Hadoop>
    # for an s3a:// lake (spark-submit takes them as --packages instead).
    packages: list[str] = Field(default_factory=list)
    settings: dict[str, str] = Field(default_factory=dict)

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


def _known_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value} is not an IANA time zone name such as America/New_York") from None
    return value


TimeZone = Annotated[str, AfterValidator(_known_timezone)]


DATE_PARTS = ("year", "month", "week", "day", "date", "timestamp")
# The ways a row may be dated, by the parts given, and the shape each is known by.
DATE_SHAPES = {
    ("year", "month", "day"): "day",
    ("year", "month"): "month",
    ("year", "week"): "week",
    ("date",): "date",
    ("timestamp",): "timestamp",
}
# Which shapes can tell the period of each cadence: a month's rows cannot be placed in a week.
CADENCE_SHAPES = {
    "hourly": ("timestamp",),
    "daily": ("day", "date", "timestamp"),
    "weekly": ("week", "day", "date", "timestamp"),
    "monthly": ("month", "day", "date", "timestamp"),
    "quarterly": ("month", "day", "date", "timestamp"),
}
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


class DateColumns(Strict):
    """The columns that date a row, so that it can be checked against the period of its delivery: (year, month,
    day), (year, month), ISO (year, week), a DATE column, or a TIMESTAMP column read in a time zone."""

    year: Identifier | None = None
    month: Identifier | None = None
    week: Identifier | None = None
    day: Identifier | None = None
    date: Identifier | None = None
    timestamp: Identifier | None = None
    timezone: TimeZone | None = None  # the local calendar a timestamp's day and hour are read in (default UTC)

    @model_validator(mode="after")
    def _one_way_to_date(self) -> DateColumns:
        given = tuple(p for p in DATE_PARTS if getattr(self, p) is not None)
        if given not in DATE_SHAPES:
            raise ValueError(
                f"date_columns gives {', '.join(given) or 'nothing'}; give one of: year, month, day | year, month | "
                "year, week | date | timestamp"
            )
        if self.timezone is not None and self.timestamp is None:
            raise ValueError("date_columns.timezone applies to a timestamp column only")
        return self

    @property
    def columns(self) -> dict[str, str]:
        """Each given part and the column it names."""
        return {p: getattr(self, p) for p in DATE_PARTS if getattr(self, p) is not None}

    @property
    def unit(self) -> str:
        """The finest period these columns can date: a day, a week or a month (a timestamp: an hour)."""
        return {"month": "month", "week": "week", "timestamp": "hour"}.get(DATE_SHAPES[tuple(self.columns)], "day")


class Evolution(Strict):
    """Source columns whose change is accepted instead of stopping the ingest."""

    new: list[Identifier] = Field(default_factory=list)
    missing: list[Identifier] = Field(default_factory=list)
    retyped: list[Identifier] = Field(default_factory=list)


class SourceConf(Strict):
    format: Literal["csv", "jsonl"]
    # How often the source delivers: each delivery holds one period, and its folder is named by the period's
    # first day (featurelake.core.periods); a snapshot delivers the whole current state instead.
    cadence: Literal["hourly", "daily", "weekly", "monthly", "quarterly", "snapshot"]
    week_starts: Weekday = "monday"  # the first day of a weekly source's week
    table: TableName
    files: str = "*"
    landing_dir: str | None = None
    columns: dict[Identifier, SparkTypeName]
    date_columns: DateColumns | None = None
    allow_evolution: Evolution = Field(default_factory=Evolution)
    # Periods (by their run date, the first day) for which the source is known to deliver nothing: a real
    # gap, not a failed delivery.
    known_gaps: list[dt.date] = Field(default_factory=list)
    options: dict[str, str] = Field(default_factory=dict)
    # Where a delivery lands: "period" (the default), the folder of its period's first day; "arrival", the folder
    # of the day it arrived (a report of May delivered on 15 June lands in 2009-06-15), each row's period taken
    # from its date columns. ``arrives_within``: how long after its period's last day a delivery of it may still
    # arrive ("2 months", "10 days"); a row arriving later, or before its period began, is quarantined.
    folders: Literal["period", "arrival"] = "period"
    arrives_within: Window | None = None

    @field_validator("files")
    @classmethod
    def _a_name_pattern(cls, files: str) -> str:
        if "/" in files or "\\" in files or files.startswith(".."):
            raise ValueError(f"files is {files!r}; it is a file-name pattern inside a delivery folder, like *.csv")
        return files

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
            if key.lower() in SILENT_LOSS_OPTIONS and str(options[key]).strip().lower() == "true":
                raise ValueError(f"option {key} skips files on read, losing their rows without a word; remove it")
        return options

    @model_validator(mode="after")
    def _check_columns(self) -> SourceConf:
        if self.cadence == "snapshot":
            if self.date_columns is not None:
                raise ValueError("a snapshot holds the whole current state, not a period's rows; remove date_columns")
        elif self.date_columns is None:
            raise ValueError(
                f"a {self.cadence} source needs date_columns to check its rows against their period: "
                f"{' | '.join(_SHAPE_WORDS[s] for s in CADENCE_SHAPES[self.cadence])}"
            )
        else:
            shape = DATE_SHAPES[tuple(self.date_columns.columns)]
            if shape not in CADENCE_SHAPES[self.cadence]:
                raise ValueError(
                    f"date_columns {_SHAPE_WORDS[shape]} cannot place a row in a {self.cadence} period; give "
                    f"{' | '.join(_SHAPE_WORDS[s] for s in CADENCE_SHAPES[self.cadence])}"
                )
            if shape == "week" and self.week_starts != "monday":
                raise ValueError(
                    f"date_columns (year, week) are ISO weeks, which start on Monday, but week_starts is "
                    f"{self.week_starts}; date the rows by day or date instead"
                )
            for part, column in self.date_columns.columns.items():
                if column not in self.columns:
                    raise ValueError(f"date_columns.{part} names {column}, which is not in columns")
                wanted = {"date": ("date",), "timestamp": ("timestamp",)}.get(part, ("int", "bigint"))
                if self.columns[column] not in wanted:
                    raise ValueError(
                        f"date_columns.{part} names {column}, declared {self.columns[column]}; it must be "
                        f"{' or '.join(wanted)}"
                    )
        grain = Grain.of(self.cadence, self.week_starts)
        for gap in self.known_gaps:
            if self.cadence != "snapshot" and not grain.is_start(gap):
                raise ValueError(
                    f"known_gaps lists {gap}, which is not the first day of a {grain.noun}; a {self.cadence} "
                    f"period is named by its first day: {grain.start(gap)}"
                )
        if self.week_starts != "monday" and self.cadence != "weekly":
            raise ValueError(f"week_starts applies to a weekly source only, and this one is {self.cadence}")
        if self.folders == "arrival" and self.cadence == "snapshot":
            raise ValueError("folders: arrival dates rows by their date_columns, and a snapshot has none; remove it")
        if self.folders == "arrival" and self.arrives_within is None:
            raise ValueError(
                "folders: arrival needs arrives_within, how long after its period a delivery may arrive "
                "(e.g. '2 months', '10 days'): it bounds the folders an ingest of a period reads"
            )
        if self.folders == "period" and self.arrives_within is not None:
            raise ValueError("arrives_within applies to folders: arrival only; remove it, or set folders: arrival")
        for change in ("missing", "retyped"):
            for column in getattr(self.allow_evolution, change):
                if column not in self.columns:
                    raise ValueError(f"allow_evolution.{change} names {column}, which is not in columns")
        return self


_SHAPE_WORDS = {
    "day": "(year, month, day)",
    "month": "(year, month)",
    "week": "(year, week)",
    "date": "a date column",
    "timestamp": "a timestamp column",
}


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
    when there is one; or year and ISO week), in a time zone, at the start or the end of that period (local
    midnight), shifted by an offset, e.g. a monthly report delivered on the 15th of the next month: at start,
    offset months 1, days 14."""

    date: Identifier | None = None
    year: Identifier | None = None
    month: Identifier | None = None
    week: Identifier | None = None
    day: Identifier | None = None
    timezone: TimeZone
    at: Literal["start", "end"] = "start"
    offset: Offset = Field(default_factory=Offset)

    @model_validator(mode="after")
    def _one_way_to_date(self) -> PeriodTime:
        given = tuple(p for p in ("date", "year", "month", "week", "day") if getattr(self, p) is not None)
        if given not in (("date",), ("year", "month"), ("year", "month", "day"), ("year", "week")):
            raise ValueError(
                f"period_time gives {', '.join(given) or 'nothing'}; give date, or year and month (and day when "
                "the rows have one), or year and (ISO) week"
            )
        return self

    def inputs(self) -> list[str]:
        return [c for c in (self.date, self.year, self.month, self.week, self.day) if c is not None]


class LocalTime(Strict):
    """A local date and time without a UTC offset (a string such as ``2014-10-26 02:30`` or a TIMESTAMP_NTZ
    column) in a time zone, as a UTC timestamp. The hour the clocks go back happens twice: ``ambiguous`` says
    which to take (``earlier``: the first, still on summer time; ``later``: the second) or ``refuse`` (null: a
    key of it sends the row to quarantine). A time in the hour the clocks skip does not exist: always null."""

    column: Identifier
    timezone: TimeZone
    ambiguous: Literal["earlier", "later", "refuse"] = "refuse"


class ArrivalTime(Strict):
    """When a row's delivery arrived, for a source whose folders are named by arrival days (``folders: arrival``):
    local midnight at the ``end`` of the day its folder names (the default: a row delivered some time that day is
    surely known by then) or at its ``start``, in a time zone, as a UTC timestamp. A feature group that declares
    it as ``created_time`` with ``keep_versions`` knows a correction from the day it arrived."""

    timezone: TimeZone
    at: Literal["start", "end"] = "end"


class AddMinutes(Strict):
    """A timestamp column plus a number of minutes from another column."""

    timestamp: Identifier
    minutes: Identifier


DERIVATIONS = ("local_clock", "local_time", "add_minutes", "period_time", "arrival_time")


class Derivation(Strict):
    name: Identifier
    local_clock: LocalClock | None = None
    local_time: LocalTime | None = None
    add_minutes: AddMinutes | None = None
    period_time: PeriodTime | None = None
    arrival_time: ArrivalTime | None = None

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Derivation:
        kinds = [k for k in DERIVATIONS if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(f"derived column {self.name} needs exactly one of {', '.join(DERIVATIONS)}")
        return self

    def inputs(self) -> list[str]:
        if self.arrival_time is not None:
            return []  # the folder of the row's file (its lineage)
        if self.period_time is not None:
            return self.period_time.inputs()
        if self.local_time is not None:
            return [self.local_time.column]
        spec = self.local_clock or self.add_minutes
        fields = ("year", "month", "day", "hhmm") if self.local_clock else ("timestamp", "minutes")
        return [getattr(spec, f) for f in fields]


class RefineConf(Strict):
    """Bronze -> silver. A period source's table is refined one slice per period; a snapshot source's is merged
    on its keys, the latest delivery of each key winning (the kind follows the source's cadence)."""

    source: TableName
    derive: list[Derivation] = Field(default_factory=list)
