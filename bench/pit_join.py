"""Benchmark: the point-in-time join `featurelake.point_in_time.as_of_join` vs. a Feast-style range join vs. DuckDB.

All three answer the same question on the same generated data: for every event (event_id, key, as_of), the
values of the feature row of its key with the latest event_time at or before as_of, among rows already
created then (created_time <= as_of), or nulls when there is none or it is older than the TTL.

- ours: as_of_join with --buckets time buckets (the hot-key setting), and as "ours b=1" with one bucket.
- Feast-style: what Feast's Spark offline store does (sdk/python/feast/infra/offline_stores/contrib/
  spark_offline_store/spark.py): a range join of events to feature rows on the keys with event_time <= as_of,
  created_time <= as_of and event_time >= as_of - ttl, ROW_NUMBER over the event ordered by event_time desc,
  created_time desc, keep row 1, left join back to all events. Feast itself does more (its created_time
  dedup GROUP BY and a second join back of the range-join output), so this baseline is, if anything, faster
  than Feast; it also adds created_time <= as_of, which Feast's template leaves out, so the answers agree.
- DuckDB: `ASOF LEFT JOIN` on the keys and usable_at <= as_of, usable_at = greatest(event_time,
  created_time); the TTL is applied to the row found. DuckDB takes the row with the latest *usable* time,
  ours the latest *event_time* among usable rows: the same row whenever ordering a key's rows by usable time
  orders them by event_time, as here (created_time = event_time + 6h), not in general (a late backfill).

Data (generated once per size with Spark into bench/results/pit/data, not timed): feature rows daily per key
over --years years (10% of the days missing, so the TTL matters; event_time in the first hour of the day,
created_time 6h later, 4 double values), and events with as_of uniform over the same years +-5 days (1% of
them exactly at a feature row's usable time, to exercise the inclusive bound). With fewer than 100 keys,
key 0 is hot: it gets a third of all events.

Timing: each implementation runs in its own subprocess (so the JVM's peak RSS, VmHWM, belongs to it alone;
DuckDB's peak is the subprocess's ru_maxrss), best of --repeat runs, from reading the input Parquet to having
written the joined output as Parquet (Spark: write.parquet; DuckDB: COPY ... TO parquet). JVM start and data
generation are not timed. The outputs are then compared in full (DuckDB EXCEPT ALL both ways, plus count
and an order-independent checksum); any difference is reported as NOT EQUAL.

Reading the ratios: feast/ours = Feast-style seconds / ours seconds (> 1: ours is faster; the goal is >= 10
at 1M events); duckdb/ours = DuckDB seconds / ours seconds (< 1: DuckDB, a single-node engine built for
this, is faster). A run past --timeout is reported as "> timeout", not waited for.

Usage: python -m bench.pit_join [--events 1000000,10000000] [--years 1,10] [--keys 16,10000]
                                [--skip-feast-above N] [--impls ours,ours_b1,feast,duckdb] [--repeat 2]
Quick check: python -m bench.pit_join --events 100000 --years 1 --keys 16
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.pit_contenders import feast_style, peak_rss_mb, run_duckdb

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
ROOT = HERE / "results" / "pit"
START = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)
START_SECONDS = int(START.timestamp())
DAY = 86_400
LAG_HOURS = 6  # created_time = event_time + 6h
VALUES = ["v1", "v2", "v3", "v4"]
OUTPUT = ["event_id", "key", "as_of", *VALUES]
HOT_BELOW = 100  # with fewer keys than this, key 0 gets a third of the events
IMPLS = ("ours", "ours_b1", "feast", "duckdb")
LABELS = {"ours": "ours", "ours_b1": "ours b=1", "feast": "Feast-style", "duckdb": "DuckDB"}


@dataclass(frozen=True)
class Config:
    events: int
    keys: int
    years: int

    @property
    def name(self) -> str:
        return f"e{self.events}-k{self.keys}-y{self.years}"

    @property
    def hot(self) -> bool:
        return self.keys < HOT_BELOW

    @property
    def days(self) -> int:
        return 365 * self.years

    @property
    def features_path(self) -> Path:
        return ROOT / "data" / f"features-k{self.keys}-y{self.years}"

    @property
    def events_path(self) -> Path:
        return ROOT / "data" / f"events-n{self.events}-k{self.keys}-y{self.years}"

    def output_path(self, impl: str) -> Path:
        return ROOT / "out" / self.name / (f"{impl}.parquet" if impl == "duckdb" else impl)


# ------------------------------------------------------------------------------------------ child: Spark


def spark_session(shuffle_partitions: int):
    from featurelake.core.config import load_settings
    from featurelake.core.spark import build_session

    spark = build_session(load_settings("local"))
    spark.conf.set("spark.sql.shuffle.partitions", str(shuffle_partitions))
    # so that DuckDB reads the timestamps as instants, like Spark (INT96 would need a time zone guess)
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    return spark


def generate(spark, config: Config) -> dict:
    """Write the feature rows and events of this size, unless they are there already."""
    from pyspark.sql import functions as F

    def hashed(*columns, modulo: int):
        return F.pmod(F.xxhash64(*columns), F.lit(modulo))

    def event_time(key, day):  # bigint key and day, the same expression for feature rows and tied events
        return F.lit(START_SECONDS) + day * DAY + hashed(key, day, F.lit(5), modulo=3600)

    if not (config.features_path / "_SUCCESS").exists():
        rows = spark.range(config.keys * config.days, numPartitions=8).select(
            (F.col("id") % config.keys).alias("key"), F.expr(f"id div {config.keys}").alias("day")
        )
        rows = rows.where(hashed("key", "day", F.lit(9), modulo=10) != 0)  # 10% of the days missing
        rows = rows.select(
            "key",
            F.timestamp_seconds(event_time(F.col("key"), F.col("day"))).alias("event_time"),
            F.timestamp_seconds(event_time(F.col("key"), F.col("day")) + LAG_HOURS * 3600).alias("created_time"),
            *[(hashed("key", "day", F.lit(i), modulo=10_000_000) / 1000.0).alias(v) for i, v in enumerate(VALUES)],
        )
        rows.write.mode("overwrite").parquet(str(config.features_path))
    if not (config.events_path / "_SUCCESS").exists():
        if config.hot:
            key = F.when(hashed("id", F.lit(1), modulo=3) == 0, F.lit(0).cast("long")).otherwise(
                1 + hashed("id", F.lit(2), modulo=config.keys - 1)
            )
        else:
            key = hashed("id", F.lit(2), modulo=config.keys)
        day = hashed("id", F.lit(3), modulo=config.days + 10) - 5
        uniform = F.timestamp_micros(
            F.lit(START_SECONDS * 1_000_000) + day * (DAY * 1_000_000) + hashed("id", F.lit(6), modulo=DAY * 1_000_000)
        )
        tied = F.timestamp_seconds(event_time(F.col("key"), F.col("day")) + LAG_HOURS * 3600)
        events = (
            spark.range(config.events, numPartitions=8)
            .select(F.col("id"), key.alias("key"), day.alias("day"))
            .select(
                F.col("id").alias("event_id"),
                "key",
                F.when(hashed("id", F.lit(4), modulo=100) == 0, tied).otherwise(uniform).alias("as_of"),
            )
        )
        events.write.mode("overwrite").parquet(str(config.events_path))
    features = spark.read.parquet(str(config.features_path))
    return {"feature_rows": features.count()}


def run_spark(impl: str, config: Config, args) -> dict:
    from featurelake.featurestore.point_in_time import as_of_join

    spark = spark_session(args.shuffle_partitions)
    jvm_pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    ttl = dt.timedelta(hours=args.ttl_hours) if args.ttl_hours else None
    target = config.output_path(impl)
    runs = []
    for _ in range(args.repeat):
        shutil.rmtree(target, ignore_errors=True)
        started = time.perf_counter()
        events = spark.read.parquet(str(config.events_path))
        features = spark.read.parquet(str(config.features_path))
        if impl == "feast":
            joined = feast_style(spark, events, features, ttl, VALUES)
        else:
            buckets = 1 if impl == "ours_b1" else args.buckets
            joined = as_of_join(events, features, ["key"], "as_of", "event_time", "created_time", ttl, None, buckets)
        joined.select(*OUTPUT).write.mode("overwrite").parquet(str(target))
        runs.append(time.perf_counter() - started)
        if runs[-1] > args.repeat_below:
            break
    return {
        "seconds": min(runs),
        "runs": runs,
        "peak_mb": peak_rss_mb(jvm_pid),
        "driver_memory": spark.conf.get("spark.driver.memory", "?"),
    }


def child(args) -> None:
    config = Config(int(args.events), int(args.keys), int(args.years))
    if args.only == "generate":
        result = generate(spark_session(args.shuffle_partitions), config)
    elif args.only == "duckdb":
        result = run_duckdb(config, args, ROOT / "duckdb-tmp", VALUES)
    else:
        result = run_spark(args.only, config, args)
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------------------------------------- parent


def run_child(only: str, config: Config, args, timeout: float | None) -> dict:
    """Run one implementation (or the generation) in a subprocess; its stderr goes to a log file."""
    logs = ROOT / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "bench.pit_join", "--only", only]
    command += ["--events", str(config.events), "--keys", str(config.keys), "--years", str(config.years)]
    command += ["--buckets", str(args.buckets), "--repeat", str(args.repeat), "--repeat-below", str(args.repeat_below)]
    command += ["--shuffle-partitions", str(args.shuffle_partitions), "--duckdb-memory", args.duckdb_memory]
    command += ["--ttl-hours", str(args.ttl_hours or 0)]
    log_path = logs / f"{config.name}-{only}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=PROJECT, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True
        )
        try:
            out, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # its own process group: the child and the JVM it started
            process.communicate()
            return {"status": "timeout"}
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return {"status": "ok", **json.loads(line.removeprefix("RESULT "))}
    tail = log_path.read_text().strip().splitlines()[-5:]
    return {"status": f"failed (exit {process.returncode}, see {log_path})", "tail": tail}


def compare(config: Config, impls: list[str]) -> dict:
    """Count, matched count and checksum of each output; full EXCEPT ALL of each against the first."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")

    def source(impl: str) -> str:
        path = config.output_path(impl)
        files = path if impl == "duckdb" else path / "*.parquet"
        return f"(SELECT event_id, key, epoch_us(as_of) AS as_of, {', '.join(VALUES)} FROM read_parquet('{files}'))"

    summary = {}
    for impl in impls:
        rows, matched, checksum = con.execute(
            f"SELECT count(*), count(v1), sum(hash(event_id, key, as_of, {', '.join(VALUES)})::HUGEINT) "
            f"FROM {source(impl)}"
        ).fetchone()
        summary[impl] = {"rows": rows, "matched": matched, "checksum": str(checksum)}
    reference, *others = impls
    differences = {}
    for impl in others:
        missing = con.execute(f"SELECT count(*) FROM ({source(reference)} EXCEPT ALL {source(impl)})").fetchone()[0]
        extra = con.execute(f"SELECT count(*) FROM ({source(impl)} EXCEPT ALL {source(reference)})").fetchone()[0]
        differences[impl] = missing + extra
    return {"summary": summary, "differences": differences}


def seconds_text(result: dict | None, timeout: float) -> str:
    if result is None:
        return "skipped"
    if result["status"] == "timeout":
        return f"> {timeout:.0f}s (timeout)"
    if result["status"] != "ok":
        return result["status"]
    return f"{result['seconds']:.1f}s"


def ratio(results: dict, numerator: str, denominator: str, timeout: float) -> str:
    top, bottom = results.get(numerator), results.get(denominator)
    if not top or not bottom or bottom["status"] != "ok":
        return "-"
    if top["status"] == "timeout":
        return f"> {timeout / bottom['seconds']:.1f}"
    if top["status"] != "ok":
        return "-"
    return f"{top['seconds'] / bottom['seconds']:.2f}"


def measure(config: Config, args) -> dict:
    generated = run_child("generate", config, args, timeout=None)
    if generated["status"] != "ok":
        raise SystemExit(f"generating {config.name} failed: {generated}")
    results: dict[str, dict | None] = {}
    for impl in args.impls:
        if impl == "feast" and args.skip_feast_above is not None and config.events > args.skip_feast_above:
            results[impl] = None
            continue
        results[impl] = run_child(impl, config, args, timeout=args.timeout)
    done = [impl for impl in args.impls if results[impl] and results[impl]["status"] == "ok"]
    checked = compare(config, done) if len(done) > 0 else {"summary": {}, "differences": {}}
    reference = done[0] if done else None
    summary = checked["summary"].get(reference, {})
    unequal = [impl for impl, n in checked["differences"].items() if n]
    sums = {checked["summary"][impl]["checksum"] for impl in done}
    equal = not unequal and len(sums) <= 1
    hot = "key 0 hot: 1/3 of events" if config.hot else "uniform"
    ttl = f"ttl {args.ttl_hours:g}h" if args.ttl_hours else "no ttl"
    timings = ", ".join(f"{LABELS[i]} {seconds_text(results[i], args.timeout)}" for i in args.impls)
    peaks = ", ".join(
        f"{LABELS[i]} {results[i]['peak_mb']:,.0f}" for i in args.impls if results[i] and results[i]["status"] == "ok"
    )
    verdict = (
        f"outputs EQUAL ({', '.join(LABELS[i] for i in done)}; {summary.get('rows', 0):,} rows, "
        f"{summary.get('matched', 0):,} with features)"
        if equal
        else f"outputs NOT EQUAL: differing rows vs {reference}: {checked['differences']}, sums {checked['summary']}"
    )
    print(
        f"pit join {config.events:,} events, {config.keys:,} keys ({hot}), {config.years} year(s) of daily features "
        f"({generated['feature_rows']:,} rows), {ttl}, ours with {args.buckets} time buckets: {timings}; "
        f"feast/ours {ratio(results, 'feast', 'ours', args.timeout)} (goal >= 10 at 1M events), "
        f"duckdb/ours {ratio(results, 'duckdb', 'ours', args.timeout)}; peak RSS MB: {peaks}; {verdict}",
        flush=True,
    )
    for impl in args.impls:
        if results[impl] and results[impl]["status"].startswith("failed"):
            print(f"  {LABELS[impl]} failed; last lines of its log:", *results[impl]["tail"], sep="\n    ", flush=True)
    record = {
        "config": config.__dict__,
        "feature_rows": generated["feature_rows"],
        "results": results,
        "compare": checked,
        "equal": equal,
    }
    with (ROOT / "results.jsonl").open("a") as out:
        out.write(json.dumps({"at": dt.datetime.now(dt.UTC).isoformat(), "args": vars(args), **record}) + "\n")
    return record


def table(records: list[dict], args) -> None:
    impls = args.impls
    header = ["events", "keys", "years", "feature rows"]
    header += [f"{LABELS[i]} s" for i in impls] + ["feast/ours", "duckdb/ours"]
    header += [f"{LABELS[i]} MB" for i in impls] + ["equal"]
    lines = [header]
    for record in records:
        config, results = record["config"], record["results"]
        row = [f"{config['events']:,}", f"{config['keys']:,}", str(config["years"]), f"{record['feature_rows']:,}"]
        row += [seconds_text(results[i], args.timeout) for i in impls]
        row += [ratio(results, "feast", "ours", args.timeout), ratio(results, "duckdb", "ours", args.timeout)]
        row += [f"{results[i]['peak_mb']:,.0f}" if results[i] and results[i]["status"] == "ok" else "-" for i in impls]
        row.append("yes" if record["equal"] else "NO")
        lines.append(row)
    widths = [max(len(line[c]) for line in lines) for c in range(len(header))]
    print()
    for line in lines:
        print(" | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)), flush=True)


def numbers(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", default="1000000,10000000", help="event counts, comma-separated")
    parser.add_argument("--years", default="1,10", help="years of daily feature rows, comma-separated")
    parser.add_argument("--keys", default="16,10000", help="key counts, comma-separated (< 100: key 0 is hot)")
    parser.add_argument("--impls", default=",".join(IMPLS), help=f"which of {','.join(IMPLS)} to run")
    parser.add_argument("--skip-feast-above", type=int, default=None, help="no Feast-style run above N events")
    parser.add_argument("--buckets", type=int, default=16, help="time_buckets of the 'ours' run")
    parser.add_argument("--ttl-hours", type=float, default=48, help="feature TTL in hours; 0 for none")
    parser.add_argument("--repeat", type=int, default=2, help="runs per implementation; the best is kept")
    parser.add_argument("--repeat-below", type=float, default=120, help="no further runs after one this slow (s)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is given up")
    parser.add_argument("--shuffle-partitions", type=int, default=16)
    parser.add_argument("--duckdb-memory", default="4GB", help="DuckDB memory_limit (Spark's driver has 4g)")
    parser.add_argument("--only", choices=["generate", *IMPLS], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.only:
        child(args)
        return
    args.impls = [i for i in args.impls.split(",") if i]
    unknown = set(args.impls) - set(IMPLS)
    if unknown or not args.impls or (args.impls[0] != "ours" and "ours" in args.impls):
        parser.error(f"--impls takes some of {','.join(IMPLS)}, 'ours' first when given")
    print(
        f"pit join benchmark: {os.cpu_count()} cores, Spark local (conf/local; shuffle partitions "
        f"{args.shuffle_partitions}), DuckDB {args.duckdb_memory} memory limit; best of {args.repeat} "
        f"(one run when slower than {args.repeat_below:g}s); timeout {args.timeout:g}s; input and output Parquet "
        f"under {ROOT}",
        flush=True,
    )
    records = []
    for events in numbers(args.events):
        for years in numbers(args.years):
            for keys in numbers(args.keys):
                records.append(measure(Config(events, keys, years), args))
    table(records, args)


if __name__ == "__main__":
    main()
