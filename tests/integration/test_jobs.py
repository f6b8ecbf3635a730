"""jobs/*.py are real entry points: python runs them (spark-submit runs jobs/pipeline.py in
test_training_set.py, whose lake it builds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.spark import delta_coordinate
from tests.conftest import PROJECT

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


def spark_submit(job: str, arguments: list[str], settings, timeout: int = 600) -> subprocess.CompletedProcess:
    """spark-submit a job in local mode, the way a scheduler would (Delta from --packages)."""
    command = [
        str(BIN / "spark-submit"),
        "--master",
        "local[2]",
        "--packages",
        delta_coordinate(),
        "--conf",
        f"spark.jars.ivySettings={PROJECT / 'conf' / 'ivysettings.xml'}",
        "--conf",
        "spark.ui.enabled=false",
        str(PROJECT / "jobs" / job),
        *arguments,
    ]
    return run_job(command, settings, timeout=timeout)


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
