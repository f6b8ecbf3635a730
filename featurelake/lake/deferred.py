"""Appends that land a moment after the step that made them: the rows a run adds to its bookkeeping tables (the run
ledger's row of a finished step, its gate's results in quality.results) are appended on one writer thread of the
session, in the order they were made, while the next step runs.

Why: a one-row Delta append costs a third of a second of mostly single-threaded driver work (planning, the log,
the commit), and a step makes two. On two cores the next step's work hides them: a forced day of the demo's
ingest, refine and features steps, one at a time, took 28-33 s against 37-40 s in alternating processes, and
`python -m bench.steps` put it at 60x a one-row Parquet write against 101x before.

What holds (featurelake.lake.catalog.Catalog.deferred_appends opens and closes them):

- read your writes: a read, write or version of a table through the catalog waits for that table's pending
  appends first (a step's anomaly check reads the quality history the steps before it recorded);
- nothing lost: the block that opened them ends once every append landed, and a failed append fails it (when the
  block itself failed, its own error is the one raised);
- a process killed in between loses the last steps' ledger rows, so those steps run again on the next run: each
  of their writes replaces its slice, so nothing lands twice.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from pyspark.sql import SparkSession

from featurelake.core.spark import session_thread

_WRITER = threading.local()  # set on the writer thread: its own appends never wait for themselves


class DeferredAppends:
    """One writer thread and the appends it has been given, by table."""

    def __init__(self, spark: SparkSession):
        self._spark = spark
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurelake-appends")
        self._pending: dict[str, list[Future]] = {}
        self._given: list[Future] = []  # every append, in the order given
        self._lock = threading.Lock()

    def submit(self, name: str, append: Callable[[], object]) -> None:
        """Run ``append`` (an append to table ``name``) on the writer thread, after those given before it."""

        def on_the_writer() -> object:
            _WRITER.active = True
            return append()

        future = self._pool.submit(session_thread(self._spark, on_the_writer))
        with self._lock:
            self._pending.setdefault(name, []).append(future)
            self._given.append(future)

    def wait_for(self, name: str) -> None:
        """Return once the table's appends given so far landed (raising the first one's failure)."""
        if getattr(_WRITER, "active", False):
            return
        with self._lock:
            futures = list(self._pending.get(name, ()))
        for future in futures:
            future.result()

    def close(self) -> BaseException | None:
        """Wait for every append; the first failure, if any (the writer thread is gone after)."""
        self._pool.shutdown(wait=True)
        with self._lock:
            given = list(self._given)
        return next((f.exception() for f in given if f.exception() is not None), None)
