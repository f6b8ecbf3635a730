"""Benchmark: a monthly and an hourly source end to end, each a fresh lake and a fresh `featurelake run`
process over every stage, as a scheduler would start it (the projects of tests/cadence_projects.py).

Monthly: the market project (a report per city and month, dated by (year, month) only) with 50 cities over 30,
90 and 180 months.
1. Backfill of every stage (ingest, refine, features, training set, train, score, monitor) on a fresh lake:
   goal under 180 s for 180 deliveries (9,000 rows) on 2 cores.
2. The curve: seconds per backfill against the 30-delivery baseline of the same run; goal: flat in the
   number of deliveries (the 180 / 30 ratio at most 2, though it holds six times the deliveries and rows).
3. One period again on the full lake: the last month with --force (ingest, refine, features, score and
   monitor of that month): goal under 30 s.

Hourly (--hourly): the readings project over a year of Berlin days (both clock changes), delivered as one
JSON Lines file per hour, 8,760 files: the backfill of every stage, goal under 180 s, and its last day again
with --force. The steps' own times are in the run's log (bench/results/hourly-year/).

Usage: python -m bench.cadences [--deliveries 30,90,180] [--cities 50] [--hourly] [--stations 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
from pathlib import Path

from bench.pipeline import featurelake
from featurelake.core.dates import DateRange
from tests.cadence_projects import Shape, monthly, write_project

HERE = Path(__file__).resolve().parent


def measure(deliveries: int, cities: int) -> tuple[float, float]:
    root = HERE / "results" / f"monthly-{deliveries}"
    shutil.rmtree(root, ignore_errors=True)
    shape = monthly(deliveries, cities)
    project = write_project(root, shape)  # not timed: the landing zone
    lake, conf = project / "lakehouse", project / "conf"
    last = shape.periods[-1]
    backfill = featurelake(lake, conf, "run", "--from", str(shape.run_dates.start), "--to", str(shape.run_dates.end))
    period = featurelake(lake, conf, "run", "--from", str(last), "--to", str(shape.run_dates.end), "--force")
    rows = deliveries * cities
    print(f"{deliveries:>4} deliveries ({rows:,} rows): backfill {backfill:7.1f}s, last period again {period:6.1f}s")
    return backfill, period


def hourly_year(year: int = 2014, stations: int = 2) -> Shape:
    """Every Berlin day of a year, both clock changes included : train on January to August,
    validate on September, test on October; November and December are scored."""
    return Shape(
        "readings",
        "hourly",
        DateRange(dt.date(year, 1, 1), dt.date(year, 12, 31)),
        {
            "train": (f"{year}-01-01", f"{year}-08-31"),
            "validation": (f"{year}-09-01", f"{year}-09-30"),
            "test": (f"{year}-10-01", f"{year}-10-31"),
        },
        stations,
    )


def measure_hourly(stations: int) -> tuple[float, float]:
    root = HERE / "results" / "hourly-year"
    shutil.rmtree(root, ignore_errors=True)
    shape = hourly_year(stations=stations)
    project = write_project(root, shape, file_per_hour=True)  # not timed: the landing zone
    files = sum(1 for _ in (project / "lakehouse" / "landing" / shape.name).glob("*/*.jsonl"))
    lake, conf = project / "lakehouse", project / "conf"
    last = str(shape.run_dates.end)
    backfill = featurelake(lake, conf, "run", "--from", str(shape.run_dates.start), "--to", last)
    day = featurelake(lake, conf, "run", "--run-date", last, "--force")
    print(f"hourly year, {files:,} files of {stations} stations: backfill {backfill:7.1f}s, last day again {day:6.1f}s")
    print(f"backfill of an hourly year < 180 s: {backfill:.1f}s, {'met' if backfill < 180 else 'missed'}")
    return backfill, day


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deliveries", default="30,90,180", help="months per lake, the first is the baseline")
    parser.add_argument("--cities", type=int, default=50)
    parser.add_argument("--hourly", action="store_true", help="the hourly year instead of the monthly curve")
    parser.add_argument("--stations", type=int, default=2)
    args = parser.parse_args()
    if args.hourly:
        measure_hourly(args.stations)
        return 0
    sizes = [int(n) for n in args.deliveries.split(",")]
    print(f"featurelake run, every stage, a monthly source of {args.cities} cities; fresh lakes", flush=True)
    results = {n: measure(n, args.cities) for n in sizes}
    baseline, largest = results[sizes[0]][0], sizes[-1]
    for n in sizes[1:]:
        print(f"backfill {n} / {sizes[0]} deliveries: {results[n][0] / baseline:.2f}")
    ratio = results[largest][0] / baseline
    backfill, period = results[largest]
    print(f"flat in deliveries ({largest} / {sizes[0]} <= 2): {ratio:.2f}, {'met' if ratio <= 2 else 'missed'}")
    print(f"backfill of {largest} deliveries < 180 s: {backfill:.1f}s, {'met' if backfill < 180 else 'missed'}")
    print(f"one period on the full lake < 30 s: {period:.1f}s, {'met' if period < 30 else 'missed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
