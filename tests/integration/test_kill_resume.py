"""`featurelake run` in a process of its own is SIGKILLed with its JVM while it writes silver.flights (its data
files are in the table's directory, its commit is not yet written), and the same command is run again: it
resumes from the ledger, and every table holds each source row exactly once. Only the killed run needs a process
of its own; the resumed one runs in this process (featurelake.ops.cli.main, as in_process runs every command), over
two real January days, ingest and refine only, ungated (the gates are tested in process). (The spark-submit path
of the packaged jobs is tests/integration/test_cluster.py's.)"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog
from tests.conftest import UNGATED
from tests.integration.conftest import (
    BIN,
    JANUARY_OVERRIDES,
    deliver_january,
    in_process,
    job_env,
    project_copy,
    settings_of,
)
from tests.integration.test_runner import assert_ledger_agrees, landing_rows

pytestmark = [pytest.mark.integration, pytest.mark.process]

DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 2))
KILLED_DURING = "silver/flights"
TIMEOUT = 600  # seconds, the killed process


@dataclass
class KilledAndResumed:
    files_at_kill: list[str]
    killed: str  # what the killed process printed
    code: int  # the resumed run's exit code
    resumed: str


def kill_during_a_write_and_resume(settings, argv: list[str], logs: Path) -> KilledAndResumed:
    """Start ``featurelake <argv>`` in a process of its own, SIGKILL its process group (the driver and its JVM,
    as a lost machine would go) once a data file of silver.flights exists, then run the same command in this
    process to its end."""
    table = Path(settings.lake_root) / KILLED_DURING
    killed_log = logs / "killed.log"
    command = [str(BIN / "featurelake"), *argv]
    with killed_log.open("w") as sink:
        first = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=job_env(settings), start_new_session=True
        )
    written: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    while first.poll() is None and time.monotonic() < deadline:
        written = [str(f.relative_to(table)) for f in table.glob("_run_date=*/*.parquet")] if table.is_dir() else []
        if written:
            break
        time.sleep(0.02)
    if first.poll() is None:
        os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    code, resumed = in_process(argv, Path(settings.lake_root))
    return KilledAndResumed(written, killed_log.read_text(errors="replace"), code, resumed)


def test_a_run_killed_during_a_delta_write_resumes_and_lands_every_row_once(spark, demo_landing, tmp_path):
    conf = project_copy(tmp_path, {**JANUARY_OVERRIDES, **UNGATED})
    deliver_january(demo_landing, tmp_path / "lake" / "landing", DAYS)
    settings = settings_of(conf, tmp_path / "lake")
    span = ["--from", str(DAYS.start), "--to", str(DAYS.end), "--stages", "ingest,refine"]
    run = kill_during_a_write_and_resume(settings, ["run", "--conf-dir", str(conf), *span], tmp_path)
    assert run.files_at_kill, "the run was killed while silver.flights had data files being written:\n" + run.killed
    assert f"ingest bronze.flights [{DAYS}]: read " in run.killed
    assert "refine silver.flights [" not in run.killed, "killed before that step finished"
    assert run.code == 0, run.resumed[-3000:]
    lines = run.resumed.splitlines()
    for table in ("bronze.flights", "bronze.weather", "bronze.planes"):
        assert any(
            line.startswith(f"ingest {table} [") and line.endswith("finished earlier, skipped") for line in lines
        ), table
    assert any(line.startswith(f"refine silver.flights [{DAYS}]: read ") for line in lines)

    keys = settings.table("silver.flights").keys
    for day in DAYS.days():
        one_day = DateRange.single(day)
        bronze = Catalog(spark, settings).read("bronze.flights", one_day)
        assert bronze.count() == landing_rows(spark, settings, "flights", day), day
        silver = Catalog(spark, settings).read("silver.flights", one_day)
        distinct_keys = bronze.dropna(subset=keys).select(*keys).distinct().count()
        assert silver.count() == silver.select(*keys).distinct().count() == distinct_keys > 0, day
    weather = Catalog(spark, settings).read("silver.weather")
    assert weather.count() == weather.select("origin", "time_hour").distinct().count() > 0
    days = {r[RUN_DATE] for r in Catalog(spark, settings).read("silver.flights").select(RUN_DATE).distinct().collect()}
    assert days == set(DAYS.days())
    # the killed run's ingest and the resumed run's refine: two run ids, each slice the one its ledger row names
    assert assert_ledger_agrees(spark, settings) >= 3 * len(list(DAYS.days()))
    ledger = Catalog(spark, settings).read("ops.run_ledger")
    assert ledger.select("run_id").distinct().count() == 2
    assert ledger.groupBy("stage", "target", "run_date").count().where(F.col("count") != 1).isEmpty(), "none twice"
