"""A real Spark standalone cluster: a master and a worker on 127.0.0.1, started through the pyspark installation's
spark-class (tests/integration/cluster.py). The packaged artifacts are
spark-submitted from a directory where the source tree is not importable, by a Python that sees the
third-party packages but not featurelake; the Delta tables of its three days must equal the local-mode January
run's, and so must its training set's rows (only their split differs: the cluster's splits lie in its days)."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.featurestore.plan import SPLIT
from featurelake.lake.catalog import Catalog
from tests.integration.cluster import cluster_settings
from tests.integration.conftest import CLUSTER_DAYS, versions_the_january_run_left

pytestmark = [pytest.mark.integration, pytest.mark.process]

LINEAGE = ("_source_file", "_ingested_at", "_run_id")


def comparable(frame):
    return frame.drop(*(c for c in LINEAGE if c in frame.columns))


def test_packaged_jobs_on_a_standalone_cluster_write_the_tables_of_a_local_run(spark, january, cluster_run):
    local_settings, _ = january
    january_left = versions_the_january_run_left(spark, local_settings)

    def local_table(name: str):
        return comparable(Catalog(spark, local_settings).read_version(name, january_left[name]))

    run = cluster_run.result()
    assert not run.problem, run.problem
    assert run.importable_on_edge is False, "the source tree must not be importable where the job is submitted"
    assert run.returncode == 0, run.output[-8000:]
    assert f"training-set training_sets.flight_delay [{CLUSTER_DAYS}]: read " in run.output
    [app] = run.master["completedapps"]
    assert app["name"] == "featurelake" and app["state"] == "FINISHED" and app["cores"] == 2, app

    cluster = cluster_settings(run)
    window = F.col(RUN_DATE) <= F.lit(CLUSTER_DAYS.end).cast("date")
    tables = [
        *(f"{layer}.{source}" for layer in ("bronze", "silver") for source in ("flights", "weather", "planes")),
        *(local_settings.feature_table(g) for g in local_settings.feature_groups),
    ]
    for table in tables:
        on_cluster = comparable(Catalog(spark, cluster).read(table))
        local = local_table(table).where(window)
        assert on_cluster.count() == local.count() > 0, table
        assert on_cluster.exceptAll(local).isEmpty() and local.exceptAll(on_cluster).isEmpty(), table
    on_cluster = comparable(Catalog(spark, cluster).read("training_sets.flight_delay")).drop(SPLIT)
    local = local_table("training_sets.flight_delay").where(window).drop(SPLIT)
    assert on_cluster.count() == local.count() > 1000
    assert on_cluster.exceptAll(local).isEmpty() and local.exceptAll(on_cluster).isEmpty()
    ledger = Catalog(spark, cluster).read("ops.run_ledger")
    recorded = {
        (r["stage"], r["target"]): r["n"]
        for r in ledger.groupBy("stage", "target").agg(F.count("*").alias("n")).collect()
    }
    days = len(list(CLUSTER_DAYS.days()))
    assert recorded[("ingest", "flights")] == recorded[("features", "carrier_performance")] == days
    assert recorded[("ingest", "planes")] == 1 and recorded[("training_set", "flight_delay")] == 1
    assert not any(stage in ("train", "score", "monitor") for stage, _ in recorded)
