"""featurelake on Airflow: one spark-submit task per pipeline stage, for each logical date.

Each task runs `jobs/pipeline.py --stages <stage> --run-date <logical date>` from the packaged artifacts
(`make package`), so the run ledger decides what is left to do: a retried task skips the steps it already
finished, and stages with a cadence (training, monitoring) do nothing on the dates they are not due.
`max_active_runs=1` keeps two runs, and so two writers of one date, from overlapping.

Configured by environment variables on the Airflow workers (nothing here names a host or a secret):
FEATURELAKE_DIST (the directory `make package` filled), FEATURELAKE_MASTER (e.g. spark://host:7077, yarn,
k8s://https://host:443), FEATURELAKE_SPARK_SUBMIT (default spark-submit), FEATURELAKE_CONF_DIR (an unpacked
featurelake_conf.tar.gz), FEATURELAKE_ENV (default cluster), FEATURELAKE_START (the first logical date).
The lake root (FEATURELAKE_LAKE_ROOT) and MLflow's URIs reach the jobs through the workers' environment.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex

try:  # Airflow 3
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.sdk import DAG, chain
except ImportError:  # Airflow 2
    from airflow import DAG
    from airflow.models.baseoperator import chain
    from airflow.operators.bash import BashOperator

# featurelake.ops.stages.STAGE_NAMES, in dependency order (the scheduler's environment has no featurelake).
STAGES = ("ingest", "refine", "features", "training_set", "train", "score", "monitor")
DELTA_PACKAGE = "io.delta:delta-spark_4.1_2.13:4.4.0"
DELTA_CONFS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

DIST = os.environ.get("FEATURELAKE_DIST", "/opt/featurelake/dist")
CONF_DIR = os.environ.get("FEATURELAKE_CONF_DIR", "/opt/featurelake")


def spark_submit(stage: str) -> str:
    """The command of one stage's task; the logical date is templated in by Airflow (`ds`)."""
    words = [os.environ.get("FEATURELAKE_SPARK_SUBMIT", "spark-submit")]
    words += ["--master", os.environ.get("FEATURELAKE_MASTER", "yarn"), "--name", f"featurelake-{stage}"]
    words += ["--packages", DELTA_PACKAGE]
    for key, value in DELTA_CONFS.items():
        words += ["--conf", f"{key}={value}"]
    words += ["--py-files", f"{DIST}/featurelake_code.zip", f"{DIST}/jobs/pipeline.py"]
    words += ["--env", os.environ.get("FEATURELAKE_ENV", "cluster"), "--conf-dir", f"{CONF_DIR}/conf"]
    words += ["--stages", stage]
    # The run id reaches the shell as an environment variable, never as text inside the command: a run id a
    # user triggered (manual__...) may hold quotes or $( ) that would otherwise be run.
    return " ".join(shlex.quote(w) for w in words) + ' --run-date {{ ds }} --run-id "$FEATURELAKE_RUN_ID"'


RUN_ID_ENV = {"FEATURELAKE_RUN_ID": "{{ run_id }}"}


with DAG(
    dag_id="featurelake",
    description="raw files -> Delta bronze/silver -> features -> training set -> model -> scores -> monitoring",
    schedule="@daily",
    start_date=dt.datetime.fromisoformat(os.environ.get("FEATURELAKE_START", "2013-01-01")).replace(tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        "retry_exponential_backoff": True,
        "execution_timeout": dt.timedelta(hours=4),
    },
    tags=["featurelake"],
) as dag:
    chain(
        *(
            BashOperator(task_id=stage, bash_command=spark_submit(stage), env=RUN_ID_ENV, append_env=True)
            for stage in STAGES
        )
    )
