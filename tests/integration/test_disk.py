"""A local lake whose file system refuses writes: a read-only mount, a directory this process may not write, a
full device. Each is one sentence and exit 2, before Spark starts when the lake root itself refuses, during the
run when a write meets it; every table stays at its last commit, and once the disk is fixed the run lands every
row once. The file systems are real: a tmpfs mounted for the test (small, remounted read-only), and chattr's
immutable flag, which refuses even root."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from featurelake.core.columns import RUN_DATE
from featurelake.core.errors import EXIT_USER_ERROR
from featurelake.lake.catalog import Catalog
from tests.conftest import FLIGHT, UNGATED, delivered_flights
from tests.integration.conftest import in_process, project_copy, settings_of, succeeded

pytestmark = pytest.mark.integration

DAYS = ("2013-01-01", "2013-01-02")
FAULTS_END = "then run again: every table is still at its last committed version, and finished steps are skipped."


@contextlib.contextmanager
def mounted_tmpfs(where: Path, size: str):
    """A tmpfs of this size mounted at ``where`` for the block (root only: the suite runs as root in CI)."""
    where.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=False)
    if mounted.returncode != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs the suite as root): run this test as root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=True)


def ingest(conf: Path, lake: Path, day: str) -> tuple[int, str]:
    return in_process(["ingest", "--source", "flights", "--conf-dir", str(conf), "--run-date", day], lake)


def deliver_flights(demo_landing: Path, lake: Path, *days: str) -> None:
    for day in days:
        shutil.copytree(demo_landing / "flights" / day, lake / "landing" / "flights" / day)


def free_bytes(disk: Path) -> int:
    stats = os.statvfs(disk)
    return stats.f_bavail * stats.f_frsize


def test_a_read_only_lake_root_is_one_sentence_before_spark_starts(demo_landing, tmp_path):
    conf = project_copy(tmp_path, UNGATED)
    with mounted_tmpfs(tmp_path / "disk", "8m") as disk:
        lake = disk / "lake"
        deliver_flights(demo_landing, lake, DAYS[0])
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        code, output = ingest(conf, lake, DAYS[0])
        assert (code, output.strip()) == (
            EXIT_USER_ERROR,
            f"featurelake: The lake root {lake} is on a read-only file system; mount it writable or point lake.root "
            "(FEATURELAKE_LAKE_ROOT) elsewhere, then run again. Nothing was written.",
        )
        assert sorted(p.name for p in lake.iterdir()) == ["landing"]


def test_a_lake_directory_this_process_may_not_write_is_one_sentence(spark, demo_landing, tmp_path):
    conf = project_copy(tmp_path, UNGATED)
    lake = tmp_path / "lake"
    deliver_flights(demo_landing, lake, *DAYS)
    succeeded(*ingest(conf, lake, DAYS[0]))
    table = lake / "bronze" / "flights"
    # no entry may be added or removed, even by root
    if subprocess.run(["chattr", "+i", str(table)], check=False).returncode != 0:
        pytest.skip("making a directory immutable needs root (CI runs the suite as root): run this test as root")
    try:
        code, output = ingest(conf, lake, DAYS[1])
        problem = [line for line in output.splitlines() if line.startswith("featurelake:")]
    finally:
        subprocess.run(["chattr", "-i", str(table)], check=True)
    assert code == EXIT_USER_ERROR, output[-2000:]
    assert problem == [
        f"featurelake: This process (user root) may not write {table} in the lake root {lake} (Operation not "
        f"permitted); allow it or point lake.root (FEATURELAKE_LAKE_ROOT) elsewhere, {FAULTS_END}"
    ]
    settings = settings_of(conf, lake)
    flights = Catalog(spark, settings).read("bronze.flights")
    assert [r[RUN_DATE].isoformat() for r in flights.select(RUN_DATE).distinct().collect()] == [DAYS[0]]


def test_a_full_disk_is_one_sentence_the_table_stays_at_its_commit_and_a_rerun_lands_every_row_once(
    spark, demo_landing, tmp_path
):
    conf = project_copy(tmp_path, UNGATED)
    with mounted_tmpfs(tmp_path / "disk", "16m") as disk:
        lake = disk / "lake"
        deliver_flights(demo_landing, lake, *DAYS)
        succeeded(*ingest(conf, lake, DAYS[0]))
        settings = settings_of(conf, lake)
        version = Catalog(spark, settings).version("bronze.flights")
        filler = disk / "filler"
        filler.write_bytes(b"\0" * free_bytes(disk))  # not a byte left: refused before Spark
        code, output = ingest(conf, lake, DAYS[1])
        assert (code, output.strip()) == (
            EXIT_USER_ERROR,
            f"featurelake: The device of the lake root {lake} is full; free space there or point lake.root "
            "(FEATURELAKE_LAKE_ROOT) at a larger disk, then run again. Nothing was written.",
        )

        filler.write_bytes(b"\0" * (filler.stat().st_size - 16 * 1024))  # room for the probe, not for a day of flights
        code, output = ingest(conf, lake, DAYS[1])
        problem = [line for line in output.splitlines() if line.startswith("featurelake:")]
        assert code == EXIT_USER_ERROR, output[-2000:]
        assert problem == [
            f"featurelake: The device of {lake}/bronze/flights in the lake root {lake} is full; free space there or "
            f"point lake.root (FEATURELAKE_LAKE_ROOT) at a larger disk, {FAULTS_END}"
        ]
        assert Catalog(spark, settings).version("bronze.flights") == version

        filler.unlink()
        succeeded(*ingest(conf, lake, DAYS[1]))
        flights = Catalog(spark, settings).read("bronze.flights").select(*FLIGHT)
        assert sorted(tuple(row) for row in flights.collect()) == delivered_flights(demo_landing, *DAYS)
