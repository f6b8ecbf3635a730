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
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from featurelake.config import Settings, load_settings
from featurelake.lake import DateRange
from featurelake.spark import delta_coordinate
from tests.conftest import IGNORED, PROJECT

BIN = Path(sys.executable).parent

# The training set covers 1-14 January (its splits below); 15-18 are delivered too: the pipeline scores them
# as production days and monitors the 18th.
JANUARY_DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 18))
# The tests that read the January lake run last, so the others overlap its pipeline.
JANUARY_READERS = {
    f"tests.integration.{m}"
    for m in ("test_training_set", "test_training", "test_scoring", "test_monitoring", "test_cluster")
}
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
    "monitoring": {"window_days": 4, "psi_bins": 4, "history_days": 10},
}


# bronze gates only warn and are tested on their own; without them the run costs the suite less
JANUARY_OVERRIDES = {
    "training_sets": {"flight_delay": {"splits": JANUARY_SPLITS}},
    "tables": {f"bronze.{source}": {"gate": None} for source in ("flights", "weather", "planes")},
    "models": {"flight_delay": JANUARY_MODEL},
}


def deliver_january(demo_landing: Path, landing: Path) -> None:
    for source in ("flights", "weather"):
        for day in JANUARY_DAYS.days():
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
    """spark-submit a job in local mode, the way a scheduler would (Delta from --packages)."""
    return [
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


@dataclass
class BackgroundJob:
    settings: Settings
    process: subprocess.Popen
    output: Path

    def result(self, timeout: int = 900) -> tuple[int, str]:
        """Wait for the job; its exit code and its output (spark-submit's Python runner sends the driver's
        stderr to stdout, so both are in one file)."""
        code = self.process.wait(timeout=timeout)
        return code, self.output.read_text(errors="replace")


@pytest.fixture(scope="session")
def january_pipeline(spark, demo_landing, tmp_path_factory):
    """spark-submit of jobs/pipeline.py over two real weeks of January 2013 (flights, weather and planes
    delivered; airports and airlines not, nothing downstream reads them), with the training set's splits
    moved into those weeks. Started after the test session's Spark, so the Delta JARs are cached."""
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
    command = spark_submit_command("pipeline.py", ["--conf-dir", str(root / "conf"), *span, "--run-id", "jan"])
    output = root / "pipeline.log"
    with output.open("w") as sink:
        process = subprocess.Popen(
            command, stdout=sink, stderr=subprocess.STDOUT, env=job_env(settings), start_new_session=True
        )
    yield BackgroundJob(settings, process, output)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.module.__name__ in JANUARY_READERS)  # stable: readers last


@pytest.fixture(scope="session", autouse=True)
def _start_the_january_pipeline_early(request):
    if any(item.module.__name__ in JANUARY_READERS for item in request.session.items):
        request.getfixturevalue("january_pipeline")


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
