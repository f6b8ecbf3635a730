"""What one command may keep in memory while it runs, and must drop when it ends.

A command (``featurelake <command>``, one call of ``featurelake.ops.cli.main``) opens a scope when it takes its
SparkSession (``core.spark.session_for``); state read from the lake that later steps of the same command reuse
(e.g. the quality history anomaly detection compares against) lives in that scope's caches. The next command, in
this process or another, starts with none of it: several runs in one process (a notebook, the test suite) never
see each other's state, and each reads what other processes wrote meanwhile. Outside a command nothing is kept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_CACHES: ContextVar[dict[str, dict] | None] = ContextVar("featurelake_command_caches", default=None)


@contextmanager
def command_scope() -> Iterator[None]:
    """The caches of one command, empty at its start and dropped at its end."""
    token = _CACHES.set({})
    try:
        yield
    finally:
        _CACHES.reset(token)


def command_cache(name: str) -> dict:
    """This command's cache called ``name`` (outside a command: a new empty dict each time, so nothing is kept)."""
    caches = _CACHES.get()
    return {} if caches is None else caches.setdefault(name, {})
