"""The standalone-cluster run of tests/integration/test_cluster.py: a master and one worker (two cores, one
executor) on 127.0.0.1 started through the pyspark installation's spark-class, and README's standalone commands
(read from README.md) submitting the packaged artifacts (deploy/package.py, as `make package` builds them) from a
directory where the source tree is not importable, by a Python that sees the third-party packages but not
featurelake. The lake is on the session's S3 server (a bucket of its own), MLflow is a tracking server of its own
with its artifacts there; the credentials are in the environment of the submitting shell and of the worker. It
stops the cluster and the tracking server when the submission ends, whatever happened."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from concurrent.futures import Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
import pytest
import yaml

from featurelake.core.config import load_settings
from featurelake.core.jars import delta_coordinate
from tests.conftest import AT_LOW_PRIORITY, PROJECT, SHORT_LIVED_JVM

BIN = Path(sys.executable).parent
STAGES = "ingest,refine,features,training_set,train"
BUCKET = "featurelake-cluster"
README = PROJECT / "README.md"
SUBMIT_TIMEOUT = 900  # seconds, beside the in-process tests


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


def master_state(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def alive_workers(url: str) -> int:
    """Workers registered with the master; 0 while the master is not listening yet."""
    try:
        return master_state(url).get("aliveworkers", 0)
    except OSError:
        return 0


@dataclass
class ClusterResult:
    """What the run left: the submission's exit code and output, the master's final state, where it wrote."""

    returncode: int | None = None
    output: str = ""
    master: dict = field(default_factory=dict)
    importable_on_edge: bool | None = None  # whether `import featurelake` worked where the job was submitted
    problem: str = ""  # the cluster did not come up, or the run broke before submitting
    lake: str = ""
    tracking_uri: str = ""
    submit_dir: Path | None = None
    command: list[str] = field(default_factory=list)  # what was submitted


def readme_standalone() -> tuple[dict[str, str], list[str]]:
    """README's standalone commands: the variables it exports and its spark-submit, continuation lines joined."""
    section = README.read_text().split("\nStandalone (client mode", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    exports, submit = {}, []
    for words in (shlex.split(line, comments=True) for line in block.splitlines()):
        if words[:1] == ["export"]:
            exports.update(word.split("=", 1) for word in words[1:])
        elif words[:1] == ["spark-submit"]:
            submit = words
    return exports, submit


def put_in(words: list[str], master: str, dist: Path, span: tuple[str, str]) -> list[str]:
    """README's spark-submit with this machine's master, the artifacts' folder and the run's dates put in."""
    values = {"--master": master, "--from": span[0], "--to": span[1]}
    filled = []
    for i, word in enumerate(words):
        if i and words[i - 1] in values:
            word = values[words[i - 1]]
        elif word.startswith("dist/"):
            word = str(dist / word.removeprefix("dist/"))
        filled.append(word)
    return filled


class ClusterRun:
    """The run, submitted to the suite's process lane (tests/integration/conftest.py); ``result()`` waits for it."""

    def __init__(self, root: Path, landing: Path, overrides: dict, span: tuple[str, str], s3):
        from tests.integration.object_store import TrackingServer

        self.root, self.landing, self.span, self.s3 = root, landing, span, s3
        self.overrides = {**overrides, "spark": {**overrides.get("spark", {})}}
        settings = self.overrides["spark"].get("settings", {})
        self.overrides["spark"]["settings"] = {**settings, **s3.hadoop_settings()}
        # the server of a background run: at its low priority too (its start alone is 10-20 CPU-seconds of Python)
        self.tracking = TrackingServer(root / "mlflow", s3, bucket=BUCKET, prefix=tuple(AT_LOW_PRIORITY))
        self.outcome = ClusterResult(lake=f"s3a://{BUCKET}/lake", submit_dir=root / "submit")
        self.processes: list[subprocess.Popen] = []
        self._stopped = False
        self._done: Future | None = None

    def start(self, lane: Executor) -> ClusterRun:
        self._done = lane.submit(self._run)
        return self

    def result(self, timeout: int = 1200) -> ClusterResult:
        wait([self._done], timeout=timeout)
        return self.outcome

    def stop(self) -> None:
        self._stopped = True
        self._stop_processes()

    def _run(self) -> None:
        try:
            if not self._stopped:
                self._submit_to_a_cluster()
        except Exception as error:  # reported by the test, never lost in a thread
            self.outcome.problem = f"{type(error).__name__}: {error}"
        finally:
            self._stop_processes()
            self.tracking.stop()

    def _submit_to_a_cluster(self) -> None:
        dist, submit_dir = self.root / "dist", self.outcome.submit_dir
        subprocess.run([sys.executable, str(PROJECT / "deploy" / "package.py"), "--out", str(dist)], check=True)
        submit_dir.mkdir()  # what an edge node holds: the artifacts, unpacked conf, nothing else
        with tarfile.open(dist / "featurelake_conf.tar.gz") as archive:
            archive.extractall(submit_dir, filter="data")
        (submit_dir / "conf" / "cluster" / "zz_test.yaml").write_text(yaml.safe_dump(self.overrides))
        python = bare_python(self.root / "env")
        probe = subprocess.run([str(python), "-c", "import featurelake"], cwd=submit_dir, capture_output=True)
        self.outcome.importable_on_edge = probe.returncode == 0
        self.s3.client().create_bucket(Bucket=BUCKET)
        self.s3.upload(self.landing, "lake/landing", bucket=BUCKET)
        self.outcome.tracking_uri = self.tracking.start().uri
        master, master_json = self._start_cluster()
        if master is None:
            return
        if self._stopped:
            return
        exports, readme = readme_standalone()
        assert readme[:1] == ["spark-submit"] and exports.keys() == {"FEATURELAKE_LAKE_ROOT", "MLFLOW_TRACKING_URI"}
        assert delta_coordinate() in readme[readme.index("--packages") + 1].split(",")
        sized = [
            "--conf", "spark.ui.enabled=false",
            "--conf", "spark.executor.cores=2",
            "--conf", "spark.executor.memory=1g",
            "--conf", f"spark.executor.extraJavaOptions={SHORT_LIVED_JVM}",
        ]  # fmt: skip
        filled = put_in(readme, master, dist, self.span)
        command = [str(BIN / "spark-submit"), *sized, *filled[1:], "--run-id", "cluster", "--stages", STAGES]
        self.outcome.command = command
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "FEATURELAKE"))}
        env.update(
            {
                "PYSPARK_PYTHON": str(python),
                "PYSPARK_DRIVER_PYTHON": str(python),
                "FEATURELAKE_LAKE_ROOT": exports["FEATURELAKE_LAKE_ROOT"].replace("my-bucket", BUCKET),
                "MLFLOW_TRACKING_URI": self.outcome.tracking_uri,
                "SPARK_SUBMIT_OPTS": SHORT_LIVED_JVM,  # the driver's JVM
                **self.s3.credentials,
            }
        )
        assert env["FEATURELAKE_LAKE_ROOT"] == self.outcome.lake
        result = subprocess.run(
            [*AT_LOW_PRIORITY, *command],
            cwd=submit_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=SUBMIT_TIMEOUT,
        )
        self.outcome.returncode, self.outcome.output = result.returncode, result.stdout + result.stderr
        (self.root / "submit.log").write_text(self.outcome.output)  # for a reader of a failure
        self.outcome.master = master_state(master_json)

    def _start_cluster(self) -> tuple[str | None, str | None]:
        env = {**os.environ, "SPARK_HOME": str(Path(pyspark.__file__).parent), "SPARK_LOCAL_IP": "127.0.0.1"}
        env.update(self.s3.credentials)  # a worker node's own: its executors read and write the lake
        # every JVM of the cluster is short-lived and shares two cores with the test session's: the quick JIT
        # tier spends less CPU on compiling than it would win back within their minutes
        env["SPARK_DAEMON_JAVA_OPTS"] = SHORT_LIVED_JVM
        port, ui = free_port(), free_port()
        logs = self.root / "cluster-logs"
        logs.mkdir()
        commands = [["org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]]
        commands[0] += ["--webui-port", str(ui)]
        commands.append(
            ["org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1"]
            + ["--cores", "2", "--memory", "2g", "--webui-port", str(free_port())]
            + ["--work-dir", str(self.root / "worker")]
        )
        for i, command in enumerate(commands):
            with (logs / f"{i}.log").open("w") as sink:
                self.processes.append(
                    subprocess.Popen(
                        [*AT_LOW_PRIORITY, str(BIN / "spark-class"), *command],
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                        env=env,
                        process_group=0,
                    )
                )
        deadline = time.monotonic() + 90
        while alive_workers(f"http://127.0.0.1:{ui}/json/") < 1:
            if time.monotonic() > deadline or self._stopped:
                logged = "\n".join(p.read_text()[-1500:] for p in logs.iterdir())
                self.outcome.problem = f"the standalone cluster did not come up:\n{logged}"
                return None, None
            time.sleep(1)
        return f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}/json/"

    def _stop_processes(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []


def cluster_settings(run: ClusterResult):
    """The settings the cluster run used, read the way its driver read them."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURELAKE_LAKE_ROOT", run.lake)
    try:
        return load_settings("cluster", run.submit_dir / "conf")
    finally:
        patch.undo()
