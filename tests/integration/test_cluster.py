"""A real Spark standalone cluster: a master and two workers on 127.0.0.1, started through the pyspark
installation's spark-class. The packaged artifacts (deploy/package.py, as `make package` builds them) are
spark-submitted from a directory where the source tree is not importable, by a Python that sees the
third-party packages but not featurelake; the Delta tables must equal the local-mode January run's."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest
import yaml
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.config import load_settings
from featurelake.core.spark import delta_coordinate
from featurelake.lake.catalog import Catalog
from tests.conftest import PROJECT
from tests.integration.conftest import BIN, JANUARY_OVERRIDES, JANUARY_SPLITS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LAST_DAY = JANUARY_SPLITS["test"]["to"]  # the days of the training set's window
STAGES = "ingest,refine,features,training_set"
LINEAGE = ("_source_file", "_ingested_at", "_run_id")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bare_python(root: Path) -> Path:
    """A virtual environment that sees the main one's third-party packages, but not its editable featurelake
    (a .pth line adds a directory to sys.path without running the .pth hooks inside it)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    site = next((root / "lib").glob("python3*/site-packages"))
    main_site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and (p / "pyspark").is_dir())
    (site / "third_party.pth").write_text(f"{main_site}\n")
    return root / "bin" / "python"


@pytest.fixture
def standalone_cluster(tmp_path):
    env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1"}
    port, ui = free_port(), free_port()
    logs = tmp_path / "cluster-logs"
    logs.mkdir()
    commands = [["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]]
    commands[0] += ["--webui-port", str(ui)]
    for i in range(2):
        commands.append(
            ["org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1"]
            + [
                "--cores",
                "1",
                "--memory",
                "2g",
                "--webui-port",
                str(free_port()),
                "--work-dir",
                str(tmp_path / f"w{i}"),
            ]
        )
    processes = []
    try:
        for i, command in enumerate(commands):
            with (logs / f"{i}.log").open("w") as sink:
                processes.append(
                    subprocess.Popen(
                        [str(BIN / "spark-class"), *command],
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        env=env,
                        start_new_session=True,
                    )
                )
        deadline = time.monotonic() + 90
        while alive_workers(f"http://127.0.0.1:{ui}/json/") < 2:
            if time.monotonic() > deadline:
                pytest.fail(
                    "the standalone cluster did not come up:\n"
                    + "\n".join(p.read_text()[-1500:] for p in logs.iterdir())
                )
            time.sleep(1)
        yield f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}/json/"
    finally:  # stopped whatever the test did
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def master_state(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def alive_workers(url: str) -> int:
    """Workers registered with the master; 0 while the master is not listening yet."""
    try:
        return master_state(url).get("aliveworkers", 0)
    except OSError:
        return 0


def comparable(frame):
    return frame.drop(*(c for c in LINEAGE if c in frame.columns))


def test_packaged_jobs_on_a_standalone_cluster_write_the_tables_of_a_local_run(
    spark, january, standalone_cluster, tmp_path
):
    local_settings, _ = january
    master, master_json = standalone_cluster
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, str(PROJECT / "deploy" / "package.py"), "--out", str(dist)], check=True)
    submit_dir = tmp_path / "submit"  # what an edge node holds: the artifacts, unpacked conf, nothing else
    submit_dir.mkdir()
    with tarfile.open(dist / "featurelake_conf.tar.gz") as archive:
        archive.extractall(submit_dir, filter="data")
    # The gates decide nothing here (the January run quarantined no row), and GX's many small jobs are what
    # a two-core cluster is slowest at; without them the tables must still come out equal.
    ungated = {name: {"gate": None} for name in load_settings("local", PROJECT / "conf").tables}
    overrides = {**JANUARY_OVERRIDES, "tables": ungated, "spark": {"shuffle_partitions": 4}}
    (submit_dir / "conf" / "cluster" / "zz_test.yaml").write_text(yaml.safe_dump(overrides))
    python = bare_python(tmp_path / "env")
    probe = subprocess.run([str(python), "-c", "import featurelake"], cwd=submit_dir, capture_output=True, check=False)
    assert probe.returncode != 0, "the source tree must not be importable where the job is submitted"

    lake = tmp_path / "lake"
    shutil.copytree(Path(local_settings.landing_root), lake / "landing")
    command = [
        str(BIN / "spark-submit"),
        "--master", master,
        "--packages", delta_coordinate(),
        "--conf", "spark.jars.ivySettings=conf/ivysettings.xml",
        "--conf", "spark.ui.enabled=false",
        "--conf", "spark.executor.cores=1",
        "--conf", "spark.executor.memory=1g",
        "--py-files", str(dist / "featurelake_code.zip"),
        str(dist / "jobs" / "pipeline.py"),
        "--env", "cluster", "--conf-dir", "conf", "--run-id", "cluster",
        "--from", JANUARY_SPLITS["train"]["from"], "--to", LAST_DAY, "--stages", STAGES,
    ]  # fmt: skip
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV", "FEATURELAKE"))
    }
    env.update(
        {"PYSPARK_PYTHON": str(python), "PYSPARK_DRIVER_PYTHON": str(python), "FEATURELAKE_LAKE_ROOT": str(lake)}
    )
    result = subprocess.run(command, cwd=submit_dir, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "training-set training_sets.flight_delay [2013-01-01..2013-01-14]: read " in result.stdout
    [app] = master_state(master_json)["completedapps"]
    assert app["name"] == "featurelake" and app["state"] == "FINISHED" and app["cores"] == 2, app

    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURELAKE_LAKE_ROOT", str(lake))
    try:
        cluster_settings = load_settings("cluster", submit_dir / "conf")
    finally:
        patch.undo()
    window = F.col(RUN_DATE) <= F.lit(LAST_DAY).cast("date")
    tables = [
        *(f"{layer}.{source}" for layer in ("bronze", "silver") for source in ("flights", "weather", "planes")),
        *(local_settings.feature_table(g) for g in local_settings.feature_groups),
    ]
    for table in tables:
        on_cluster = comparable(Catalog(spark, cluster_settings).read(table))
        local = comparable(Catalog(spark, local_settings).read(table).where(window))
        assert on_cluster.count() == local.count() > 0, table
        assert on_cluster.exceptAll(local).isEmpty() and local.exceptAll(on_cluster).isEmpty(), table
    on_cluster = comparable(Catalog(spark, cluster_settings).read("training_sets.flight_delay"))
    local = comparable(Catalog(spark, local_settings).read("training_sets.flight_delay"))
    assert on_cluster.count() == local.count() > 5000
    assert on_cluster.exceptAll(local).isEmpty() and local.exceptAll(on_cluster).isEmpty()
    ledger = Catalog(spark, cluster_settings).read("ops.run_ledger")
    recorded = {
        (r["stage"], r["target"]): r["n"]
        for r in ledger.groupBy("stage", "target").agg(F.count("*").alias("n")).collect()
    }
    assert recorded[("ingest", "flights")] == recorded[("features", "carrier_performance")] == 14
    assert recorded[("ingest", "planes")] == 1 and recorded[("training_set", "flight_delay")] == 1
    assert not any(stage in ("train", "score", "monitor") for stage, _ in recorded)
