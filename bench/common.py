"""What every benchmark shares: a lake of demo data per size, and the sizes to run."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from featurelake.core.config import load_settings
from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings
from featurelake.core.spark import build_session
from featurelake.ingest.demo_data import write_demo_data

HERE = Path(__file__).resolve().parent


def bench_lake(years: int) -> tuple[Settings, object, DateRange]:
    """Settings, session and run dates of the bench lake holding `years` years of demo data."""
    os.environ["FEATURELAKE_LAKE_ROOT"] = str(HERE / "results" / f"lake-{years}y")
    settings = load_settings("local")
    write_demo_data(settings, years=years)
    run_dates = DateRange(dt.date(2013, 1, 1), dt.date(2013 + years - 1, 12, 31))
    return settings, build_session(settings), run_dates


def main(description: str, measure: Callable[[int, int], None]) -> None:
    """Run `measure(years, repeat)` on the demo year and on the larger size from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--years", type=int, default=10, help="the larger data size (the year replicated N times)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per variant; the best is kept")
    args = parser.parse_args()
    for years in sorted({1, args.years}):
        measure(years, args.repeat)
