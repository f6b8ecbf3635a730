"""What a validation found: one Outcome per expectation (a row of quality.results), and a gate's report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DAILY_METRIC = "featurelake.daily_metric"  # quality.results rows that anomaly checks read
ANOMALY = "featurelake.anomaly"


@dataclass
class Outcome:
    """One expectation's result in one validation: a row of quality.results."""

    expectation: str
    expectation_type: str
    kwargs: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    unexpected_percent: float | None
    element_count: int | None
    run_date: Any = None


@dataclass
class GateReport:
    table: str
    policy: str
    outcomes: list[Outcome] = field(default_factory=list)
    quarantined: int = 0
    candidates: int = 0
    # what quality.results records once the judged rows are committed (featurelake.quality.gate.record_committed)
    suite: str = ""
    run_dates: Any = None
    run_id: str = ""
    daily: dict = field(default_factory=dict)  # {period: {metric: value}}

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.success]

    @property
    def anomalies(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.expectation_type == ANOMALY]

    @property
    def expectations_failed(self) -> list[Outcome]:
        return [o for o in self.failed if o.expectation_type != ANOMALY]

    def line(self) -> str:
        """One line: the counts, and the worst anomaly (the rest are in quality.results and the Data Docs)."""
        checked = len(self.outcomes) - len(self.anomalies)
        worst = self.anomalies[0] if self.anomalies else None
        return (
            f"gate {self.table} ({self.policy}): {checked - len(self.expectations_failed)} passed, "
            f"{len(self.expectations_failed)} failed, {len(self.anomalies)} anomalies"
            + (f" (worst on {worst.run_date}: {worst.expectation} = {worst.observed_value})" if worst else "")
            + f", {self.quarantined} rows quarantined"
        )
