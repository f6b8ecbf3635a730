"""The flight-delay model, trained by the spark-submitted January pipeline (see conftest.py): tracked and
registered in the lake's MLflow store, its metrics reproduced from the registered model, its card rendered
in a browser, and a second training on the same training-set version giving the same metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from featurelake.featurestore.plan import Manifest, parse_manifest
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.ml import tracking
from featurelake.ml.training import train_model
from tests.integration.browser import decoded_images, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MODEL, TABLE = "flight_delay", "training_sets.flight_delay"


@pytest.fixture(scope="module")
def registry(january):
    from mlflow import MlflowClient

    settings, _ = january
    store = tracking.store(settings)
    tracking.use_store(store)
    return MlflowClient(store.tracking_uri, store.registry_uri)


@pytest.fixture(scope="module")
def first_run(registry):
    """The pipeline's training run: version 1, the champion."""
    champion = registry.get_model_version_by_alias(MODEL, tracking.CHAMPION)
    return champion, registry.get_run(champion.run_id)


def manifest(settings) -> Manifest:
    path = Path(settings.lake_root, "training_sets", "_manifests", MODEL, "v0.json")
    return parse_manifest(path.read_text(), str(path))


def brute_force_auc(pairs: list[tuple[int, float]]) -> float:
    positives = [s for label, s in pairs if label == 1]
    negatives = [s for label, s in pairs if label == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_pipeline_trains_logs_and_registers_the_model_with_its_lineage(spark, january, registry, first_run):
    settings, output = january
    champion, run = first_run
    assert int(champion.version) == 1
    recorded = manifest(settings)
    assert run.data.tags["training_set"] == MODEL and run.data.tags["training_set_version"] == "0"
    assert run.data.tags["training_set_content_hash"] == recorded.content_hash
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?|unknown", run.data.tags["git_commit"])
    assert registry.get_model_version(MODEL, "1").tags["role"] == "champion"
    params, metrics = run.data.params, run.data.metrics
    assert params["algorithm"] == "gbt" and params["best_maxDepth"] in ("3", "5") and params["param_maxIter"] == "6"
    assert metrics["rows_test"] == recorded.splits["test"].rows
    assert metrics["baseline_majority_class_auc_roc"] == 0.5
    assert (
        0.55 < metrics["test_auc_roc"] < 0.95 and metrics["test_auc_roc"] > metrics["baseline_majority_class_auc_roc"]
    )
    assert 0 < metrics["test_brier"] < 0.25 and 0 < metrics["test_log_loss"] < 1
    assert "baseline_logistic_regression_auc_roc" in metrics and "validation_auc_roc" in metrics
    # the summary prints the model against its baselines and the registry's decision
    assert re.search(r"train +models\.flight_delay", output)
    assert re.search(r"\nmodel +0\.\d{3} ", output) and re.search(r"\nlogistic regression +0\.\d{3} ", output)
    assert "flight_delay v1 is the first version: champion" in output
    segments = json.loads(Path(registry.download_artifacts(run.info.run_id, "segments.json")).read_text())["segments"]
    assert {s["segment"] for s in segments} == {"carrier", "origin", "month"}
    assert {s["value"] for s in segments if s["segment"] == "origin"} == {"EWR", "JFK", "LGA"}
    assert sum(s["rows"] for s in segments if s["segment"] == "origin") == metrics["rows_test"]


def test_registered_model_reproduces_the_logged_test_auc(spark, january, first_run):
    import mlflow

    settings, _ = january
    _, run = first_run
    model = mlflow.spark.load_model(f"models:/{MODEL}@{tracking.CHAMPION}")
    info = mlflow.models.get_model_info(f"models:/{MODEL}@{tracking.CHAMPION}")
    inputs = {spec.name: spec.type.name for spec in info.signature.inputs.inputs}
    assert inputs["carrier"] == "string" and inputs["hour"] == "double" and inputs["weather_visib"] == "double"
    test = Catalog(spark, settings).read_version(TABLE, 0).where(F.col("split") == "test")
    features = [F.col(c).cast("string" if kind == "string" else "double").alias(c) for c, kind in inputs.items()]
    scored = model.transform(test.select(*features, "is_delayed"))
    pairs = [
        (r["is_delayed"], r["p"])
        for r in scored.select("is_delayed", vector_to_array("probability")[1].alias("p")).collect()
    ]
    assert len(pairs) == run.data.metrics["rows_test"]
    assert brute_force_auc(pairs) == pytest.approx(run.data.metrics["test_auc_roc"], abs=1e-9)


def test_model_card_shows_its_plots_and_lineage_in_a_browser(january, first_run, tmp_path):
    require_chromium("model card")
    settings, _ = january
    card = Path(settings.lake_root, "models", MODEL, "v1", "model_card.html")
    for plot in ("roc.png", "precision_recall.png", "calibration.png", "importances.png"):
        assert (card.parent / plot).read_bytes().startswith(b"\x89PNG")
    page = card.read_text()
    recorded = manifest(settings)
    assert recorded.content_hash in page
    assert "Training set <b>flight_delay</b> (training_sets.flight_delay) version 0" in page
    for group in recorded.plan.feature_groups:
        assert f"<td>{group.table}</td><td>{group.version}</td>" in page
    assert "features.labels:is_delayed" in page and "Intended use" in page and "Known limits" in page
    # the browser decodes every plot: a script appended to a copy reports each image's decoded width
    dom, images = decoded_images(page, tmp_path)
    assert {alt for alt, _ in images} == {"ROC curve", "Precision-recall curve", "Calibration", "Feature importances"}
    assert all(width >= 400 for _, width in images), images
    assert "Per segment (test split)" in dom and "<td>carrier</td>" in dom


def test_same_training_set_and_seed_give_the_same_metrics_and_a_challenger(
    spark, january, registry, first_run, monkeypatch
):
    settings, _ = january
    _, first = first_run
    # the first fitted its two candidates at once (conf's parallelism: 2); one after the other gives the same
    assert settings.model(MODEL).parallelism == 2 and len(first.data.params) > 0
    monkeypatch.setitem(settings.project.models, MODEL, settings.model(MODEL).model_copy(update={"parallelism": 1}))
    summary = train_model(Context.of(spark, settings, "again"), MODEL, training_set_version=0)
    second = registry.get_run(registry.get_model_version(MODEL, "2").run_id)
    assert second.data.params == first.data.params
    assert set(second.data.metrics) == set(first.data.metrics)
    for name, value in first.data.metrics.items():
        assert second.data.metrics[name] == pytest.approx(value, abs=1e-9), name
    # equal AUC does not beat the champion by the margin: version 2 stays a challenger
    assert int(registry.get_model_version_by_alias(MODEL, tracking.CHAMPION).version) == 1
    assert registry.get_model_version(MODEL, "2").tags["role"] == "challenger"
    assert "flight_delay v2 stays a challenger" in summary.detail
    assert summary.published == summary.rows_in == manifest(settings).rows


def test_a_locked_mlflow_store_is_one_sentence_before_any_fit(january, registry):
    import sqlite3

    from tests.integration.conftest import in_process

    settings, _ = january
    versions = sorted(int(v.version) for v in registry.search_model_versions(f"name = '{MODEL}'"))
    database = tracking.store(settings).tracking_uri.removeprefix("sqlite:///")
    holder = sqlite3.connect(database)
    holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a write: readers go on, writers wait
    try:
        argv = ["train", "--model", MODEL, "--conf-dir", str(settings.conf_dir)]
        code, output = in_process(argv, Path(settings.lake_root))
    finally:
        holder.rollback()
        holder.close()
    assert (code, output.strip()) == (
        2,
        f"featurelake: The MLflow store {database} cannot be written (database is locked): another process holds "
        "it locked, or the file or its directory is read-only; nothing was trained. Let that process finish (or "
        "make the store writable), then train again.",
    )
    assert sorted(int(v.version) for v in registry.search_model_versions(f"name = '{MODEL}'")) == versions
