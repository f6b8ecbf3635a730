"""The run ledger: one row per pipeline step finished for a run date, with the Delta versions it wrote.

Rows are only ever appended (blind appends never conflict with each other); the latest row of a step and
run date is the one that counts. `featurelake run` reads the rows of its range once, to know what is
finished, and appends as each step finishes.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurelake.core.dates import DateRange, utc_from_micros
from featurelake.core.summary import StageSummary
from featurelake.lake.catalog import Catalog

LEDGER_SCHEMA = T.StructType(
    [
        T.StructField("stage", T.StringType(), False),
        T.StructField("target", T.StringType(), False),
        T.StructField("run_date", T.DateType(), False),
        T.StructField("run_id", T.StringType(), False),
        # The run dates the step's commits covered together (a batch), and what they wrote.
        T.StructField("run_dates", T.StringType(), False),
        T.StructField("outputs", T.MapType(T.StringType(), T.LongType()), False),
        T.StructField("rows_in", T.LongType(), False),
        T.StructField("published", T.LongType(), False),
        T.StructField("seconds", T.DoubleType(), False),
        T.StructField("finished_at", T.TimestampType(), False),
        # What the step read, where it can tell (an ingest: its delivery's files); null otherwise.
        T.StructField("inputs", T.StringType(), True),
    ]
)


@dataclass(frozen=True)
class Finished:
    run_id: str
    finished_at: dt.datetime  # naive UTC
    fingerprint: str | None = None  # what it read (see ``fingerprint``); the ledger's inputs column


StepDate = tuple[str, str, dt.date]  # (stage, target, run date)


def fingerprint(versions: dict[str, str]) -> str:
    """What a step read, as the ledger keeps it: each input by name with its version (a file: size, mtime)."""
    return json.dumps(dict(sorted(versions.items())), separators=(",", ":"))


def changes(recorded: str, current: str) -> str:
    """How two fingerprints differ, in words: which inputs were replaced, added or removed."""
    before, after = json.loads(recorded), json.loads(current)
    words = [f"{n} replaced" for n in sorted(before.keys() & after.keys()) if before[n] != after[n]]
    words += [f"{n} added" for n in sorted(after.keys() - before.keys())]
    words += [f"{n} removed" for n in sorted(before.keys() - after.keys())]
    return ", ".join(words)


def finished_steps(catalog: Catalog, dates: DateRange) -> dict[StepDate, Finished]:
    """The latest finished row of every step and run date in the range (steps x days: bounded by the range)."""
    name = catalog.settings.project.pipeline.ledger
    if not catalog.exists(name):
        return {}
    rows = catalog.read(name)
    inputs = F.col("inputs") if "inputs" in rows.columns else F.lit(None).cast("string")  # older ledgers: none
    # the range's rows in one partition: the latest per step and date is then found in one task, with no shuffle
    # (a ledger is small; two jobs and a shuffle cost a run 0.1-0.3 s more, on every `featurelake run`)
    latest = (
        rows.where(F.col("run_date").between(F.lit(dates.start), F.lit(dates.end)))
        .coalesce(1)
        .groupBy("stage", "target", "run_date")
        .agg(
            F.max_by("run_id", "finished_at").alias("run_id"),
            F.unix_micros(F.max("finished_at")).alias("finished_at"),
            F.max_by(inputs, "finished_at").alias("inputs"),
        )
    )
    return {
        (row["stage"], row["target"], row["run_date"]): Finished(
            row["run_id"], utc_from_micros(row["finished_at"]), row["inputs"]
        )
        for row in latest.collect()
    }


def record(
    catalog: Catalog,
    stage: str,
    target: str,
    run_dates: DateRange,
    run_id: str,
    summaries: list[StageSummary],
    seconds: float,
    days: list[dt.date] | None = None,
    fingerprints: dict[dt.date, str] | None = None,
) -> dt.datetime:
    """Append one row per run date a finished step was due on (default: every date of ``run_dates``, the span
    its commits covered), with the fingerprint of what it read on that date when known; returns the time
    recorded as its finish."""
    finished_at = dt.datetime.now(dt.UTC)  # aware: stored as this instant whatever the process's time zone
    outputs = {s.table: s.delta_version for s in summaries if s.delta_version is not None}
    rows_in = sum(s.rows_in for s in summaries)
    published = sum(s.published for s in summaries)
    rows = [
        (stage, target, day, run_id, str(run_dates), outputs, rows_in, published, float(seconds), finished_at, seen)
        for day in (days if days is not None else run_dates.days())
        for seen in [(fingerprints or {}).get(day)]
    ]
    # a ledger written before the inputs column gains it; in a run, on its writer thread (Catalog.append_later)
    frame = catalog.frame_of(rows, LEDGER_SCHEMA)
    catalog.append_later(frame, catalog.settings.project.pipeline.ledger, merge_schema=True)
    return finished_at.replace(tzinfo=None)
