"""A pipeline process SIGKILLed while it writes a Delta table, then the same command again: it resumes
from the ledger, and every table holds each source row exactly once."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.lake import RUN_DATE, DateRange, read_table
from tests.conftest import UNGATED, deliver_real
from tests.integration.conftest import BIN, job_env
from tests.integration.test_runner import assert_ledger_agrees, landing_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAYS = DateRange(dt.date(2013, 3, 1), dt.date(2013, 3, 3))
KILLED_IN = "silver/flights/_run_date=2013-03-02"  # the second day's refine of flights


def test_a_run_killed_during_a_delta_write_resumes_and_lands_every_row_once(spark, make_settings, demo_landing):
    settings = make_settings({**UNGATED, "pipeline": {"batch_days": 1}})
    for source in ("flights", "weather"):
        deliver_real(settings, demo_landing, source, *(str(d) for d in DAYS.days()))
    command = [str(BIN / "featurelake"), "run", "--conf-dir", str(settings.conf_dir)]
    command += ["--from", str(DAYS.start), "--to", str(DAYS.end), "--stages", "ingest,refine"]
    partition = Path(settings.lake_root) / KILLED_IN
    log = Path(settings.lake_root).parent / "killed.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=job_env(settings), start_new_session=True
        )
    try:
        deadline = time.monotonic() + 300
        # Data files land in the partition before the commit that adds them is written: kill right then.
        while not (partition.is_dir() and any(partition.glob("*.parquet"))):
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the run never reached the second day's refine"
            time.sleep(0.02)
    finally:
        os.killpg(process.pid, signal.SIGKILL)  # the Python driver and its JVM, as a lost machine would go
        process.wait()
    killed_output = log.read_text()
    assert "refine silver.flights [2013-03-02]" not in killed_output, "killed before that step finished"

    resumed = subprocess.run(command, capture_output=True, text=True, env=job_env(settings), timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    lines = resumed.stdout.splitlines()
    assert "ingest bronze.flights [2013-03-01]: finished earlier, skipped" in lines
    assert "ingest bronze.weather [2013-03-02]: finished earlier, skipped" in lines
    assert any(line.startswith("refine silver.flights [2013-03-02]: read ") for line in lines)
    assert any(line.startswith("refine silver.weather [2013-03-03]: read ") for line in lines)

    keys = settings.table("silver.flights").keys
    for day in DAYS.days():
        one_day = DateRange.single(day)
        bronze = read_table(spark, settings, "bronze.flights", one_day)
        assert bronze.count() == landing_rows(spark, settings, "flights", day)
        silver = read_table(spark, settings, "silver.flights", one_day)
        distinct_keys = bronze.dropna(subset=keys).select(*keys).distinct().count()
        assert silver.count() == silver.select(*keys).distinct().count() == distinct_keys, day
        weather = read_table(spark, settings, "silver.weather", one_day)
        assert weather.count() == weather.select("origin", "time_hour").distinct().count() > 0
    assert {
        r[RUN_DATE] for r in read_table(spark, settings, "silver.flights").select(RUN_DATE).distinct().collect()
    } == set(DAYS.days())
    assert assert_ledger_agrees(spark, settings) == 12
    ledger = read_table(spark, settings, "ops.run_ledger")
    per_step_and_day = ledger.groupBy("stage", "target", "run_date").count()
    assert per_step_and_day.where(F.col("count") != 1).isEmpty(), "nothing finished twice"
