"""Integration fixtures. The end-to-end runs (the January pipeline, the monthly, weekly and hourly projects) run
inside the test session's SparkSession through the entry point users call (featurelake.ops.cli.main), each with
its own conf and lake, once, when the first test that reads them asks. Separate processes only where the process
is what a test checks (tests/integration/test_kill_resume.py, test_cluster.py, test_jobs.py, test_airflow.py),
one at a time: a lane of one thread runs the standalone cluster's submission, the run killed during a Delta write
and a job whose MLflow server does not answer in the background from the session's start, at low priority; the
tests that start a process run last, the lane's first (each waits for its run), the others after them."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from featurelake.core.config import load_settings
from featurelake.core.dates import DateRange
from featurelake.testing.plugin import copy_project, write_test_conf
from tests.conftest import AT_LOW_PRIORITY, PROJECT, SHORT_LIVED_JVM, UNGATED

BIN = Path(sys.executable).parent

# The training set covers 1-14 January (its splits below); 15-18 are delivered too: the pipeline scores them
# as production days and monitors the 18th.
JANUARY_DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 18))
JANUARY_SPLITS = {
    "train": {"from": "2013-01-01", "to": "2013-01-08"},
    "validation": {"from": "2013-01-09", "to": "2013-01-10"},
    "test": {"from": "2013-01-11", "to": "2013-01-14"},
}

# Two weeks hold ~6,000 training rows: a smaller grid and fewer trees keep the training minutes out of the suite.
JANUARY_MODEL = {
    "params": {"maxIter": 6},
    "grid": {"maxDepth": [3, 5], "stepSize": [0.3]},
    "segment_min_rows": 50,
    # the four production days against the eight of the train split: a few days of weather fill ten quantile
    # bins of eight days' weather unevenly (PSI > 1 between any two real weeks), four bins evenly enough
    "monitoring": {"window": "4 days", "psi_bins": 4, "history": "10 days"},
}


# bronze gates only warn and are tested on their own; without them the run costs the suite less
JANUARY_OVERRIDES = {
    "training_sets": {"flight_delay": {"splits": JANUARY_SPLITS}},
    "tables": {f"bronze.{source}": {"gate": None} for source in ("flights", "weather", "planes")},
    "models": {"flight_delay": JANUARY_MODEL},
}


def deliver_january(demo_landing: Path, landing: Path, days: DateRange = JANUARY_DAYS) -> None:
    for source in ("flights", "weather"):
        for day in days.days():
            shutil.copytree(demo_landing / source / day.isoformat(), landing / source / day.isoformat())
    shutil.copytree(demo_landing / "planes" / "2013-01-01", landing / "planes" / "2013-01-01")


def project_copy(root: Path, overrides: dict) -> Path:
    """The demo project's conf, expectations and features under ``root``, conf/local overridden; returns conf/."""
    conf = copy_project(PROJECT, root)
    write_test_conf(conf, overrides)
    return conf


def settings_of(conf: Path, lake: Path, env: str = "local"):
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURELAKE_LAKE_ROOT", str(lake))
    try:
        return load_settings(env, conf)
    finally:
        patch.undo()


@contextlib.contextmanager
def process_environment(variables: dict[str, str]):
    """These environment variables for the block (TZ applied to the process's clock), the earlier ones after."""
    before = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    time.tzset()
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        time.tzset()


def in_process(argv: list[str], lake: Path, **variables: str) -> tuple[int, str]:
    """``featurelake <argv>`` run by featurelake.ops.cli.main in this process, on the test session's SparkSession,
    with FEATURELAKE_LAKE_ROOT at ``lake`` (and the other variables given); its exit code and everything it
    printed, stdout and stderr interleaved as a terminal shows them."""
    from featurelake.ops.cli import main

    printed = io.StringIO()
    with (
        process_environment({"FEATURELAKE_LAKE_ROOT": str(lake), **variables}),
        contextlib.redirect_stdout(printed),
        contextlib.redirect_stderr(printed),
    ):
        code = main(argv)
    return code, printed.getvalue()


def succeeded(code: int, output: str) -> str:
    problems = [line for line in output.splitlines() if line.startswith("featurelake")]
    assert code == 0, "\n".join(problems) or output[-3000:]
    return output


def job_env(settings) -> dict[str, str]:
    """The environment of a featurelake process a test starts: its lake, this Python, and a driver JVM made for
    a process of a minute (the quick JIT tier only: the optimizing compiler's work would not pay off)."""
    return {
        **os.environ,
        "FEATURELAKE_LAKE_ROOT": settings.lake_root,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_SUBMIT_OPTS": f"{os.environ.get('SPARK_SUBMIT_OPTS', '')} {SHORT_LIVED_JVM}".strip(),
    }


def run_job(command: list[str], settings, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=job_env(settings), timeout=timeout, check=False)


@pytest.fixture(scope="session")
def january(spark, demo_landing, tmp_path_factory):
    """`featurelake run` over eighteen real days of January 2013 (flights, weather and planes delivered; airports
    and airlines not, nothing downstream reads them), the training set's splits moved into those days, run once
    in this process; its settings and output."""
    root = tmp_path_factory.mktemp("january")
    conf = project_copy(root, JANUARY_OVERRIDES)
    deliver_january(demo_landing, root / "lake" / "landing")
    span = ["--from", str(JANUARY_DAYS.start), "--to", str(JANUARY_DAYS.end)]
    # no --run-id: each run gets its own, so the ledger can be checked against the tables
    output = succeeded(*in_process(["run", "--conf-dir", str(conf), *span], root / "lake"))
    return settings_of(conf, root / "lake"), output


def versions_the_january_run_left(spark, settings) -> dict[str, int]:
    """The Delta version of each table as the January run left it, from its ledger rows (the earliest run of the
    ledger): the tests that ran since changed some of them (the cluster's and the object store's tests compare
    their own tables with these)."""
    from pyspark.sql import functions as F

    from featurelake.lake.catalog import Catalog

    ledger = Catalog(spark, settings).read("ops.run_ledger")
    january_run = ledger.orderBy("finished_at").first()["run_id"]
    written = ledger.where(F.col("run_id") == january_run).select(F.explode("outputs").alias("table", "version"))
    return {r["table"]: r["version"] for r in written.groupBy("table").agg(F.max("version").alias("version")).collect()}


# The weekly project names its own features package (and expectations), in a directory that holds the demo's too.
WEEKLY_PACKAGE = "sales_features"


class CadenceRuns:
    """`featurelake run --conf-dir` of each project of tests/cadence_projects.py over its range, in this process,
    once, when a test first asks for its lake. The monthly project runs up to its training window's end
    (``monthly-window``: the last month's labels have not landed), then over the production months after it. The
    weekly project's directory holds another project's features
    package and suites beside its own (``sales_features``), which it must never see. The monthly project then has
    one month re-delivered, corrected, and is run again over its last two months (``monthly-redelivered``): the
    runner must notice the new delivery. The hourly project runs under TZ=America/Los_Angeles, and its tables
    must be what a UTC process would write."""

    def __init__(self, root: Path):
        self.root = root
        self.results: dict[str, tuple[Path, str]] = {}

    def __call__(self, cadence: str) -> tuple[Path, str]:
        """The lake of a project once its run has finished (the run must have exited 0), and its output."""
        if cadence not in self.results:
            self._run_project(cadence.split("-")[0])
        return self.results[cadence]

    def _run_project(self, cadence: str) -> None:
        from tests.cadence_projects import (
            HOURLY,
            WEEKLY,
            beside_another_project,
            monthly,
            redeliver_corrected,
            write_project,
        )

        shape = {"monthly": monthly(), "weekly": WEEKLY, "hourly": HOURLY}[cadence]
        project = write_project(self.root, shape, package=WEEKLY_PACKAGE if cadence == "weekly" else "features")
        if cadence == "weekly":
            beside_another_project(project, PROJECT)
        if cadence == "monthly":  # up to the training window's end, then on in production: the labels land
            window_end = dt.date.fromisoformat(shape.splits["test"][1])
            self._run("monthly-window", project, DateRange(shape.run_dates.start, window_end))
            self._run(cadence, project, DateRange(window_end + dt.timedelta(days=1), shape.run_dates.end))
        else:
            self._run(cadence, project, shape.run_dates)
        if cadence == "monthly":
            redeliver_corrected(project, shape)
            self._run("monthly-redelivered", project, DateRange(shape.periods[-2], shape.run_dates.end))

    def _run(self, name: str, project: Path, span: DateRange) -> None:
        # the engine's times must not depend on the process's time zone
        variables = {"TZ": "America/Los_Angeles"} if name == "hourly" else {}
        dates = ["--from", str(span.start), "--to", str(span.end)]
        argv = ["run", "--conf-dir", str(project / "conf"), *dates]
        output = succeeded(*in_process(argv, project / "lakehouse", **variables))
        self.results[name] = (project / "lakehouse", output)


@pytest.fixture(scope="session")
def cadence_runs(spark, tmp_path_factory):
    return CadenceRuns(tmp_path_factory.mktemp("cadences"))


# The cluster run's days: every stage up to a training set, whose three splits need three days.
# The 1st has no previous day for the daily features: the model trains on the 2nd
CLUSTER_DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 4))
CLUSTER_SPLITS = {
    "train": {"from": "2013-01-02", "to": "2013-01-02"},
    "validation": {"from": "2013-01-03", "to": "2013-01-03"},
    "test": {"from": "2013-01-04", "to": "2013-01-04"},
}


@pytest.fixture(scope="session")
def process_lane():
    """One thread that runs the suite's background processes one after another: never two at once."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="process-lane") as lane:
        yield lane


@pytest.fixture(scope="session")
def killed_run(spark, demo_landing, process_lane, tmp_path_factory):
    """tests/integration/killed.py's run, in the lane: a future of what it left."""
    from tests.integration import killed

    root = tmp_path_factory.mktemp("killed")
    conf = project_copy(root, {**JANUARY_OVERRIDES, **UNGATED})
    deliver_january(demo_landing, root / "lake" / "landing", killed.DAYS)
    settings = settings_of(conf, root / "lake")
    argv = ["run", "--conf-dir", str(conf), "--from", str(killed.DAYS.start), "--to", str(killed.DAYS.end)]
    argv += ["--stages", "ingest,refine"]
    return killed.start(process_lane, settings, argv, job_env(settings), root / "killed.log")


@pytest.fixture(scope="session")
def unanswered_tracking_server(spark, process_lane, tmp_path_factory):
    """jobs/score.py run with MLFLOW_TRACKING_URI at a port nothing answers on, through a URI with a password,
    in the lane: a future of (the finished process, the password)."""
    root = tmp_path_factory.mktemp("tracking")
    settings = settings_of(project_copy(root, {}), root / "lake")
    password = "s3cret-Pa55word"
    env = {**job_env(settings), "MLFLOW_TRACKING_URI": f"http://alice:{password}@127.0.0.1:9/"}
    command = [*AT_LOW_PRIORITY, sys.executable, str(PROJECT / "jobs" / "score.py"), "--model", "flight_delay"]
    command += ["--run-date", "2013-12-01", "--conf-dir", str(root / "conf")]

    def run() -> tuple[subprocess.CompletedProcess, str]:
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False), password

    return process_lane.submit(run)


@pytest.fixture(scope="session")
def cluster_run(spark, demo_landing, process_lane, s3_server, tmp_path_factory):
    """tests/integration/cluster.py's run on a standalone cluster over four days of January, delivered as the
    January pipeline's are, into a lake on the session's S3 server, with a tracking server of its own; started
    once the session's Spark has resolved the Delta and S3A JARs (its spark-submit reads the same Ivy cache). The
    gates decide nothing there (the January run quarantined no row), and GX is what a two-core cluster is slowest
    at; without them the tables must still come out equal to the January run's for those days. Its model is one
    small fit: what it shows is a fit on executors tracked and registered through the server."""
    from tests.integration.cluster import ClusterRun

    root = tmp_path_factory.mktemp("cluster")
    deliver_january(demo_landing, root / "landing", CLUSTER_DAYS)
    ungated = {name: {"gate": None} for name in load_settings("local", PROJECT / "conf").tables}
    overrides = {
        **JANUARY_OVERRIDES,
        "training_sets": {"flight_delay": {"splits": CLUSTER_SPLITS}},
        "tables": ungated,
        "models": {
            "flight_delay": {**JANUARY_MODEL, "params": {"maxIter": 5}, "grid": {"maxDepth": [3], "stepSize": [0.3]}}
        },
        # sized for its two cores: Delta rebuilds a table's file list in 50 tasks by default, and four shuffle
        # partitions leave adaptive execution nothing to coalesce (conf/local's reasoning)
        "spark": {
            "shuffle_partitions": 4,
            "settings": {"spark.databricks.delta.snapshotPartitions": 2, "spark.sql.adaptive.enabled": False},
        },
    }
    span = (str(CLUSTER_DAYS.start), str(CLUSTER_DAYS.end))
    run = ClusterRun(root, root / "landing", overrides, span, s3_server).start(process_lane)
    yield run
    run.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 (tests/integration/object_store.py), once per session, stopped at its end; each
    user takes a bucket of its own."""
    from tests.integration.object_store import S3Server

    s3 = S3Server(tmp_path_factory.mktemp("s3"))
    try:
        yield s3.start()
    finally:
        s3.stop()


@pytest.fixture
def gated_settings(make_settings):
    """A project with one quarantining table, silver.test, whose suite a test writes."""
    settings = make_settings(
        {"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "quarantine", "max_quarantine_fraction": 1.0}}}}
    )
    # the suites live beside conf/ in the copied project
    settings.expectations_dir.mkdir(exist_ok=True)
    return settings


# The fixtures of the end-to-end runs: a test that reads one is in the e2e tier.
E2E_FIXTURES = {"january", "cadence_runs"}
# The tests whose process runs in the lane, in the lane's order, and the fixture that starts each.
IN_THE_LANE = {
    "tests/integration/test_cluster.py::": "cluster_run",
    "tests/integration/test_kill_resume.py::": "killed_run",
    "tests/integration/test_jobs.py::test_credentials": "unanswered_tracking_server",
}


@pytest.fixture(scope="session", autouse=True)
def processes_in_the_background(request):
    """The lane's runs, from the first integration test on, for the tests the session holds: the in-process
    tests leave about a third of two cores idle (single-threaded planning, Python), which the lane's
    low-priority processes take up."""
    for prefix, fixture in IN_THE_LANE.items():
        if any(item.nodeid.startswith(prefix) for item in request.session.items):
            request.getfixturevalue(fixture)


def _lane_order(item) -> int:
    """In-process tests first; then the tests of the lane's runs, in its order (each waits for its run); then the
    tests that start a process in the foreground, once the lane is done: no two separate processes at once."""
    if item.get_closest_marker("process") is None:
        return 0
    lane = [i for i, prefix in enumerate(IN_THE_LANE, start=1) if item.nodeid.startswith(prefix)]
    return lane[0] if lane else len(IN_THE_LANE) + 1


def pytest_collection_modifyitems(items):
    for item in items:
        if E2E_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=_lane_order)  # stable: each lane keeps the collection order
