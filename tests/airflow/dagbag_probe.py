"""Run by tests/integration/test_airflow.py with the Airflow virtual environment's Python (never imported by
the main test suite): loads deploy/airflow in Airflow's DagBag and writes what the test checks as JSON to
the file given (Airflow logs to standard output). The tasks are rendered for a scheduled run of the logical
date, and once more (from a second load) for a run id a user typed when triggering the DAG by hand."""

import json
import sys

try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag

dag_folder, logical_date, output, hostile_run_id = sys.argv[1:5]


def rendered(run_id: str) -> tuple:
    bag = DagBag(dag_folder=dag_folder)
    dag = bag.dags.get("featurelake")
    tasks = {}
    for task in dag.tasks if dag else []:
        task.render_template_fields({"ds": logical_date, "run_id": run_id})
        tasks[task.task_id] = {
            "upstream": sorted(task.upstream_task_ids),
            "retries": task.retries,
            "operator": type(task).__name__,
            "command": task.bash_command,
            "env": task.env,
            "append_env": task.append_env,
        }
    return bag, dag, tasks


bag, dag, tasks = rendered(f"scheduled__{logical_date}T00:00:00+00:00")
_, _, hostile = rendered(hostile_run_id)
with open(output, "w") as sink:
    json.dump(
        {
            "import_errors": bag.import_errors,
            "dags": sorted(bag.dags),
            "order": [t.task_id for t in dag.topological_sort()] if dag else [],
            "max_active_runs": dag.max_active_runs if dag else None,
            "catchup": dag.catchup if dag else None,
            "tasks": tasks,
            "hostile": hostile,
        },
        sink,
    )
