"""The services of a lake on an object store, started by the tests on 127.0.0.1 and stopped by them: moto's
standalone S3 server (a real HTTP server speaking the S3 protocol, from PyPI, so it installs wherever the suite
does; MinIO has no PyPI or Debian package) and ``mlflow server`` (SQLite backend in a temporary folder, artifacts on
that S3 server, served to clients through the tracking server). Each start waits for its port, bounded; each stop
terminates the process, and kills it when it does not end in seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.cluster import free_port

BIN = Path(sys.executable).parent
# The requests that set a server checking credentials up (user, policy, access key, bucket) before it checks them.
SETUP_REQUESTS = 4
_SETUP_KEY = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
REGION = "us-east-1"
START_TIMEOUT = 60  # seconds


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{process.args[0]} did not listen on 127.0.0.1:{port} within {START_TIMEOUT} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@dataclass
class S3Server:
    """moto's S3 server with one bucket. One that ``checks_credentials`` does as S3 does: after the few requests that
    set it up (an IAM user allowed everything on S3, its access key, the bucket) every request must be signed with
    that key (moto then evaluates the user's policy on every request, which slows a whole pipeline down)."""

    root: Path
    checks_credentials: bool = False
    bucket: str = "featurelake-test"
    access_key: str = "featurelake-test-key"
    secret_key: str = "featurelake-test-secret-0a1b2c"
    process: subprocess.Popen | None = None
    port: int = 0

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def credentials(self) -> dict[str, str]:
        """The environment a client of this server gets its credentials from (S3A, boto3, MLflow)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key}

    def start(self) -> S3Server:
        self.port = free_port()
        log = self.root / "moto.log"
        self.root.mkdir(parents=True, exist_ok=True)
        setup = {"INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)} if self.checks_credentials else {}
        self.process = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env={**os.environ, **setup},
            process_group=0,
        )
        _wait_for_port(self.port, self.process, log)
        if self.checks_credentials:
            self._create_a_user_and_its_key()
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def _create_a_user_and_its_key(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION, **_SETUP_KEY)
        iam.create_user(UserName="featurelake")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
        iam.put_user_policy(UserName="featurelake", PolicyName="lake", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="featurelake")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
        )

    def upload(self, local: Path, prefix: str, bucket: str | None = None) -> None:
        """Every file under ``local`` to s3://<bucket>/<prefix>/<its relative path>."""
        client = self.client()
        for file in sorted(p for p in local.rglob("*") if p.is_file()):
            client.upload_file(str(file), bucket or self.bucket, f"{prefix}/{file.relative_to(local).as_posix()}")

    def keys(self, prefix: str, bucket: str | None = None) -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket or self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def hadoop_settings(self) -> dict[str, str]:
        """What a Spark session needs to reach this server through S3A (conf's spark.settings); no credential."""
        return {
            "spark.hadoop.fs.s3a.endpoint": self.endpoint,
            "spark.hadoop.fs.s3a.endpoint.region": REGION,
            "spark.hadoop.fs.s3a.path.style.access": "true",
            "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        }

    def read_delta(self, uri: str):
        """A Delta table on this server, read by delta-rs (no Spark, no Hadoop): a pyarrow Table."""
        from deltalake import DeltaTable

        options = {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_REGION": REGION,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ALLOW_HTTP": "true",
            "AWS_S3_ALLOW_UNSAFE_RENAME": "true",
        }
        return DeltaTable(uri.replace("s3a://", "s3://"), storage_options=options).to_pyarrow_table()


@dataclass
class TrackingServer:
    """``mlflow server``: runs and the registry in SQLite under ``root``, artifacts on the S3 server."""

    root: Path
    s3: S3Server
    bucket: str = ""  # where its artifacts go: the S3 server's bucket unless named
    prefix: tuple[str, ...] = ()  # put before the command, e.g. a lower priority for a background run's server
    process: subprocess.Popen | None = None
    port: int = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> TrackingServer:
        self.port = free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        log = self.root / "mlflow.log"
        env = {**os.environ, **self.s3.credentials, "MLFLOW_S3_ENDPOINT_URL": self.s3.endpoint}
        self.process = subprocess.Popen(
            [
                *self.prefix,
                str(BIN / "mlflow"),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'mlflow.db'}",
                "--artifacts-destination",
                f"s3://{self.bucket or self.s3.bucket}/mlflow",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],  # fmt: skip
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            env=env,
            process_group=0,
        )
        _wait_for_port(self.port, self.process, log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)


class Outage:
    """A TCP proxy on 127.0.0.1 in front of the S3 server that plays the server dying: once a request whose
    start holds the armed bytes (e.g. ``PUT /<bucket>/<table>/_delta_log/...01.json``) arrives, that request is
    never forwarded, every open connection is cut and the port refuses connections, as a killed server's does,
    until ``restore()``. (moto keeps its objects in memory: killing moto itself would lose what the test then
    reads back.) Clients reach the server through ``endpoint``; the test reads the truth from the server itself."""

    def __init__(self, s3: S3Server):
        self.s3 = s3
        self.port = free_port()
        self.armed: bytes | None = None
        self.cut = threading.Event()  # set when the armed request arrived and the "server" died
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Outage:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def arm(self, request_start: bytes) -> None:
        self.armed, self.cut = request_start, threading.Event()

    def restore(self) -> None:
        """The server is back, on the same port, with what it held."""
        self.armed = None
        self.start()

    def stop(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for connection in self._open:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.s3.port), timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_client: bool) -> None:
        tail = b""
        try:
            while chunk := source.recv(65536):
                if from_client and self.armed is not None and self.armed in tail + chunk:
                    self.cut.set()
                    self.stop()
                    return
                tail = chunk[-512:]
                sink.sendall(chunk)
        except OSError:  # a connection cut by stop() or by its peer: this direction ends
            return
        finally:
            for connection in (source, sink):
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
