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

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark import StorageLevel
from pyspark.ml import Pipeline, PipelineModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.conf.ml import ModelConf
from featurelake.core.spark import beside, session_thread
from featurelake.core.summary import StageSummary
from featurelake.featurestore.plan import SPLIT
from featurelake.lake.stage import Context
from featurelake.ml import tracking
from featurelake.ml.estimators import (
    FEATURE_VECTOR,
    SCORE,
    TREES,
    _vector_slot_names,
    classifier,
    importances,
    logistic_baseline,
    parameter_grid,
    preprocessing,
    with_score,
)
from featurelake.ml.evaluation import (
    CalibrationBin,
    Scores,
    Segment,
    auc_roc,
    best_f1_threshold,
    calibration_table,
    curves,
    evaluate,
    segment_table,
)
from featurelake.ml.registration import log_and_register, render_report
from featurelake.ml.training_data import SplitCounts, TrainingData, read_training_data, split_counts

NOT_IN_A_SPLIT = "in no split the model uses"


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
    calibration: list[CalibrationBin]
    segments: list[Segment]
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

    def fit_one(params: dict):
        candidate = estimator.fit(train_vectors, {estimator.getParam(k): v for k, v in params.items()})
        scored = with_score(candidate.transform(validation_vectors))
        return candidate, Candidate(params, auc_roc(scored, label, SCORE).first()["auc_roc"])

    try:
        with ThreadPoolExecutor(max_workers=min(conf.parallelism, len(grid))) as pool:
            results = list(pool.map(session_thread(train.sparkSession, fit_one), grid))  # in the grid's order
        fitted, candidates = [m for m, _ in results], [c for _, c in results]
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


def evaluate_model(
    conf: ModelConf,
    data: TrainingData,
    trained: TrainedModel,
    splits: dict[str, DataFrame],
    counts: SplitCounts,
    logistic: PipelineModel,
) -> Evaluation:
    """The model once on the test split; the baselines (``logistic``: fitted on the train split) on the same rows,
    their thresholds also chosen on the validation split."""
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

        train_rate = counts.train_positive_rate
        majority = test.withColumn(SCORE, F.lit(train_rate))
        baselines = {"majority class": evaluate(majority, label, SCORE, 0.5)}
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
        split_rows=counts.split_rows,
        train_positive_rate=train_rate,
        rows_in=counts.rows_in,
        rows_used=counts.rows_used,
    )


# ---------------------------------------------------------------------------------------------- the stage


def train_model(ctx: Context, model: str, training_set_version: int | None = None) -> StageSummary:
    """Fit, evaluate, track, register and describe one model; everything is checked before the first fit."""
    started = time.monotonic()
    spark, settings, run_id = ctx.spark, ctx.settings, ctx.run_id
    conf = settings.model(model)
    data = read_training_data(ctx.catalog, model, conf, training_set_version)
    parameter_grid(model, conf, classifier(model, conf, data.label))  # bad parameters fail before any fit
    data.rows.persist(StorageLevel.MEMORY_AND_DISK)  # the split counts fill the cache the fits then read
    try:
        counts = split_counts(conf, data)
        store, experiment_id = tracking.activate(settings)
        tracking.require_writable(store)  # a locked store fails here, not after the fit
        splits = {
            role: data.rows.where(F.col(SPLIT) == F.lit(split))
            for role, split in (
                ("train", conf.train_split),
                ("validation", conf.validation_split),
                ("test", conf.test_split),
            )
        }
        # with parallelism > 1 the logistic baseline is fitted beside the grid's candidates
        at_once = conf.parallelism > 1
        with beside(spark, logistic_baseline, conf, data.label, splits["train"], at_once=at_once) as baseline:
            trained = fit(model, conf, data.label, splits["train"], splits["validation"])
        evaluation = evaluate_model(conf, data, trained, splits, counts, baseline.result())
        example = (
            splits["test"].select(*conf.features.categorical, *conf.features.numeric).limit(5).toPandas()
        )  # bounded: five rows
    finally:
        data.rows.unpersist()
    record = log_and_register(spark, settings, model, conf, data, trained, evaluation, example, run_id, experiment_id)
    rejected = {NOT_IN_A_SPLIT: evaluation.rows_in - evaluation.rows_used}
    baseline_text = ", ".join(f"{name} {s.auc_roc:.3f}" for name, s in evaluation.baselines.items())
    flagged = [s for s in evaluation.segments if s.flagged]
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
            f"test AUC {evaluation.test.auc_roc:.3f} against {baseline_text}; {record.promotion}; "
            f"{len(flagged)} segment(s) flagged"
        ),
        report=render_report(model, data, trained, evaluation, record, store.description),
    )
    summary.check_balance()
    return summary


def _split_span(data: TrainingData) -> str:
    span = data.manifest.plan.date_span
    return f"{span.start}..{span.end}"
