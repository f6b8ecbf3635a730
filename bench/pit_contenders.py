"""The contenders of bench/pit_join.py beside featurelake's as-of join: Feast's point-in-time SQL on Spark, reduced
to its core, and DuckDB's ASOF join (see bench/pit_join.py for what each does and how they are compared); and the
peak memory of a contender's process. Nothing heavy is imported here: a DuckDB child's peak is its own."""

from __future__ import annotations

import datetime as dt
import os
import resource
import time
from pathlib import Path


def feast_style(spark, events, features, ttl: dt.timedelta | None, values: list[str]):
    """Feast's point-in-time SQL, reduced to its core: range join, ROW_NUMBER = 1, left join back."""
    events.createOrReplaceTempView("pit_events")
    features.createOrReplaceTempView("pit_features")
    within_ttl = f"AND f.event_time >= e.as_of - make_dt_interval(0, 0, 0, {ttl.total_seconds()})" if ttl else ""
    selected = ", ".join(f"f.{v}" for v in values)
    return spark.sql(f"""
        WITH base AS (
            SELECT e.event_id, f.event_time, f.created_time, {selected}
            FROM pit_events e
            JOIN pit_features f
              ON f.key = e.key AND f.event_time <= e.as_of AND f.created_time <= e.as_of {within_ttl}
        ),
        latest AS (
            SELECT * FROM (
                SELECT *, ROW_NUMBER() OVER (
                    PARTITION BY event_id ORDER BY event_time DESC, created_time DESC
                ) AS row_number
                FROM base
            ) WHERE row_number = 1
        )
        SELECT e.event_id, e.key, e.as_of, {", ".join(f"l.{v}" for v in values)}
        FROM pit_events e LEFT JOIN latest l ON l.event_id = e.event_id
    """)


def duckdb_query(events_path: Path, features_path: Path, ttl_hours: float | None, values: list[str]) -> str:
    selected = ", ".join(
        f"CASE WHEN f.event_time >= e.as_of - to_seconds({ttl_hours * 3600}) THEN f.{v} END AS {v}"
        if ttl_hours
        else f"f.{v}"
        for v in values
    )
    return f"""
        SELECT e.event_id, e.key, e.as_of, {selected}
        FROM read_parquet('{events_path}/*.parquet') e
        ASOF LEFT JOIN (
            SELECT key, greatest(event_time, created_time) AS usable_at, event_time, {", ".join(values)}
            FROM read_parquet('{features_path}/*.parquet')
        ) f
        ON e.key = f.key AND e.as_of >= f.usable_at
    """


def run_duckdb(config, args, spill: Path, values: list[str]) -> dict:
    """DuckDB's ASOF join of the config's events and features into its output, best of args.repeat runs."""
    import duckdb

    target = config.output_path("duckdb")
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute(f"SET memory_limit = '{args.duckdb_memory}'")
    con.execute(f"SET temp_directory = '{spill}'")
    query = duckdb_query(config.events_path, config.features_path, args.ttl_hours, values)
    runs = []
    for _ in range(args.repeat):
        target.unlink(missing_ok=True)
        started = time.perf_counter()
        con.execute(f"COPY ({query}) TO '{target}' (FORMAT parquet, COMPRESSION snappy)")
        runs.append(time.perf_counter() - started)
        if runs[-1] > args.repeat_below:
            break
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": min(runs), "runs": runs, "peak_mb": peak, "memory_limit": args.duckdb_memory}


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set (VmHWM, over its whole life) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
