"""`featurelake run` in a process of its own is SIGKILLed with its JVM while it writes silver.flights (its data
files are in the table's directory, its commit is not yet written; tests/integration/killed.py, run in the
background by the suite's process lane), and the same command is run again: it resumes from the ledger, and every
table holds each source row exactly once. Only the killed run needs a process of its own; the resumed one runs in
this process (featurelake.ops.cli.main, as in_process runs every command), over two real January days, ingest and
refine only, ungated (the gates are tested in process). (The spark-submit path of the packaged jobs is
tests/integration/test_cluster.py's.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog
from tests.integration.conftest import in_process
from tests.integration.killed import DAYS
from tests.integration.test_runner import assert_ledger_agrees, landing_rows

pytestmark = [pytest.mark.integration, pytest.mark.process]


def test_a_run_killed_during_a_delta_write_resumes_and_lands_every_row_once(spark, killed_run):
    killed = killed_run.result(timeout=900)
    settings = killed.settings
    assert killed.files_at_kill, (
        "the run was killed while silver.flights had data files being written:\n" + killed.printed
    )
    assert f"ingest bronze.flights [{DAYS}]: read " in killed.printed
    assert "refine silver.flights [" not in killed.printed, "killed before that step finished"
    code, resumed = in_process(killed.argv, Path(settings.lake_root))
    assert code == 0, resumed[-3000:]
    lines = resumed.splitlines()
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
