"""A lake on an object store: `featurelake run` of every stage with FEATURELAKE_LAKE_ROOT=s3a://<bucket>/lake, the
landing zone on that store, and MLflow as a tracking server (tests/integration/object_store.py: moto's S3 server and
`mlflow server` with its artifacts on S3, both on 127.0.0.1). The run is the test session's, in its process (its
JVM holds the S3A connector, pytest's featurelake_spark_packages), through the entry point users call; the
credentials come from the environment only. Its tables are read back by delta-rs, not Spark, and must equal the
local January run's for the same days."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.featurestore.plan import SPLIT
from featurelake.lake.catalog import Catalog
from featurelake.ml.predictions import PROBABILITY
from tests.conftest import FLIGHT, delivered_flights
from tests.integration.conftest import (
    deliver_january,
    in_process,
    project_copy,
    succeeded,
    versions_the_january_run_left,
)
from tests.integration.object_store import Outage, S3Server, TrackingServer

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# A training set on the 2nd-4th (the 1st has no previous day for the daily features), the 5th scored and monitored.
DAYS = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 5))
SCORED = dt.date(2013, 1, 5)
SPLITS = {
    "train": {"from": "2013-01-02", "to": "2013-01-02"},
    "validation": {"from": "2013-01-03", "to": "2013-01-03"},
    "test": {"from": "2013-01-04", "to": "2013-01-04"},
}
# one gate (silver.flights, quarantining) validates on the object store; the others cost the suite time only
UNGATED = (
    *(f"bronze.{source}" for source in ("flights", "weather", "planes")),
    "silver.weather",
    "silver.planes",
    "training_sets.flight_delay",  # three days cannot hold the split sizes its suite asks for
)
OVERRIDES = {
    "training_sets": {"flight_delay": {"splits": SPLITS}},
    "tables": {table: {"gate": None} for table in UNGATED},
    "models": {
        "flight_delay": {
            "params": {"maxIter": 5},
            "grid": {"maxDepth": [3], "stepSize": [0.3]},
            "segment_min_rows": 50,
            "monitoring": {"window": "1 days", "psi_bins": 4},
        }
    },
}
LINEAGE = ("_source_file", "_ingested_at", "_run_id")


@pytest.fixture(scope="module")
def servers(s3_server, tmp_path_factory):
    """The session's S3 server and a tracking server for this module's tests (stopped after them)."""
    root = tmp_path_factory.mktemp("object-store")
    tracking = TrackingServer(root / "mlflow", s3_server)
    try:
        tracking.start()
        yield s3_server, tracking, root
    finally:
        tracking.stop()


@pytest.fixture(scope="module")
def object_store_run(spark, demo_landing, servers):
    """The run over DAYS on the S3 server: (the server, the tracking server, the lake's URI, the run's output)."""
    s3, tracking, root = servers
    deliver_january(demo_landing, root / "landing", DAYS)
    s3.upload(root / "landing", "lake/landing")
    conf = project_copy(root, {**OVERRIDES, "spark": {"settings": s3.hadoop_settings()}})
    lake = f"s3a://{s3.bucket}/lake"
    argv = ["run", "--conf-dir", str(conf), "--from", str(DAYS.start), "--to", str(DAYS.end)]
    code, output = in_process(argv, lake, MLFLOW_TRACKING_URI=tracking.uri, **s3.credentials)
    return s3, tracking, lake, succeeded(code, output)


def rows(table: pa.Table, columns: list[str]) -> list[tuple]:
    """The table's rows as tuples of these columns, sorted (nulls after values)."""
    values = zip(*(table.column(c).to_pylist() for c in columns), strict=True)
    return sorted(values, key=lambda row: tuple((v is None, v if v is not None else 0) for v in row))


def test_every_stage_runs_on_an_object_store_and_its_tables_equal_a_local_run_s(spark, january, object_store_run):
    s3, tracking, lake, output = object_store_run
    local_settings, _ = january
    january_left = versions_the_january_run_left(spark, local_settings)
    assert s3.secret_key not in output and s3.access_key not in output  # credentials never printed
    assert f"manifest {lake}/training_sets/_manifests/flight_delay/v0.json" in output
    assert f"verdict of monitoring.flight_delay: models:/flight_delay/1 on {SCORED}" in output

    tables = [
        *(f"{layer}.{source}" for layer in ("bronze", "silver") for source in ("flights", "weather", "planes")),
        *(local_settings.feature_table(g) for g in local_settings.feature_groups),
    ]
    for table in tables:
        layer, name = table.split(".")
        on_s3 = s3.read_delta(f"{lake}/{layer}/{name}")
        local = Catalog(spark, local_settings).read_version(table, january_left[table])
        local = local.where(F.col(RUN_DATE) <= F.lit(DAYS.end).cast("date")).toArrow()
        columns = [c for c in local.column_names if c not in LINEAGE]
        assert set(columns) <= set(on_s3.column_names), table
        assert rows(on_s3, columns) == rows(local, columns) != [], table

    # the training set: the local one's rows of those days, split by this run's own splits
    on_s3 = s3.read_delta(f"{lake}/training_sets/flight_delay")
    training_set = "training_sets.flight_delay"
    local = Catalog(spark, local_settings).read_version(training_set, january_left[training_set])
    first, last = dt.date(2013, 1, 2), dt.date(2013, 1, 4)
    local = local.where(F.col(RUN_DATE).between(F.lit(first), F.lit(last))).drop(SPLIT).toArrow()
    columns = [c for c in local.column_names if c not in LINEAGE]
    assert rows(on_s3, columns) == rows(local, columns)
    assert sorted(set(on_s3.column(SPLIT).to_pylist())) == ["test", "train", "validation"]

    # the model: registered through the tracking server, its artifacts on S3, the champion the scoring loaded
    from mlflow import MlflowClient

    champion = MlflowClient(tracking.uri, tracking.uri).get_model_version_by_alias("flight_delay", "champion")
    assert champion.version == "1"
    assert any(key.startswith("mlflow/") for key in s3.keys("mlflow/"))
    assert "lake/models/flight_delay/v1/model_card.html" in s3.keys("lake/models/flight_delay/")

    predictions = s3.read_delta(f"{lake}/predictions/flight_delay")
    assert set(predictions.column(RUN_DATE).to_pylist()) == {SCORED}
    assert all(0.0 <= p <= 1.0 for p in predictions.column(PROBABILITY).to_pylist())
    scored_flights = s3.read_delta(f"{lake}/silver/flights")
    flights_of_the_day = scored_flights.filter(pc.equal(scored_flights.column(RUN_DATE), pa.scalar(SCORED)))
    assert 0 < predictions.num_rows <= flights_of_the_day.num_rows
    monitoring = s3.read_delta(f"{lake}/monitoring/flight_delay")
    assert SCORED in monitoring.column(RUN_DATE).to_pylist()


def test_the_data_docs_are_built_on_the_object_store_and_list_every_validation_with_its_page(object_store_run):
    """GX's stores and the site live under the lake on S3 (built in a local mirror, written back): the gated tables'
    validations each have their page, linked from the offline listing of the index, and the address is printed."""
    import re

    s3, _, lake, output = object_store_run
    assert f"\nData Docs: {lake}/quality/docs/index.html\n" in output
    docs = set(s3.keys("lake/quality/docs/"))
    index = s3.client().get_object(Bucket=s3.bucket, Key="lake/quality/docs/index.html")["Body"].read().decode()
    linked = re.findall(r'<li class="featurelake-validation (passed|failed)"><a href="([^"]+)">([\w.]+) at ', index)
    stored = [k for k in s3.keys("lake/quality/gx/uncommitted/validations/") if k.endswith(".json")]
    assert "silver.flights" in {name for _, _, name in linked}, index
    assert len(linked) == len(stored) > 0, (linked, stored)  # one page per validation stored, each linked
    for _, page, name in linked:
        assert page.startswith(f"validations/{name.replace('.', '/')}/") and f"lake/quality/docs/{page}" in docs
    pages = {f"lake/quality/docs/validations/{k.split('/validations/', 1)[1][: -len('.json')]}.html" for k in stored}
    assert pages <= docs
    assert "lake/quality/docs/static/vendor/bootstrap/css/bootstrap.min.css" in docs  # offline: no CDN needed
    assert "lake/quality/gx/great_expectations.yml" not in docs and not s3.keys("lake/quality/gx/great_exp")


def test_a_wrong_secret_is_one_sentence_naming_the_setting_and_nothing_is_written(servers, tmp_path):
    """On a server that checks credentials as S3 does, a secret that is not the key's: exit 2, one sentence."""
    _, tracking, root = servers
    # a bucket of its own: the session's JVM keeps one S3A client per bucket, the first one's endpoint and key
    s3 = S3Server(tmp_path / "s3", checks_credentials=True, bucket="featurelake-checked")
    try:
        s3.start()
        lake = f"s3a://{s3.bucket}/lake"
        wrong = {**s3.credentials, "AWS_SECRET_ACCESS_KEY": "not-the-secret-9f8e7d"}
        conf = project_copy(tmp_path, {"spark": {"settings": s3.hadoop_settings()}})
        argv = ["run", "--conf-dir", str(conf), "--run-date", str(DAYS.start), "--stages", "ingest"]
        code, output = in_process(argv, lake, MLFLOW_TRACKING_URI=tracking.uri, **wrong)
        assert code == 2, output[-3000:]
        assert output.strip().splitlines()[-1] == (
            f"featurelake: The object store of the lake {lake} refused the credentials of the environment (access "
            "denied); set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones) to a "
            "key that may read and write the lake, or unset them to use the machine's role. Nothing was written."
        )
        assert "Traceback" not in output and "not-the-secret-9f8e7d" not in output
        assert s3.keys("") == []  # nothing written
    finally:
        s3.stop()


# A client that meets a dead store gives up after one attempt, not after S3A's minutes of back-off.
FAIL_FAST = {
    "spark.hadoop.fs.s3a.attempts.maximum": "1",
    "spark.hadoop.fs.s3a.retry.limit": "1",
    "spark.hadoop.fs.s3a.retry.interval": "100ms",
}


def test_a_store_that_dies_during_a_commit_leaves_the_table_where_it_was_and_a_rerun_lands_every_row_once(
    spark, demo_landing, servers, tmp_path
):
    """The store dies when Delta puts the commit of the second day's ingest, its data files already uploaded:
    exit 2 and one sentence; the table is still its first version with the first day's rows (read by delta-rs
    from the store itself); once the store is back, the same command lands the second day, each row once."""
    s3, tracking, _ = servers
    bucket, days = "featurelake-outage", ("2013-01-01", "2013-01-02")
    s3.client().create_bucket(Bucket=bucket)  # a bucket of its own: the session's JVM keeps one S3A client per bucket
    for day in days:
        s3.upload(demo_landing / "flights" / day, f"lake/landing/flights/{day}", bucket=bucket)
    outage = Outage(s3).start()
    try:
        store = {**s3.hadoop_settings(), "spark.hadoop.fs.s3a.endpoint": outage.endpoint, **FAIL_FAST}
        conf = project_copy(tmp_path, {"spark": {"settings": store}, "tables": {"bronze.flights": {"gate": None}}})
        lake, table = f"s3a://{bucket}/lake", f"s3a://{bucket}/lake/bronze/flights"

        def ingest(day: str) -> tuple[int, str]:
            argv = ["ingest", "--conf-dir", str(conf), "--source", "flights", "--run-date", day]
            return in_process(argv, lake, MLFLOW_TRACKING_URI=tracking.uri, **s3.credentials)

        succeeded(*ingest(days[0]))
        outage.arm(f"PUT /{bucket}/lake/bronze/flights/_delta_log/00000000000000000001.json".encode())
        code, output = ingest(days[1])

        assert outage.cut.is_set(), output[-3000:]
        assert code == 2, output[-3000:]
        assert output.strip().splitlines()[-1] == (
            f"featurelake: The object store of the lake {lake} did not answer at {outage.endpoint}; check that it is "
            "up and reachable from here and that spark.hadoop.fs.s3a.endpoint in conf's spark settings names it, then "
            "run again: every table is still at its last committed version."
        )
        assert "Traceback" not in output
        keys = s3.keys("lake/bronze/flights/", bucket=bucket)
        assert any(f"_run_date={days[1]}/" in k and k.endswith(".parquet") for k in keys)  # cut mid-write
        assert not any(k.endswith("_delta_log/00000000000000000001.json") for k in keys)
        first = s3.read_delta(table)
        assert rows(first, list(FLIGHT)) == delivered_flights(demo_landing, days[0])

        outage.restore()
        succeeded(*ingest(days[1]))
        both = s3.read_delta(table)
        assert rows(both, list(FLIGHT)) == delivered_flights(demo_landing, *days)
    finally:
        outage.stop()
