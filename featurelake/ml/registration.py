"""What a training leaves behind: the MLflow run, the registered version and its champion decision, the model card,
the console report.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from featurelake.core.provenance import git_commit
from featurelake.core.text import text_table
from featurelake.ml import model_card, tracking


@dataclass(frozen=True)
class Registration:
    """What a training left in MLflow: its run, the registered version, the champion decision, the model card."""

    run_id: str
    version: int
    promotion: str  # the champion decision, as a sentence
    card: str  # the model card's path


def log_and_register(
    spark, settings, model, conf, data, trained, evaluation, example, run_id, experiment_id
) -> Registration:
    import mlflow
    import pyspark
    from mlflow.models import infer_signature

    # MLflow's pyfunc of a Spark model returns its `prediction` column: the decision at the threshold
    signature = infer_signature(example, example.assign(prediction=1.0)[["prediction"]])
    lineage = {
        "training_set": data.name,
        "training_set_table": data.table,
        "training_set_version": str(data.version),
        "training_set_content_hash": data.manifest.content_hash,
        "git_commit": git_commit(settings),
        "featurelake_run_id": run_id,
    }
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"{model}-{run_id[:12]}", tags=lineage) as run:
        mlflow.log_params(
            {
                "algorithm": conf.algorithm,
                "seed": conf.seed,
                "impute": conf.impute,
                "partitions": conf.partitions,
                "grid": json.dumps(conf.grid, sort_keys=True),
                "categorical_features": ",".join(conf.features.categorical),
                "numeric_features": ",".join(conf.features.numeric),
                **{f"param_{k}": v for k, v in conf.params.items()},
                **{f"best_{k}": v for k, v in trained.params.items()},
            }
        )
        metrics = evaluation.test.as_metrics("test")
        for name, scores in evaluation.baselines.items():
            metrics |= scores.as_metrics(f"baseline_{name.replace(' ', '_')}")
        if trained.validation_auc is not None:
            metrics["validation_auc_roc"] = trained.validation_auc
        metrics |= {f"rows_{role}": float(n) for role, n in evaluation.split_rows.items()}
        mlflow.log_metrics(metrics)
        mlflow.log_dict(
            {"candidates": [{"params": c.params, "validation_auc_roc": c.validation_auc} for c in trained.candidates]},
            "tuning.json",
        )
        mlflow.log_dict({"segments": [asdict(s) for s in evaluation.segments]}, "segments.json")
        mlflow.log_dict({"bins": [asdict(b) for b in evaluation.calibration]}, "calibration.json")
        mlflow.log_dict({"importances": dict(trained.importances)}, "importances.json")
        info = mlflow.spark.log_model(
            trained.model,
            artifact_path="model",
            # the signature states the inputs; an input_example would make MLflow load the model back and score
            # it (1.5 s a model, 5 s cold), which the registry's reproduction of the test AUC already proves
            signature=signature,
            pip_requirements=[f"pyspark=={pyspark.__version__}"],
        )
        registered = mlflow.register_model(
            info.model_uri, model, tags={**lineage, "threshold": f"{trained.threshold!r}"}
        )
        version = int(registered.version)
        promotion = tracking.decide(
            model, version, evaluation.test.auc_roc or 0.0, conf.champion_margin, "test_auc_roc"
        )
        card_files = model_card.card_files(model, conf, version, data, trained, evaluation, promotion)
        card_dir = model_card.write(spark, settings, model, version, card_files)
        _log_files(card_files, "model_card")
        tracking.apply(model, promotion)
        return Registration(
            run_id=run.info.run_id,
            version=version,
            promotion=promotion.sentence(model, evaluation.test.auc_roc or 0.0, conf.champion_margin),
            card=f"{card_dir}/model_card.html",
        )


def _log_files(files: dict[str, bytes], artifact_dir: str) -> None:
    import tempfile
    from pathlib import Path

    import mlflow

    with tempfile.TemporaryDirectory() as directory:
        for name, content in files.items():
            (Path(directory) / name).write_bytes(content)
        mlflow.log_artifacts(directory, artifact_dir)


def render_report(model, data, trained, evaluation, record: Registration, store_description) -> str:
    def cell(value) -> str:
        return "-" if value is None else f"{value:.3f}"

    metrics = text_table(
        ["", "AUC-ROC", "AUC-PR", "log loss", "Brier", "precision", "recall", "F1"],
        [
            [name, *(cell(v) for v in (s.auc_roc, s.auc_pr, s.log_loss, s.brier, s.precision, s.recall, s.f1))]
            for name, s in [("model", evaluation.test), *evaluation.baselines.items()]
        ],
        numeric=range(1, 8),
    )
    lines = [
        f"{model} v{record.version} on {data.name} v{data.version} (test split, {evaluation.test.rows:,} rows, "
        f"{evaluation.test.positive_rate:.1%} positive; threshold {trained.threshold:.3f} chosen on validation):",
        metrics,
    ]
    flagged = [s for s in evaluation.segments if s.flagged]
    for s in flagged:
        lines.append(
            f"segment {s.segment}={s.value}: AUC {s.auc_roc:.3f} on {s.rows:,} rows, flagged (overall "
            f"{evaluation.test.auc_roc:.3f})"
        )
    best = ", ".join(f"{k}={v}" for k, v in trained.params.items())
    lines += [
        f"best of {len(trained.candidates)} on validation: {best} (AUC {trained.validation_auc:.4f})",
        record.promotion,
        f"MLflow run {record.run_id} in {store_description}; model card {record.card}",
    ]
    return "\n".join(lines)
