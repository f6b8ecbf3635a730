"""A real Spark standalone cluster: a master and a worker on 127.0.0.1, started through the pyspark installation's
spark-class (tests/integration/cluster.py), running README's standalone commands against a lake on an S3 server and
an MLflow tracking server. The packaged artifacts are spark-submitted from a directory where the source tree is not
importable, by a Python that sees the third-party packages but not featurelake; the Delta tables of its four days
must equal the local-mode January run's, and so must its training set's rows (only their split differs: the
cluster's splits lie in its days); its model is registered through the tracking server, its files on the store."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.spark import session_for
from featurelake.featurestore.plan import SPLIT
from featurelake.lake.catalog import Catalog
from tests.integration.cluster import BUCKET, cluster_settings
from tests.integration.conftest import CLUSTER_DAYS, CLUSTER_SPLITS, process_environment, versions_the_january_run_left

pytestmark = [pytest.mark.integration, pytest.mark.process]

LINEAGE = ("_source_file", "_ingested_at", "_run_id")


def comparable(frame):
    return frame.drop(*(c for c in LINEAGE if c in frame.columns))


def test_packaged_jobs_on_a_standalone_cluster_write_the_tables_of_a_local_run(spark, january, cluster_run, s3_server):
    local_settings, _ = january
    january_left = versions_the_january_run_left(spark, local_settings)

    def local_table(name: str):
        return comparable(Catalog(spark, local_settings).read_version(name, january_left[name]))

    run = cluster_run.result()
    assert not run.problem, run.problem
    assert run.importable_on_edge is False, "the source tree must not be importable where the job is submitted"
    said = [line for line in run.output.splitlines() if line.startswith(("featurelake", "Traceback"))]
    assert run.returncode == 0, "\n".join(said) or run.output[-8000:]
    assert (
        f"training-set training_sets.flight_delay [{CLUSTER_SPLITS['train']['from']}..{CLUSTER_DAYS.end}]: read "
        in run.output
    )
    [app] = run.master["completedapps"]
    assert app["name"] == "featurelake" and app["state"] == "FINISHED" and app["cores"] == 2, app

    assert run.lake == f"s3a://{BUCKET}/lake" and "train models.flight_delay [" in run.output

    cluster = cluster_settings(run)
    window = F.col(RUN_DATE) <= F.lit(CLUSTER_DAYS.end).cast("date")
    tables = [
        *(f"{layer}.{source}" for layer in ("bronze", "silver") for source in ("flights", "weather", "planes")),
        *(local_settings.feature_table(g) for g in local_settings.feature_groups),
    ]
    # read from the store as a command reads it: conf's endpoint, the environment's credentials
    with process_environment(s3_server.credentials), session_for(cluster):
        for table in tables:
            on_cluster = comparable(Catalog(spark, cluster).read(table))
            local = local_table(table).where(window)
            assert on_cluster.count() == local.count() > 0, table
            assert on_cluster.exceptAll(local).isEmpty() and local.exceptAll(on_cluster).isEmpty(), table
        on_cluster = comparable(Catalog(spark, cluster).read("training_sets.flight_delay")).drop(SPLIT)
        first = F.lit(CLUSTER_SPLITS["train"]["from"]).cast("date")  # the training set's first event
        events = F.col(RUN_DATE).between(first, F.lit(CLUSTER_DAYS.end).cast("date"))
        local = local_table("training_sets.flight_delay").where(events).drop(SPLIT)
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
    assert recorded[("train", "flight_delay")] == 1
    assert not any(stage in ("score", "monitor") for stage, _ in recorded)

    # the fit on the executors was tracked and registered through the tracking server, its files on the store
    from mlflow import MlflowClient

    champion = MlflowClient(tracking_uri=run.tracking_uri).get_model_version_by_alias("flight_delay", "champion")
    assert int(champion.version) == 1 and champion.tags["training_set_version"] == "0"
    stored = s3_server.keys("mlflow/", bucket=BUCKET)
    assert any(key.endswith("/MLmodel") for key in stored) and any(key.endswith(".parquet") for key in stored)
