"""Row accounting: every stage returns where each row it read went, and the numbers must add up."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from featurelake.core.errors import FeaturelakeError
from featurelake.core.text import text_table


@dataclass
class StageSummary:
    stage: str
    table: str
    run_dates: str
    rows_in: int
    published: int
    quarantined: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    delta_version: int | None = None
    seconds: float = 0.0
    detail: str = ""
    gate: Any = None  # the GateReport of the table's quality gate, when it has one
    report: str = ""  # more to show after the summary table (a training set's statistics)
    # A verdict for whoever runs the pipeline (a monitor's), printed after the summary table by `featurelake run`;
    # ``alarm`` when it asks for action (a retrain recommended), which `run --fail-on-retrain` exits 3 on.
    verdict: str = ""
    alarm: bool = False

    def check_balance(self) -> None:
        """Rows read = published + quarantined + rejected; anything else means a row was lost."""
        accounted = self.published + self.quarantined + sum(self.rejected.values())
        if accounted != self.rows_in:
            raise FeaturelakeError(
                f"{self.stage} of {self.table} for {self.run_dates} read {self.rows_in} rows but accounted for "
                f"{accounted} (published {self.published}, quarantined {self.quarantined}, rejected "
                f"{sum(self.rejected.values())}); nothing more was written, please report this as a bug."
            )

    def line(self) -> str:
        rejected = ", ".join(f"{n} {reason}" for reason, n in self.rejected.items() if n) or "0"
        return (
            f"{self.stage} {self.table} [{self.run_dates}]: read {self.rows_in}, published {self.published}, "
            f"quarantined {self.quarantined}, rejected {rejected}, Delta version {self.delta_version}, "
            f"{self.seconds:.1f}s{'; ' + self.detail if self.detail else ''}"
            f"{'; ' + self.gate.line() if self.gate else ''}"
        )


@contextlib.contextmanager
def accounted(stage: str, table: str, run_dates: object) -> Iterator[StageSummary]:
    """The summary of one stage's work, filled in as it goes: timed from here, and its rows checked to add up
    (``check_balance``) once the block ends without an error."""
    summary = StageSummary(stage=stage, table=table, run_dates=str(run_dates), rows_in=0, published=0)
    started = time.monotonic()
    yield summary
    summary.seconds = time.monotonic() - started
    summary.check_balance()


def _expectations_cell(report) -> str:
    if report is None:
        return "no suite"
    failed, anomalies = len(report.expectations_failed), len(report.anomalies)
    cell = f"{len(report.outcomes) - anomalies - failed} ok, {failed} failed"
    return f"{cell}, {anomalies} anomalies" if anomalies else cell


def render_table(summaries: list[StageSummary]) -> str:
    headers = [
        "stage",
        "table",
        "run dates",
        "rows in",
        "published",
        "quarantined",
        "rejected",
        "expectations",
        "version",
        "seconds",
    ]
    rows = [
        [
            s.stage,
            s.table,
            s.run_dates,
            f"{s.rows_in:,}",
            f"{s.published:,}",
            f"{s.quarantined:,}",
            f"{sum(s.rejected.values()):,}",
            _expectations_cell(s.gate),
            "" if s.delta_version is None else str(s.delta_version),
            f"{s.seconds:.1f}",
        ]
        for s in summaries
    ]
    lines = [text_table(headers, rows, numeric={3, 4, 5, 6, 8, 9}, rule=True)]
    reasons = [f"  {s.table}: {n:,} {reason}" for s in summaries for reason, n in s.rejected.items() if n]
    if reasons:
        lines += ["rejected rows by reason:", *reasons]
    return "\n".join(lines)
