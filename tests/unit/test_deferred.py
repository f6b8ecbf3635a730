"""A run's bookkeeping appends on the catalog's writer thread (featurelake.lake.deferred): a read of the table waits
for what was given before it, every append has landed when the block ends, in the order given, and a failed append
fails the block unless the block failed first."""

from __future__ import annotations

import threading

import pytest
from pyspark.errors import AnalysisException

from featurelake.lake.catalog import Catalog
from featurelake.testing import frame_of

LOG = "n int, thread string"


def test_appends_land_in_order_and_a_read_waits_for_them(spark, settings):
    catalog = Catalog(spark, settings)
    given_on = threading.current_thread().name
    with catalog.deferred_appends():
        for n in range(3):
            catalog.append_later(frame_of(spark, [(n, given_on)], LOG), "ops.run_ledger")
        seen = sorted(r["n"] for r in catalog.read("ops.run_ledger").collect())  # waits for the three
        catalog.append_later(frame_of(spark, [(3, given_on)], LOG), "ops.run_ledger")
    assert seen == [0, 1, 2]
    # one commit per append, in the order given: version v holds the rows 0..v
    versions = sorted(h["version"] for h in _history(spark, catalog))
    held = [sorted(r["n"] for r in catalog.read_version("ops.run_ledger", v).collect()) for v in versions]
    assert held == [[0], [0, 1], [0, 1, 2], [0, 1, 2, 3]]


def test_outside_a_run_an_append_is_made_at_once(spark, settings):
    catalog = Catalog(spark, settings)
    catalog.append_later(frame_of(spark, [(7, "now")], LOG), "ops.run_ledger")
    assert [tuple(r) for r in catalog.read("ops.run_ledger").collect()] == [(7, "now")]


def test_a_failed_append_fails_the_block_and_the_blocks_own_error_comes_first(spark, settings):
    catalog = Catalog(spark, settings)
    catalog.append(frame_of(spark, [(1, "a")], LOG), "ops.run_ledger")
    wrong = frame_of(spark, [("not a number", "b")], "n string, thread string")  # no merge_schema: refused
    with pytest.raises(AnalysisException), catalog.deferred_appends():
        catalog.append_later(wrong, "ops.run_ledger")
    with pytest.raises(ZeroDivisionError), catalog.deferred_appends():
        catalog.append_later(wrong, "ops.run_ledger")
        raise ZeroDivisionError("the step's own failure")
    # nothing of either landed; the catalog appends at once again
    catalog.append_later(frame_of(spark, [(2, "c")], LOG), "ops.run_ledger")
    assert sorted(tuple(r) for r in catalog.read("ops.run_ledger").collect()) == [(1, "a"), (2, "c")]


def _history(spark, catalog: Catalog) -> list:
    from delta.tables import DeltaTable

    return DeltaTable.forPath(spark, catalog.path("ops.run_ledger")).history().collect()  # bounded: a few commits
