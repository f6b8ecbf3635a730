"""Integration fixtures: jobs run as real processes, and the two-week January pipeline that
test_training_set.py reads runs in the background (spark-submit, its own JVM) from the first integration
test on, so it overlaps the other tests instead of adding to them."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from featurelake.core.config import load_settings
from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings
from featurelake.core.spark import delta_coordinate
from tests.conftest import AT_LOW_PRIORITY, IGNORED, PROJECT, SHORT_LIVED_JVM

BIN = Path(sys.executable).parent

# The training set covers 1-14 January (its splits below); 15-18 are delivered too: the pipeline scores them
# as production days and monitors the 18th.
JANUARY_DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 18))
# The tests that read the January lake run last, so the others overlap its pipeline.
JANUARY_READERS = {
    f"tests.integration.{m}"
    for m in (
        "test_kill_resume",
        "test_training_set",
        "test_training",
        "test_scoring",
        "test_monitoring",
        "test_cluster",
    )
}
# Reads the lakes of the monthly, weekly and hourly projects, which run in the background meanwhile.
CADENCE_READER = "tests.integration.test_cadences"
# Reads the lake of the standalone-cluster run (tests/integration/cluster.py), which runs in the background too.
CLUSTER_READER = "tests.integration.test_cluster"
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


def job_env(settings) -> dict[str, str]:
    return {
        **os.environ,
        "FEATURELAKE_LAKE_ROOT": settings.lake_root,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def run_job(command: list[str], settings, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=job_env(settings), timeout=timeout, check=False)


def spark_submit_command(job: str, arguments: list[str]) -> list[str]:
    """spark-submit a job in local mode, the way a scheduler would (Delta from --packages), its driver a
    short-lived JVM (tests/conftest.py)."""
    return [
        str(BIN / "spark-submit"),
        "--master",
        "local[2]",
        "--driver-java-options",
        SHORT_LIVED_JVM,
        "--packages",
        delta_coordinate(),
        "--conf",
        f"spark.jars.ivySettings={PROJECT / 'conf' / 'ivysettings.xml'}",
        "--conf",
        "spark.ui.enabled=false",
        str(PROJECT / "jobs" / job),
        *arguments,
    ]


# The January run is SIGKILLed once, while it writes silver.flights (its data files are in the table's
# directory, its commit is not yet written), and the same command is started again: every reader of the
# January lake reads a resumed run. tests/integration/test_kill_resume.py checks the resumption itself.
KILLED_DURING = "silver/flights"


class KilledAndResumedJob:
    """A pipeline command run in the background, killed during a Delta write and started again."""

    def __init__(self, settings: Settings, command: list[str], logs: Path):
        self.settings, self.command = settings, command
        self.killed_log, self.resumed_log = logs / "killed.log", logs / "pipeline.log"
        self.files_at_kill: list[str] = []
        self.processes: list[subprocess.Popen] = []
        self._watcher = threading.Thread(target=self._kill_and_resume, daemon=True)
        self._watcher.start()

    def _start(self, log: Path) -> subprocess.Popen:
        with log.open("w") as sink:
            process = subprocess.Popen(
                [*AT_LOW_PRIORITY, *self.command],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=job_env(self.settings),
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def _kill_and_resume(self) -> None:
        first = self._start(self.killed_log)
        table = Path(self.settings.lake_root) / KILLED_DURING
        while first.poll() is None:
            written = [str(f.relative_to(table)) for f in table.glob("_run_date=*/*.parquet")] if table.is_dir() else []
            if written:
                os.killpg(first.pid, signal.SIGKILL)  # the driver and its JVM, as a lost machine would go
                first.wait()
                self.files_at_kill = written
                self._start(self.resumed_log)
                return
            time.sleep(0.02)

    def resolved(self, timeout: int = 900) -> None:
        """Wait until the run's last spark-submit has resolved its --packages (or the run ended): another
        spark-submit --packages at the same moment would share Ivy's cache with it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes and self.processes[-1].poll() is not None and not self._watcher.is_alive():
                return
            log = self.resumed_log if self.files_at_kill else None
            if log is not None and log.exists() and " artifacts copied" in log.read_text(errors="replace"):
                return
            time.sleep(1)

    def result(self, timeout: int = 900) -> tuple[int, str]:
        """Wait for the resumed run; its exit code and its output (spark-submit's Python runner sends the
        driver's stderr to stdout, so both are in one file)."""
        self._watcher.join(timeout=timeout)
        if not self.files_at_kill:
            return self.processes[0].wait(timeout=timeout), self.killed_log.read_text(errors="replace")
        code = self.processes[-1].wait(timeout=timeout)
        return code, self.resumed_log.read_text(errors="replace")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture(scope="session")
def january_pipeline(spark, demo_landing, tmp_path_factory):
    """spark-submit of jobs/pipeline.py over two real weeks of January 2013 (flights, weather and planes
    delivered; airports and airlines not, nothing downstream reads them), with the training set's splits
    moved into those weeks; killed once mid-write and run again. Started after the test session's Spark,
    so the Delta JARs are cached."""
    root = tmp_path_factory.mktemp("january")
    shutil.copytree(PROJECT / "conf", root / "conf")
    shutil.copytree(PROJECT / "expectations", root / "expectations")
    shutil.copytree(PROJECT / "features", root / "features", ignore=IGNORED)
    (root / "conf" / "local" / "zz_test.yaml").write_text(yaml.safe_dump(JANUARY_OVERRIDES))
    deliver_january(demo_landing, root / "lake" / "landing")
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURELAKE_LAKE_ROOT", str(root / "lake"))
    try:
        settings = load_settings("local", root / "conf")
    finally:
        patch.undo()
    span = ["--from", str(JANUARY_DAYS.start), "--to", str(JANUARY_DAYS.end)]
    # no --run-id: each run gets its own, so the ledger can be checked against the tables
    job = KilledAndResumedJob(
        settings, spark_submit_command("pipeline.py", ["--conf-dir", str(root / "conf"), *span]), root
    )
    yield job
    job.stop()


class CadenceRuns:
    """`featurelake run --conf-dir` of each project of tests/cadence_projects.py over its whole range, one
    after another in the background, each in its own process (a project brings its own features package).
    The monthly project then has one month re-delivered, corrected, and is run again over its last two months
    (``monthly-redelivered``): the runner must notice the new delivery. The hourly project runs under
    TZ=America/Los_Angeles, and its tables must be what a UTC process would write."""

    def __init__(self, root: Path):
        from tests.cadence_projects import HOURLY, WEEKLY, monthly, write_project

        self.projects = {s.cadence: (write_project(root, s), s) for s in (monthly(), WEEKLY, HOURLY)}
        self.results: dict[str, tuple[int, str]] = {}
        self.process: subprocess.Popen | None = None
        self._stopped = False
        self._thread = threading.Thread(target=self._run_all, daemon=True)
        self._thread.start()

    def _run_all(self) -> None:
        from tests.cadence_projects import redeliver_corrected

        for cadence, (project, shape) in self.projects.items():
            self._run(cadence, project, shape.run_dates)
            if cadence == "monthly":
                redeliver_corrected(project, shape)
                self._run("monthly-redelivered", project, DateRange(shape.periods[-2], shape.run_dates.end))

    def _run(self, name: str, project: Path, span: DateRange) -> None:
        if self._stopped:
            return
        lake = project / "lakehouse"
        env = {**os.environ, "FEATURELAKE_LAKE_ROOT": str(lake), "PYSPARK_PYTHON": sys.executable}
        if name == "hourly":  # the engine's times must not depend on the process's time zone
            env["TZ"] = "America/Los_Angeles"
        dates = ["--from", str(span.start), "--to", str(span.end)]
        command = [*AT_LOW_PRIORITY, str(BIN / "featurelake"), "run", "--conf-dir", str(project / "conf"), *dates]
        log = project / f"{name}.log"
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=project, start_new_session=True
            )
            code = self.process.wait(timeout=900)
        self.results[name] = (code, log.read_text(errors="replace"))

    def __call__(self, cadence: str) -> tuple[Path, str]:
        """The lake of a project once its run has finished (the run must have exited 0), and its output."""
        self._thread.join(timeout=1800)
        code, output = self.results[cadence]
        problems = [line for line in output.splitlines() if line.startswith("featurelake")]
        assert code == 0, "\n".join(problems) or output[-3000:]
        return self.projects[cadence.split("-")[0]][0] / "lakehouse", output

    def stop(self) -> None:
        self._stopped = True
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="session")
def cadence_runs(spark, tmp_path_factory):
    # from the start, beside the January pipeline: the two chains (January then the cluster run, and the three
    # projects) each take about as long, and the foreground tests leave room for both on two cores
    runs = CadenceRuns(tmp_path_factory.mktemp("cadences"))
    yield runs
    runs.stop()


def pytest_collection_modifyitems(items):
    # stable: the January readers late, the cadence readers last, so the other tests overlap the background runs
    items.sort(key=lambda item: (item.module.__name__ == CADENCE_READER, item.module.__name__ in JANUARY_READERS))


# The background runs, each started at the session's start when a test that reads it was collected.
BACKGROUND = {"january_pipeline": JANUARY_READERS, "cadence_runs": {CADENCE_READER}, "cluster_run": {CLUSTER_READER}}


@pytest.fixture(scope="session", autouse=True)
def _start_the_background_runs_early(request):
    collected = {item.module.__name__ for item in request.session.items}
    for fixture, readers in BACKGROUND.items():
        if collected & set(readers):
            request.getfixturevalue(fixture)


# The cluster run's days: enough for every feature group's windows and a training set with its three splits.
CLUSTER_DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 4))
CLUSTER_SPLITS = {
    "train": {"from": "2013-01-01", "to": "2013-01-02"},
    "validation": {"from": "2013-01-03", "to": "2013-01-03"},
    "test": {"from": "2013-01-04", "to": "2013-01-04"},
}


@pytest.fixture(scope="session")
def cluster_run(january_pipeline, demo_landing, tmp_path_factory):
    """tests/integration/cluster.py's run on a standalone cluster over four days of January, delivered as the
    January pipeline's are. It starts with the session, beside the other background runs; only its
    spark-submit waits until the January run's own has resolved the Delta package. The gates decide nothing
    there (the January run quarantined no row), and GX is what a two-core cluster is slowest at; without them
    the tables must still come out equal to the January run's for those days."""
    from tests.integration.cluster import ClusterRun

    root = tmp_path_factory.mktemp("cluster")
    deliver_january(demo_landing, root / "landing", CLUSTER_DAYS)
    ungated = {name: {"gate": None} for name in load_settings("local", PROJECT / "conf").tables}
    overrides = {
        **JANUARY_OVERRIDES,
        "training_sets": {"flight_delay": {"splits": CLUSTER_SPLITS}},
        "tables": ungated,
        "spark": {"shuffle_partitions": 4},
    }
    span = (str(CLUSTER_DAYS.start), str(CLUSTER_DAYS.end))
    run = ClusterRun(root, root / "landing", overrides, span, before_submit=january_pipeline.resolved)
    yield run
    run.stop()


@pytest.fixture(scope="session")
def january(january_pipeline):
    """Settings and output of the spark-submitted pipeline over two weeks of January, once it has finished."""
    code, output = january_pipeline.result()
    problems = [line for line in output.splitlines() if line.startswith("featurelake")]
    assert code == 0, "\n".join(problems) or output[-3000:]
    return january_pipeline.settings, output


# ---------------------------------------------------------------------------------------------- browser


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium(what: str) -> None:
    """Skip a browser test where Chromium is missing, except under CI, where .ci/run installs it."""
    if chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {what} browser test: .ci/run installs Debian's chromium")
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it and runs this test")


def dump_dom(url: str, profile: Path, *flags: str) -> str:
    """The DOM of a page after headless Chromium loaded it (and ran its scripts)."""
    result = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            *flags,
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


IMAGE_PROBE = (
    "<script>window.addEventListener('load', () => { document.body.setAttribute('data-images', "
    "JSON.stringify([...document.images].map(i => [i.alt, i.complete ? i.naturalWidth : 0]))); });</script>"
)


def decoded_images(page: str, directory: Path) -> tuple[str, list]:
    """A copy of an HTML page opened in headless Chromium with a probe script appended: its DOM, and the
    [alt, decoded width] of every image (0 for one the browser could not decode)."""
    probe = directory / "probe.html"
    probe.write_text(page.replace("</body>", IMAGE_PROBE + "</body>"))
    dom = dump_dom(probe.as_uri(), directory / "chromium")
    return dom, json.loads(re.search(r'data-images="([^"]*)"', dom).group(1).replace("&quot;", '"'))


@pytest.fixture
def gated_settings(make_settings):
    """A project with one quarantining table, silver.test, whose suite a test writes."""
    settings = make_settings(
        {"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "quarantine", "max_quarantine_fraction": 1.0}}}}
    )
    # the suites live beside conf/ in the copied project
    settings.expectations_dir.mkdir(exist_ok=True)
    return settings
