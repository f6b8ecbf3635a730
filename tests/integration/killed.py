"""The killed run of tests/integration/test_kill_resume.py: `featurelake run` in a process of its own, over two real
January days, ingest and refine only, ungated, SIGKILLed with its JVM (its process group, as a lost machine would
go) once a data file of silver.flights exists: its data files are in the table's directory, its commit is not
yet written. It runs in the suite's process lane (tests/integration/conftest.py); the test resumes it in the
session's process."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path

from featurelake.core.dates import DateRange
from featurelake.core.settings import Settings
from tests.conftest import AT_LOW_PRIORITY

DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 2))
KILLED_DURING = "silver/flights"
TIMEOUT = 600  # seconds, the killed process


@dataclass
class Killed:
    settings: Settings
    argv: list[str]  # the command killed, to be run again
    files_at_kill: list[str]  # silver.flights data files present when it was killed
    printed: str  # what the killed process printed


def kill_during_a_write(command: list[str], env: dict[str, str], lake: Path, log: Path) -> tuple[list[str], str]:
    """Start ``command``, SIGKILL its process group once a data file of silver.flights exists; the files then
    present and what it printed."""
    table = lake / KILLED_DURING
    with log.open("w") as sink:
        first = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, process_group=0)
    written: list[str] = []
    deadline = time.monotonic() + TIMEOUT
    try:
        while first.poll() is None and time.monotonic() < deadline:
            written = [str(f.relative_to(table)) for f in table.glob("_run_date=*/*.parquet")] if table.is_dir() else []
            if written:
                break
            time.sleep(0.02)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    return written, log.read_text(errors="replace")


def start(lane: Executor, settings: Settings, argv: list[str], env: dict[str, str], log: Path) -> Future:
    """``featurelake <argv>``, killed during its write of silver.flights, submitted to the lane (at low priority):
    a future of its ``Killed``."""
    command = [*AT_LOW_PRIORITY, str(Path(sys.executable).parent / "featurelake"), *argv]

    def run() -> Killed:
        files, printed = kill_during_a_write(command, env, Path(settings.lake_root), log)
        return Killed(settings, argv, files, printed)

    return lane.submit(run)
