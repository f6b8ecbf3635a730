"""jobs/*.py are real entry points: python runs them (the packaged ones are spark-submitted to a standalone
cluster in test_cluster.py; the job whose MLflow server does not answer runs in the process lane, conftest.py)."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import PROJECT
from tests.integration.conftest import run_job

pytestmark = [pytest.mark.integration, pytest.mark.process]


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


def test_credentials_in_the_tracking_uri_never_reach_the_output(unanswered_tracking_server):
    """A tracking server that does not answer, reached through a URI with a password: one sentence, the
    password hidden in it and in every other line the command printed (the job ran in the process lane)."""
    result, password = unanswered_tracking_server.result(timeout=600)
    assert result.returncode == 2, result.stderr[-2000:]
    assert password not in result.stdout + result.stderr
    [sentence] = [line for line in result.stderr.splitlines() if line.startswith("featurelake:")]
    assert sentence == (
        "featurelake: MLflow (the configured tracking server) did not answer (MlflowException); check "
        "MLFLOW_TRACKING_URI, the server and its credentials."
    )
