"""Run by tests/integration/test_airflow.py with the Airflow virtual environment's Python (never imported by
the main test suite): loads deploy/airflow in Airflow's DagBag and writes what the test checks as JSON to
the file given (Airflow logs to standard output)."""

import json
import sys

try:  # Airflow 3
    from airflow.dag_processing.dagbag import DagBag
except ImportError:  # Airflow 2
    from airflow.models.dagbag import DagBag

dag_folder, logical_date, output = sys.argv[1:4]
bag = DagBag(dag_folder=dag_folder)
dag = bag.dags.get("featurelake")
tasks = {}
for task in dag.tasks if dag else []:
    context = {"ds": logical_date, "run_id": f"scheduled__{logical_date}T00:00:00+00:00"}
    task.render_template_fields(context)
    tasks[task.task_id] = {
        "upstream": sorted(task.upstream_task_ids),
        "retries": task.retries,
        "operator": type(task).__name__,
        "command": task.bash_command,
    }
with open(output, "w") as sink:
    json.dump(
        {
            "import_errors": bag.import_errors,
            "dags": sorted(bag.dags),
            "order": [t.task_id for t in dag.topological_sort()] if dag else [],
            "max_active_runs": dag.max_active_runs if dag else None,
            "catchup": dag.catchup if dag else None,
            "tasks": tasks,
        },
        sink,
    )
