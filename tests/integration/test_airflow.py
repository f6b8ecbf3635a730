"""deploy/airflow/featurelake_dag.py loaded by a real Airflow DagBag, in the Airflow virtual environment that
`make test` creates (.venv-airflow, so Airflow's pins never touch the main environment)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess

import pytest

from featurelake.ops.cli import build_parser
from featurelake.ops.stages import STAGE_NAMES as STAGES
from tests.conftest import PROJECT

pytestmark = [pytest.mark.integration, pytest.mark.process]

AIRFLOW_PYTHON = PROJECT / ".venv-airflow" / "bin" / "python"
ENVIRONMENT = {
    "FEATURELAKE_DIST": "/srv/featurelake/dist",
    "FEATURELAKE_CONF_DIR": "/srv/featurelake",
    "FEATURELAKE_MASTER": "spark://spark-master:7077",
}


# What a user might type as the run id of a manual trigger: quotes and a command substitution.
HOSTILE_RUN_ID = "manual__it's $(touch pwned) `touch pwned2`"


@pytest.fixture(scope="module")
def dag(tmp_path_factory):
    if not AIRFLOW_PYTHON.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must load the Airflow DAG: `make test` creates .venv-airflow")
        pytest.skip("no .venv-airflow: `make test` creates it (make airflow-env)")
    home = tmp_path_factory.mktemp("airflow")
    output = home / "dag.json"
    env = {**os.environ, **ENVIRONMENT, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    command = [str(AIRFLOW_PYTHON), str(PROJECT / "tests" / "airflow" / "dagbag_probe.py")]
    command += [str(PROJECT / "deploy" / "airflow"), "2013-03-05", str(output), HOSTILE_RUN_ID]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(output.read_text())


def test_the_dag_loads_without_import_errors_as_one_task_per_stage_in_order(dag):
    assert dag["import_errors"] == {}
    assert dag["dags"] == ["featurelake"]
    assert dag["order"] == list(STAGES)
    for before, stage in zip([None, *STAGES], STAGES, strict=False):
        assert dag["tasks"][stage]["upstream"] == ([before] if before else [])
        assert dag["tasks"][stage]["operator"] == "BashOperator"
        assert dag["tasks"][stage]["retries"] == 2
    assert dag["max_active_runs"] == 1 and dag["catchup"] is False


def test_each_task_spark_submits_its_stage_for_the_logical_date(dag):
    words = shlex.split(dag["tasks"]["features"]["command"])
    assert words[:3] == ["spark-submit", "--master", "spark://spark-master:7077"]
    assert words[words.index("--packages") + 1] == "io.delta:delta-spark_4.1_2.13:4.4.0"
    confs = [words[i + 1] for i, w in enumerate(words) if w == "--conf"]
    assert confs == [
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
    ]
    assert words[words.index("--py-files") + 1] == "/srv/featurelake/dist/featurelake_code.zip"
    script = words.index("/srv/featurelake/dist/jobs/pipeline.py")
    # what follows the script is what jobs/pipeline.py hands to `featurelake run`
    args = build_parser().parse_args(["run", *words[script + 1 :]])
    assert (args.env, args.conf_dir, args.stages) == ("cluster", "/srv/featurelake/conf", ["features"])
    assert str(args.run_date) == "2013-03-05" and args.date_from is None
    assert args.run_id == "$FEATURELAKE_RUN_ID"  # from the task's environment, which Airflow templates
    task = dag["tasks"]["features"]
    assert task["env"] == {"FEATURELAKE_RUN_ID": "scheduled__2013-03-05T00:00:00+00:00"} and task["append_env"]
    for stage in STAGES:
        assert f"--stages {stage} --run-date 2013-03-05 " in dag["tasks"][stage]["command"]


def test_a_run_id_typed_by_hand_reaches_the_job_as_it_is_and_runs_nothing(dag, tmp_path):
    """The rendered command of a manual run with quotes and $( ) in its run id, run by bash as Airflow's
    BashOperator would (spark-submit stood in for by printf): the job gets the run id verbatim, and nothing
    of it is executed."""
    task = dag["hostile"]["features"]
    assert HOSTILE_RUN_ID not in task["command"]  # never pasted into the shell text
    command = "printf '%s\\n'" + task["command"][len("spark-submit") :]
    env = {"PATH": os.environ["PATH"], **task["env"]}
    result = subprocess.run(["bash", "-c", command], env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    words = result.stdout.splitlines()
    assert words[words.index("--run-id") + 1] == HOSTILE_RUN_ID
    assert list(tmp_path.iterdir()) == []
