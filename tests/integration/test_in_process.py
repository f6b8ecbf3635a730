"""The engine runs several times in one process with different conf, as the suite's end-to-end runs and a notebook
do: a command borrows the running SparkSession and gives its settings back, keeps its caches to itself, each project
gets its own feature groups, and each lake its own tables."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

import pytest

from featurelake.core.project_code import discover_feature_groups
from featurelake.core.spark import session_for
from featurelake.lake.catalog import Catalog
from tests.conftest import PROJECT
from tests.integration.conftest import in_process, settings_of

pytestmark = pytest.mark.integration

OTHER_GROUP = """
from pyspark.sql import functions as F

from featurelake import Entity, Feature, feature_group


@feature_group(
    entity=Entity("store", join_keys={"store": "string"}),
    inputs={"sales": "silver.sales"},
    event_time="sold_at",
    features=[Feature("units", "double", "units sold")],
)
def store_units(sales):
    return sales.select("store", "sold_at", "_run_date", F.col("units").cast("double").alias("units"))
"""


def test_a_command_borrows_the_running_session_and_restores_its_settings(spark, make_settings):
    before = spark.conf.get("spark.sql.shuffle.partitions")
    assert spark.conf.get("spark.sql.files.maxPartitionBytes", None) is not None
    # a Hadoop setting (an object store's endpoint) is the command's too: in the session's Hadoop configuration
    endpoint = "fs.s3a.bucket.featurelake-borrowed.endpoint"
    configured = {"spark.sql.caseSensitive": True, f"spark.hadoop.{endpoint}": "http://127.0.0.1:9"}
    settings = make_settings({"spark": {"shuffle_partitions": 7, "settings": configured}})
    was_case_sensitive = spark.conf.get("spark.sql.caseSensitive")
    hadoop = spark._jsc.hadoopConfiguration()
    with session_for(settings) as borrowed:
        assert borrowed is spark
        assert spark.conf.get("spark.sql.shuffle.partitions") == "7"
        assert spark.conf.get("spark.sql.caseSensitive") == "true"
        assert hadoop.get(endpoint) == "http://127.0.0.1:9"
    assert spark.conf.get("spark.sql.shuffle.partitions") == before
    assert spark.conf.get("spark.sql.caseSensitive") == was_case_sensitive
    assert hadoop.get(endpoint) is None


def test_each_project_gets_its_own_feature_groups_one_after_another(tmp_path):
    other = tmp_path / "other"
    (other / "features").mkdir(parents=True)
    (other / "features" / "__init__.py").write_text("")
    (other / "features" / "stores.py").write_text(textwrap.dedent(OTHER_GROUP))
    demo = set(discover_feature_groups(PROJECT))
    assert "carrier_performance" in demo
    assert set(discover_feature_groups(other)) == {"store_units"}
    assert set(discover_feature_groups(PROJECT)) == demo  # and back
    # one project's directory on the path at a time: every import still to come searches it first
    assert sys.path[0] == str(PROJECT) and str(other) not in sys.path


def test_two_lakes_in_one_process_each_get_their_own_tables(spark, make_settings, tmp_path, demo_landing):
    settings = make_settings()
    conf = str(settings.conf_dir)
    lakes = [tmp_path / "lake-a", tmp_path / "lake-b"]
    for lake, day in zip(lakes, ("2013-01-01", "2013-01-02"), strict=True):
        landing = lake / "landing" / "airlines" / day
        landing.parent.mkdir(parents=True)
        shutil.copytree(demo_landing / "airlines" / "2013-01-01", landing)
        code, output = in_process(["ingest", "--conf-dir", conf, "--source", "airlines", "--run-date", day], lake)
        assert code == 0, output
        assert f"lake {lake}" in output
    before = spark.conf.get("spark.sql.shuffle.partitions")
    for lake, day in zip(lakes, ("2013-01-01", "2013-01-02"), strict=True):
        bronze = Catalog(spark, settings_of(settings.conf_dir, lake)).read("bronze.airlines")
        assert {str(r["_run_date"]) for r in bronze.select("_run_date").distinct().collect()} == {day}
    assert spark.conf.get("spark.sql.shuffle.partitions") == before


def test_one_project_s_mlflow_store_never_becomes_the_next_one_s(make_settings, tmp_path, monkeypatch):
    """MLflow writes the URIs it is given into the environment, where the next project's conf would read
    ``${MLFLOW_TRACKING_URI:}`` as its own tracking server; each project keeps its own store under its lake."""
    from featurelake.ml import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    first = make_settings()
    first_store, _ = tracking.activate(first)
    assert first_store.tracking_uri == f"sqlite:///{first.lake_root}/mlflow/mlflow.db"
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    second = settings_of(first.conf_dir, tmp_path / "second-lake")
    assert second.project.mlflow.tracking_uri in (None, "")
    second_store, _ = tracking.activate(second)
    assert second_store.tracking_uri == f"sqlite:///{tmp_path / 'second-lake'}/mlflow/mlflow.db"
    assert second_store.artifact_location == (tmp_path / "second-lake" / "mlflow" / "artifacts").as_uri()


def test_a_lake_deleted_and_made_again_gets_a_new_mlflow_store_in_the_same_process(make_settings, monkeypatch):
    """MLflow keeps a store and its database connections per URI for the life of the process: a lake deleted and
    made again at the same place (a notebook's second try) must get a store of its own, not writes refused by
    the deleted file's connections ("attempt to write a readonly database") or the old lake's models."""
    import mlflow

    from featurelake.ml import tracking

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    settings = make_settings()
    tracking.activate(settings)
    mlflow.MlflowClient().create_registered_model("of_the_first_lake")
    shutil.rmtree(settings.lake_root)
    store, experiment_id = tracking.activate(settings)
    client = mlflow.MlflowClient(tracking_uri=store.tracking_uri, registry_uri=store.registry_uri)
    client.create_registered_model("of_the_second_lake")
    assert [m.name for m in client.search_registered_models()] == ["of_the_second_lake"]
    assert client.get_experiment(experiment_id).name == settings.experiment
