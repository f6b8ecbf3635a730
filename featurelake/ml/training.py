"""Training: the MLlib pipeline a model's conf declares, tuned on the validation split, judged once on the
test split next to two baselines, then tracked, registered and described by a model card.

Tuning follows TrainValidationSplit (every grid combination fitted, the best by validation AUC kept) but on
the training set's own validation split, which lies after the train split in time: Spark's class would
split the rows at random and let the tuning see the future. The preprocessing (indexers, imputer) is fitted
on the train split only, once, and shared by every candidate.

A fit is reproducible: the rows are spread over a fixed number of partitions by their keys and sorted
within them, so the same training set and seed give the same model and the same metrics.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml import Estimator, Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import NumericType

from featurelake.core.config import ModelConf, Settings
from featurelake.core.errors import ConfigError, FeaturelakeError
from featurelake.core.summary import StageSummary
from featurelake.featurestore.training_set import SPLIT, git_commit, manifest_dir
from featurelake.lake import delta, storage
from featurelake.ml import model_card, tracking
from featurelake.ml.evaluation import (
    Scores,
    auc_roc,
    best_f1_threshold,
    calibration_table,
    curves,
    evaluate,
    segment_table,
)

SCORE = "score"
FEATURE_VECTOR = "feature_vector"
BASELINE_VECTOR = "baseline_vector"
ESTIMATORS = {
    "gbt": GBTClassifier,
    "random_forest": RandomForestClassifier,
    "logistic_regression": LogisticRegression,
}
TREES = {"gbt", "random_forest"}
NOT_IN_A_SPLIT = "in no split the model uses"


# ---------------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class TrainingData:
    name: str
    table: str
    version: int
    manifest: dict
    rows: DataFrame  # the model's input columns, spread and ordered for a reproducible fit

    @property
    def label(self) -> str:
        return self.manifest["label"]


def read_training_data(
    spark: SparkSession, settings: Settings, model: str, conf: ModelConf, version: int | None
) -> TrainingData:
    """A version of the model's training set (the latest by default) with its manifest, checked against
    every column the model's conf names before anything is fitted."""
    training_set = settings.training_set(conf.training_set)
    path = settings.table_path(training_set.table)
    if not delta.table_exists(spark, path):
        raise FeaturelakeError(
            f"Training set {conf.training_set} does not exist yet at {path}; build it first with "
            f"`featurelake training-set --name {conf.training_set}`."
        )
    latest = delta.last_commit(spark, path).version
    version = latest if version is None else version
    if not 0 <= version <= latest:
        raise FeaturelakeError(
            f"Training set {conf.training_set} has versions 0 to {latest}; there is no version {version}."
        )
    manifest_path = f"{manifest_dir(settings, training_set.table)}/v{version}.json"
    text = storage.read_text(spark, manifest_path)
    if text is None:
        raise FeaturelakeError(
            f"Training set {conf.training_set} v{version} has no manifest at {manifest_path}, so its lineage is "
            "unknown; train on a version built by `featurelake training-set`."
        )
    manifest = json.loads(text)
    rows = delta.read_version(spark, settings, training_set.table, version)
    check_columns(model, conf, conf.training_set, version, rows)
    keys = manifest["plan"]["events"]["keys"]
    ordered = (
        rows.transform(model_input(conf, manifest["label"], keys))
        .repartition(conf.partitions, *keys)
        .sortWithinPartitions(*keys)
    )
    return TrainingData(conf.training_set, training_set.table, version, manifest, ordered)


def check_columns(model: str, conf: ModelConf, training_set: str, version: int, rows: DataFrame) -> None:
    types = {f.name: f.dataType for f in rows.schema.fields}
    wanted = {
        "features.categorical": conf.features.categorical,
        "features.numeric": conf.features.numeric,
        "baselines.logistic_regression": conf.baselines.logistic_regression,
        "segments": conf.segments,
    }
    for key, columns in wanted.items():
        for column in columns:
            if column not in types:
                raise ConfigError(
                    f"models.{model}.{key} names {column}, which training set {training_set} v{version} does not "
                    "have; add it to the training set (a feature group or events.columns) and rebuild it, or "
                    "remove it from conf/base/models.yaml."
                )
    for key in ("features.numeric", "baselines.logistic_regression"):
        for column in wanted[key]:
            if not isinstance(types[column], NumericType):
                raise ConfigError(
                    f"models.{model}.{key} names {column}, a {types[column].simpleString()} column of training "
                    f"set {training_set}; a numeric feature is needed there (strings go under features.categorical)."
                )


def model_input(conf: ModelConf, label: str, keys: list[str]):
    """The schema contract of a model's rows: categorical features as strings, numeric ones as doubles,
    the label as a double, plus the keys, the split and the segment columns."""

    def select(rows: DataFrame) -> DataFrame:
        numeric = list(dict.fromkeys([*conf.features.numeric, *conf.baselines.logistic_regression]))
        features = {*conf.features.categorical, *numeric}
        passthrough = [c for c in dict.fromkeys([*keys, SPLIT, *conf.segments]) if c not in features]
        return rows.select(
            *passthrough,
            *[F.col(c).cast("string").alias(c) for c in conf.features.categorical],
            *[F.col(c).cast("double").alias(c) for c in numeric],
            F.col(label).cast("double").alias(label),
        )

    return select


# ---------------------------------------------------------------------------------------------- the pipeline


def _derived(column: str, kind: str) -> str:
    return f"{column}__{kind}"


def source_feature(derived: str) -> str:
    """carrier__index -> carrier, carrier__onehot_UA -> carrier, hour__imputed -> hour."""
    return derived.split("__", 1)[0]


def preprocessing(conf: ModelConf) -> list:
    """Strings indexed alphabetically (unseen values and nulls get an index of their own), numeric nulls
    imputed, everything assembled into one vector; one-hot encoding only for the linear model."""
    categorical, numeric = conf.features.categorical, conf.features.numeric
    stages: list = []
    vector_inputs: list[str] = []
    if categorical:
        indexed = [_derived(c, "index") for c in categorical]
        stages.append(
            StringIndexer(
                inputCols=categorical, outputCols=indexed, handleInvalid="keep", stringOrderType="alphabetAsc"
            )
        )
        vector_inputs += indexed
        if conf.algorithm not in TREES:
            encoded = [_derived(c, "onehot") for c in categorical]
            stages.append(OneHotEncoder(inputCols=indexed, outputCols=encoded))
            vector_inputs = encoded
    if numeric:
        imputed = [_derived(c, "imputed") for c in numeric]
        stages.append(Imputer(inputCols=numeric, outputCols=imputed, strategy=conf.impute))
        vector_inputs += imputed
    stages.append(VectorAssembler(inputCols=vector_inputs, outputCol=FEATURE_VECTOR))
    return stages


def classifier(model: str, conf: ModelConf, label: str) -> Estimator:
    """The configured estimator with its fixed parameters, each checked by MLlib itself (in the JVM) so a
    bad value is one sentence now instead of a stack trace mid-training."""
    estimator = ESTIMATORS[conf.algorithm](featuresCol=FEATURE_VECTOR, labelCol=label)
    if estimator.hasParam("seed"):
        estimator._set(seed=conf.seed)
    for name, value in conf.params.items():
        _check_param(estimator, f"models.{model}.params.{name}", name, value)
        estimator._set(**{name: value})
    return estimator


def parameter_grid(model: str, conf: ModelConf, estimator: Estimator) -> list[dict]:
    """Every combination of the grid's values, in conf order, each value checked before any fit."""
    for name, values in conf.grid.items():
        for value in values:
            _check_param(estimator, f"models.{model}.grid.{name}", name, value)
    names = list(conf.grid)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*conf.grid.values())]


def _engine_owned(name: str) -> bool:
    """Columns and the decision threshold are the engine's: the threshold is chosen on the validation split."""
    return name.endswith(("Col", "Cols")) or name in ("threshold", "thresholds")


def _check_param(estimator: Estimator, key: str, name: str, value) -> None:
    kind = type(estimator).__name__
    if not estimator.hasParam(name) or _engine_owned(name):
        known = ", ".join(sorted(p.name for p in estimator.params if not _engine_owned(p.name)))
        raise ConfigError(f"{key}: {name} is not a parameter of {kind} a model may set; they are {known}.")
    if value is None:
        raise ConfigError(f"{key}: a value is missing; give one or remove the key.")
    trial = estimator.copy()
    try:
        trial._set(**{name: value})
        trial._transfer_params_to_java()  # MLlib validates the value here (e.g. maxDepth >= 0)
    except Exception:  # a type MLlib cannot convert, or a value its validator refuses
        doc = estimator.getParam(name).doc
        raise ConfigError(f"{key}: {value!r} is not a valid {name} for {kind} ({doc}).") from None


def with_score(frame: DataFrame) -> DataFrame:
    """The probability of the positive class as a plain double column."""
    return frame.withColumn(SCORE, vector_to_array("probability").getItem(1))


# ---------------------------------------------------------------------------------------------- fitting


@dataclass
class Candidate:
    params: dict
    validation_auc: float | None


@dataclass
class TrainedModel:
    model: PipelineModel
    params: dict
    candidates: list[Candidate]
    threshold: float
    validation_auc: float | None
    importances: list[tuple[str, float]]


@dataclass
class Evaluation:
    test: Scores
    baselines: dict[str, Scores]
    calibration: list[dict]
    segments: list[dict]
    curves: dict[str, dict]
    split_rows: dict[str, int]
    train_positive_rate: float
    rows_in: int
    rows_used: int


def fit(model: str, conf: ModelConf, label: str, train: DataFrame, validation: DataFrame) -> TrainedModel:
    estimator = classifier(model, conf, label)
    grid = parameter_grid(model, conf, estimator) or [{}]
    if conf.algorithm in TREES and conf.features.categorical:
        # a tree needs a bin per category; indexes hold every training value plus one for unseen ones
        categories = train.agg(*[F.count_distinct(c) for c in conf.features.categorical]).first()
        needed = max(categories) + 1
        max_bins = max(needed, *(p.get("maxBins", estimator.getOrDefault("maxBins")) for p in grid))
        grid = [{**p, "maxBins": max_bins} for p in grid]
    prepared = Pipeline(stages=preprocessing(conf)).fit(train)
    train_vectors = prepared.transform(train).select(FEATURE_VECTOR, label).persist(StorageLevel.MEMORY_AND_DISK)
    validation_vectors = prepared.transform(validation).select(FEATURE_VECTOR, label).persist()
    try:
        candidates, fitted = [], []
        for params in grid:
            candidate = estimator.fit(train_vectors, {estimator.getParam(k): v for k, v in params.items()})
            scored = with_score(candidate.transform(validation_vectors))
            auc = auc_roc(scored, label, SCORE).first()["auc_roc"]
            candidates.append(Candidate(params, auc))
            fitted.append(candidate)
        best = max(range(len(grid)), key=lambda i: (candidates[i].validation_auc or 0.0, -i))
        best_model = fitted[best]
        threshold = best_f1_threshold(with_score(best_model.transform(validation_vectors)), label, SCORE)
        # MLlib predicts the class maximizing p(class) / thresholds[class]: with [1 - t, t] the model's own
        # `prediction` (what MLflow's pyfunc returns) is the decision at the validation threshold t
        t = min(max(threshold, 1e-9), 1 - 1e-9)
        best_model.setThresholds([1 - t, t])
        names = _vector_slot_names(train_vectors)
    finally:
        train_vectors.unpersist()
        validation_vectors.unpersist()
    return TrainedModel(
        model=PipelineModel(stages=[*prepared.stages, best_model]),
        params=grid[best],
        candidates=candidates,
        threshold=threshold,
        validation_auc=candidates[best].validation_auc,
        importances=importances(best_model, names),
    )


def _vector_slot_names(vectors: DataFrame) -> list[str]:
    attributes = vectors.schema[FEATURE_VECTOR].metadata["ml_attr"]
    slots = {a["idx"]: a["name"] for group in attributes.get("attrs", {}).values() for a in group}
    return [source_feature(slots.get(i, f"slot_{i}")) for i in range(attributes["num_attrs"])]


def importances(fitted, slot_names: list[str]) -> list[tuple[str, float]]:
    """Importance per conf feature, summing its vector slots: the trees' impurity importances, or the
    linear model's absolute coefficients (on each feature's own scale), normalized to sum to 1."""
    if hasattr(fitted, "featureImportances"):
        weights = fitted.featureImportances.toArray()
    else:
        weights = abs(fitted.coefficients.toArray())
    per_feature: dict[str, float] = {}
    for name, weight in zip(slot_names, weights, strict=True):
        per_feature[name] = per_feature.get(name, 0.0) + float(weight)
    total = sum(per_feature.values()) or 1.0
    return sorted(((n, w / total) for n, w in per_feature.items()), key=lambda item: (-item[1], item[0]))


def logistic_baseline(conf: ModelConf, label: str, train: DataFrame) -> PipelineModel:
    columns = conf.baselines.logistic_regression
    imputed = [_derived(c, "baseline") for c in columns]
    return Pipeline(
        stages=[
            Imputer(inputCols=columns, outputCols=imputed, strategy=conf.impute),
            VectorAssembler(inputCols=imputed, outputCol=BASELINE_VECTOR),
            LogisticRegression(featuresCol=BASELINE_VECTOR, labelCol=label),
        ]
    ).fit(train)


def evaluate_model(
    conf: ModelConf, data: TrainingData, trained: TrainedModel, splits: dict[str, DataFrame], counts: dict
) -> Evaluation:
    """The model once on the test split; the baselines on the same rows, their thresholds also chosen on
    the validation split."""
    label = data.label
    test = splits["test"].persist(StorageLevel.MEMORY_AND_DISK)
    try:
        predictions = with_score(trained.model.transform(test)).persist(StorageLevel.MEMORY_AND_DISK)
        scores = evaluate(predictions, label, SCORE, trained.threshold)
        calibration = calibration_table(predictions, label, SCORE)
        segments = segment_table(
            predictions,
            label,
            SCORE,
            conf.segments,
            scores.auc_roc or 0.0,
            conf.segment_auc_drop,
            conf.segment_min_rows,
        )
        model_curves = curves(predictions, label, SCORE)
        predictions.unpersist()

        train_rate = counts["train_positive_rate"]
        majority = test.withColumn(SCORE, F.lit(train_rate))
        baselines = {"majority class": evaluate(majority, label, SCORE, 0.5)}
        logistic = logistic_baseline(conf, label, splits["train"])
        logistic_threshold = best_f1_threshold(with_score(logistic.transform(splits["validation"])), label, SCORE)
        logistic_scores = with_score(logistic.transform(test))
        baselines["logistic regression"] = evaluate(logistic_scores, label, SCORE, logistic_threshold)
        all_curves = {"model": model_curves, "logistic regression": curves(logistic_scores, label, SCORE)}
    finally:
        test.unpersist()
    return Evaluation(
        test=scores,
        baselines=baselines,
        calibration=calibration,
        segments=segments,
        curves=all_curves,
        split_rows=counts["split_rows"],
        train_positive_rate=train_rate,
        rows_in=counts["rows_in"],
        rows_used=sum(counts["split_rows"].values()),
    )


def split_counts(conf: ModelConf, data: TrainingData) -> dict:
    """Rows per split, the positive rate and the non-null count of every numeric feature, in one pass (one
    row per split collected); a split without both classes, or a feature with no value to impute from in
    the train split, is one sentence before any fit."""
    rows = (
        data.rows.groupBy(SPLIT)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.avg(data.label).alias("positive_rate"),
            *[F.count(c).alias(f"values_{c}") for c in conf.features.numeric],
        )
        .collect()  # bounded: one row per split
    )
    by_split = {r[SPLIT]: r for r in rows}
    roles = {"train": conf.train_split, "validation": conf.validation_split, "test": conf.test_split}
    for role, split in roles.items():
        if split not in by_split or by_split[split]["rows"] == 0:
            raise FeaturelakeError(
                f"Training set {data.name} v{data.version} has no rows in its {split} split, which the model "
                f"uses for {role}; rebuild the training set over dates that cover every split."
            )
        if by_split[split]["positive_rate"] in (0.0, 1.0):
            raise FeaturelakeError(
                f"The {split} split of training set {data.name} v{data.version} holds only one class of "
                f"{data.label}, so no AUC can be computed on it; widen the split's dates."
            )
    empty = [c for c in conf.features.numeric if by_split[conf.train_split][f"values_{c}"] == 0]
    if empty:
        raise FeaturelakeError(
            f"Feature {empty[0]} has no value in the {conf.train_split} split of training set {data.name} "
            f"v{data.version}, so nulls cannot be imputed; fix its feature group or remove it from the model."
        )
    return {
        "rows_in": sum(r["rows"] for r in rows),
        "split_rows": {role: by_split[split]["rows"] for role, split in roles.items()},
        "train_positive_rate": by_split[conf.train_split]["positive_rate"],
    }


# ---------------------------------------------------------------------------------------------- the stage


def train_model(
    spark: SparkSession, settings: Settings, model: str, run_id: str, training_set_version: int | None = None
) -> StageSummary:
    """Fit, evaluate, track, register and describe one model; everything is checked before the first fit."""
    started = time.monotonic()
    conf = settings.model(model)
    data = read_training_data(spark, settings, model, conf, training_set_version)
    parameter_grid(model, conf, classifier(model, conf, data.label))  # bad parameters fail before any fit
    data.rows.persist(StorageLevel.MEMORY_AND_DISK)  # the split counts fill the cache the fits then read
    try:
        counts = split_counts(conf, data)
        store, experiment_id = tracking.activate(settings)
        splits = {
            role: data.rows.where(F.col(SPLIT) == F.lit(split))
            for role, split in (
                ("train", conf.train_split),
                ("validation", conf.validation_split),
                ("test", conf.test_split),
            )
        }
        trained = fit(model, conf, data.label, splits["train"], splits["validation"])
        evaluation = evaluate_model(conf, data, trained, splits, counts)
        example = (
            splits["test"].select(*conf.features.categorical, *conf.features.numeric).limit(5).toPandas()
        )  # bounded: five rows
    finally:
        data.rows.unpersist()
    record = _log_and_register(spark, settings, model, conf, data, trained, evaluation, example, run_id, experiment_id)
    rejected = {NOT_IN_A_SPLIT: evaluation.rows_in - evaluation.rows_used}
    baseline_text = ", ".join(f"{name} {s.auc_roc:.3f}" for name, s in evaluation.baselines.items())
    flagged = [s for s in evaluation.segments if s["flagged"]]
    summary = StageSummary(
        stage="train",
        table=f"models.{model}",
        run_dates=_split_span(data),
        rows_in=evaluation.rows_in,
        published=evaluation.rows_used,
        rejected=rejected,
        delta_version=data.version,
        seconds=time.monotonic() - started,
        detail=(
            f"test AUC {evaluation.test.auc_roc:.3f} against {baseline_text}; {record['promotion']}; "
            f"{len(flagged)} segment(s) flagged"
        ),
        report=render_report(model, data, trained, evaluation, record, store.description),
    )
    summary.check_balance()
    return summary


def _split_span(data: TrainingData) -> str:
    spans = data.manifest["plan"]["splits"].values()
    return f"{min(a for a, _ in spans)}..{max(b for _, b in spans)}"


def _log_and_register(spark, settings, model, conf, data, trained, evaluation, example, run_id, experiment_id) -> dict:
    import mlflow
    import pyspark
    from mlflow.models import infer_signature

    # MLflow's pyfunc of a Spark model returns its `prediction` column: the decision at the threshold
    signature = infer_signature(example, example.assign(prediction=1.0)[["prediction"]])
    lineage = {
        "training_set": data.name,
        "training_set_table": data.table,
        "training_set_version": str(data.version),
        "training_set_content_hash": data.manifest["content_hash"],
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
        mlflow.log_dict({"segments": evaluation.segments}, "segments.json")
        mlflow.log_dict({"bins": evaluation.calibration}, "calibration.json")
        mlflow.log_dict({"importances": dict(trained.importances)}, "importances.json")
        info = mlflow.spark.log_model(
            trained.model,
            artifact_path="model",
            signature=signature,
            input_example=example,
            pip_requirements=[f"pyspark=={pyspark.__version__}"],
        )
        registered = mlflow.register_model(
            info.model_uri, model, tags={**lineage, "threshold": f"{trained.threshold!r}"}
        )
        version = int(registered.version)
        promotion = tracking.decide(
            model, version, evaluation.test.auc_roc or 0.0, conf.champion_margin, "test_auc_roc"
        )
        card_files = model_card.render(model, conf, version, data, trained, evaluation, promotion)
        card_dir = model_card.write(spark, settings, model, version, card_files)
        _log_files(card_files, "model_card")
        tracking.apply(model, promotion)
        return {
            "run_id": run.info.run_id,
            "version": version,
            "promotion": promotion.sentence(model, evaluation.test.auc_roc or 0.0, conf.champion_margin),
            "card": f"{card_dir}/model_card.html",
        }


def _log_files(files: dict[str, bytes], artifact_dir: str) -> None:
    import tempfile
    from pathlib import Path

    import mlflow

    with tempfile.TemporaryDirectory() as directory:
        for name, content in files.items():
            (Path(directory) / name).write_bytes(content)
        mlflow.log_artifacts(directory, artifact_dir)


def render_report(model, data, trained, evaluation, record, store_description) -> str:
    rows = [("model", evaluation.test), *evaluation.baselines.items()]
    header = f"{'':22}{'AUC-ROC':>9}{'AUC-PR':>9}{'log loss':>10}{'Brier':>8}{'precision':>11}{'recall':>8}{'F1':>7}"
    lines = [
        f"{model} v{record['version']} on {data.name} v{data.version} (test split, {evaluation.test.rows:,} rows, "
        f"{evaluation.test.positive_rate:.1%} positive; threshold {trained.threshold:.3f} chosen on validation):",
        header,
    ]

    def cell(value, width, digits=3):
        return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"

    for name, s in rows:
        lines.append(
            f"{name:22}{cell(s.auc_roc, 9)}{cell(s.auc_pr, 9)}{cell(s.log_loss, 10)}{cell(s.brier, 8)}"
            f"{cell(s.precision, 11)}{cell(s.recall, 8)}{cell(s.f1, 7)}"
        )
    flagged = [s for s in evaluation.segments if s["flagged"]]
    for s in flagged:
        lines.append(
            f"segment {s['segment']}={s['value']}: AUC {s['auc_roc']:.3f} on {s['rows']:,} rows, flagged (overall "
            f"{evaluation.test.auc_roc:.3f})"
        )
    best = ", ".join(f"{k}={v}" for k, v in trained.params.items())
    lines += [
        f"best of {len(trained.candidates)} on validation: {best} (AUC {trained.validation_auc:.4f})",
        record["promotion"],
        f"MLflow run {record['run_id']} in the {store_description}; model card {record['card']}",
    ]
    return "\n".join(lines)
