"""The schema of conf for tables: where each lives, its keys, partitioning and constraints, how it is refined, and
how its Great Expectations suite gates it (with the quality settings every gate shares)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from featurelake.core.conf.data import Identifier, RefineConf, Strict, TableName, Window
from featurelake.core.periods import TimeWindow


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
    keys: list[Identifier] = Field(default_factory=list)  # NOT NULL in the Delta table, from its first write on
    partition_by: list[Identifier] = Field(default_factory=list)
    refine: RefineConf | None = None
    gate: GateConf | None = None
    # Delta CHECK constraints, by name: a boolean expression over the table's columns (e.g. "distance > 0") that
    # every row of every write must satisfy, or the write is refused whole; set when the table is created.
    checks: dict[Identifier, Annotated[str, Field(min_length=1, max_length=1000)]] = Field(default_factory=dict)


class AnomalyConf(Strict):
    """A period's row count or null fraction further than max_sigma standard deviations from its trailing
    window (with at least min_history earlier periods in it) is flagged — and further than the floors too, so
    a history that barely varies does not make a one-row change an anomaly of infinite sigma. The window
    counts periods of each table's own cadence by default, so monthly data has its anomalies too."""

    window: Window = TimeWindow(28)
    max_sigma: float = Field(default=4.0, gt=0)
    min_history: int = Field(default=7, ge=2)  # earlier periods with values
    # A deviation is anomalous only beyond this share of the trailing mean, and beyond this absolute amount.
    min_relative_deviation: float = Field(default=0.1, ge=0)
    min_absolute_deviation: float = Field(default=0.0, ge=0)


class QualityConf(Strict):
    expectations_dir: str = "expectations"  # relative to the project directory (the parent of conf/)
    results_table: TableName = "quality.results"
    anomaly: AnomalyConf = Field(default_factory=AnomalyConf)
