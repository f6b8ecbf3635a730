"""The January pipeline (tests/integration/conftest.py) was SIGKILLed while it wrote silver.flights, and the
same command was run again: it resumed from the ledger, and every table holds each source row exactly once."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog
from tests.integration.conftest import JANUARY_DAYS
from tests.integration.test_runner import assert_ledger_agrees, landing_rows

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_a_run_killed_during_a_delta_write_resumes_and_lands_every_row_once(spark, january, january_pipeline):
    settings, resumed = january
    assert january_pipeline.files_at_kill, "the run was killed while silver.flights had data files being written"
    killed = january_pipeline.killed_log.read_text(errors="replace")
    assert "ingest bronze.flights [2013-01-01..2013-01-18]: read " in killed
    assert "refine silver.flights [" not in killed, "killed before that step finished"
    lines = resumed.splitlines()
    for table in ("bronze.flights", "bronze.weather", "bronze.planes"):
        assert any(
            line.startswith(f"ingest {table} [") and line.endswith("finished earlier, skipped") for line in lines
        )
    assert any(line.startswith("refine silver.flights [2013-01-01..2013-01-18]: read ") for line in lines)

    keys = settings.table("silver.flights").keys
    for day in JANUARY_DAYS.days():
        one_day = DateRange.single(day)
        bronze = Catalog(spark, settings).read("bronze.flights", one_day)
        assert bronze.count() == landing_rows(spark, settings, "flights", day), day
        silver = Catalog(spark, settings).read("silver.flights", one_day)
        distinct_keys = bronze.dropna(subset=keys).select(*keys).distinct().count()
        assert silver.count() == silver.select(*keys).distinct().count() == distinct_keys > 0, day
    weather = Catalog(spark, settings).read("silver.weather")
    assert weather.count() == weather.select("origin", "time_hour").distinct().count() > 0
    days = {r[RUN_DATE] for r in Catalog(spark, settings).read("silver.flights").select(RUN_DATE).distinct().collect()}
    assert days == set(JANUARY_DAYS.days())
    # the killed run's ingest and the resumed run's refine: two run ids, each slice the one its ledger row names
    assert assert_ledger_agrees(spark, settings) >= 3 * 18
    ledger = Catalog(spark, settings).read("ops.run_ledger")
    assert ledger.select("run_id").distinct().count() == 2
    assert ledger.groupBy("stage", "target", "run_date").count().where(F.col("count") != 1).isEmpty(), "none twice"
