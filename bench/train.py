"""Benchmark: MLlib GBT (featurelake's training path) vs. scikit-learn's HistGradientBoostingClassifier on the
same flight-delay training set: test AUC side by side (goal: MLlib >= sklearn - 0.01) and wall time.

Data: the demo year's training set, built by the pipeline into bench/results/lake-1y on the first run
(about 5 minutes, not timed). The larger size replicates that training set N times with the years shifted,
the way `demo-data --years N` replicates the raw year, so each copy's rows, features and splits are the
year's (building the N-year lake through the whole pipeline is bench/pipeline.py's job).

Contenders, all fitted on the train split and scored once on the test split:
- mllib: featurelake.training.fit with the model's conf, but one grid point (the first value of each grid
  entry), so a fit is compared with a fit: indexing, imputation, GBT (maxIter from conf), scoring.
- mllib tuned (demo year only): the conf's whole grid, tuned on the validation split, as `featurelake train`.
- sklearn same trees: HistGradientBoostingClassifier with the same number of trees, depth, learning rate and
  bins, no cap on leaves, one row per leaf at least, categorical columns ordinal-encoded and declared
  categorical, no early stopping.
- sklearn default: HistGradientBoostingClassifier's defaults (100 iterations, early stopping on 10% of the
  train split), i.e. what a data scientist would run first.

Timing: MLlib from the cached Spark DataFrames to the scored test split (the fit includes scoring the
validation split for the threshold); sklearn from the pandas frames (toPandas is not timed) through the
ordinal encoding and the fit to the predicted test split. Both use the machine's 2 cores. The AUC of every
contender is then computed by the same exact function (featurelake.evaluation.auc_roc), not timed.

Usage: python -m bench.train [--years 10] [--repeat 1]
"""

from __future__ import annotations

import itertools
import time

from pyspark.sql import functions as F

from bench.common import bench_lake, main
from featurelake.featurestore.plan import SPLIT
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.ml.estimators import SCORE, model_input, with_score
from featurelake.ml.evaluation import auc_roc
from featurelake.ml.training import fit
from featurelake.ops.runner import run_pipeline

MODEL = "flight_delay"


def training_rows(spark, settings, run_dates, years: int):
    conf = settings.model(MODEL)
    table = settings.training_set(conf.training_set).table
    if not Catalog(spark, settings).exists(table):
        print(f"building {table} for the demo year (not timed) ...", flush=True)
        run_pipeline(Context.of(spark, settings, "bench-train"), run_dates, report=lambda line: None)
    rows = Catalog(spark, settings).read(table)
    label = settings.training_set(conf.training_set).label.name
    keys = settings.training_set(conf.training_set).events.keys
    copies = spark.range(years).select(F.col("id").cast("int").alias("copy"))
    replicated = rows.crossJoin(copies).withColumn("year", F.col("year") + F.col("copy")).drop("copy")
    return conf, label, replicated.transform(model_input(conf, label, keys)).repartition(conf.partitions, *keys)


def one_grid_point(conf):
    return conf.model_copy(update={"grid": {k: v[:1] for k, v in conf.grid.items()}})


def sklearn_auc(spark, train_pd, test_pd, conf, label, **params) -> tuple[float, float]:
    """Test AUC and seconds (encoding, fit and predicting the test split) of HistGradientBoostingClassifier."""
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.preprocessing import OrdinalEncoder

    started = time.monotonic()
    categorical, numeric = conf.features.categorical, conf.features.numeric
    encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1, encoded_missing_value=-1)
    x_train = train_pd[categorical + numeric].copy()
    x_test = test_pd[categorical + numeric].copy()
    x_train[categorical] = encoder.fit_transform(x_train[categorical])
    x_test[categorical] = encoder.transform(x_test[categorical])
    x_train[categorical] = x_train[categorical].where(x_train[categorical] >= 0)  # missing stays missing
    x_test[categorical] = x_test[categorical].where(x_test[categorical] >= 0)  # unseen -> missing
    model = HistGradientBoostingClassifier(
        categorical_features=list(range(len(categorical))), random_state=conf.seed, **params
    )
    model.fit(x_train, train_pd[label])
    scores = model.predict_proba(x_test)[:, 1]
    seconds = time.monotonic() - started
    frame = spark.createDataFrame(pd.DataFrame({label: test_pd[label].astype("float64"), SCORE: scores}))
    return auc_roc(frame, label, SCORE).first()["auc_roc"], seconds


def mllib_auc(conf, label, train, validation, test) -> tuple[float, float, dict]:
    """Test AUC and seconds (fit with its validation scoring, then scoring the test split) of the MLlib path."""
    started = time.monotonic()
    trained = fit(MODEL, conf, label, train, validation)
    predictions = with_score(trained.model.transform(test)).select(label, SCORE).cache()
    predictions.count()  # the test split scored
    seconds = time.monotonic() - started
    auc = auc_roc(predictions, label, SCORE).first()["auc_roc"]
    predictions.unpersist()
    return auc, seconds, trained.params


def measure(years: int, repeat: int) -> None:
    settings, spark, run_dates = bench_lake(1)
    conf, label, rows = training_rows(spark, settings, run_dates, years)
    rows = rows.cache()
    splits = {s: rows.where(F.col(SPLIT) == s).cache() for s in ("train", "validation", "test")}
    counts = {s: frame.count() for s, frame in splits.items()}
    print(f"\n{years} year(s): train {counts['train']:,}, validation {counts['validation']:,}, test {counts['test']:,}")
    results = []
    single = one_grid_point(conf)
    best = min(
        (mllib_auc(single, label, splits["train"], splits["validation"], splits["test"]) for _ in range(repeat)),
        key=lambda r: r[1],
    )
    results.append(("mllib GBT, one grid point", *best))
    if years == 1:
        tuned = mllib_auc(conf, label, splits["train"], splits["validation"], splits["test"])
        points = len(list(itertools.product(*conf.grid.values())))
        results.append((f"mllib GBT, tuned ({points} points)", *tuned))
    train_pd = splits["train"].toPandas()
    test_pd = splits["test"].toPandas()
    same = {  # MLlib's trees: depth-limited (no leaf cap), one row per leaf at least, as many bins
        "max_iter": single.params.get("maxIter", 20),
        "max_depth": single.grid.get("maxDepth", [5])[0],
        "learning_rate": single.grid.get("stepSize", [0.1])[0],
        "max_leaf_nodes": None,
        "min_samples_leaf": 1,
        "max_bins": min(255, best[2].get("maxBins", 32)),
        "early_stopping": False,
    }
    for name, params in (("sklearn HGB, same trees", same), ("sklearn HGB, defaults", {})):
        auc, seconds = min(
            (sklearn_auc(spark, train_pd, test_pd, conf, label, **params) for _ in range(repeat)), key=lambda r: r[1]
        )
        results.append((name, auc, seconds, params))
    reference = next(r for r in results if r[0] == "sklearn HGB, defaults")
    print(f"{'contender':32}{'test AUC':>10}{'seconds':>10}{'AUC - sklearn default':>24}")
    for name, auc, seconds, params in results:
        print(f"{name:32}{auc:>10.4f}{seconds:>10.1f}{auc - reference[1]:>+24.4f}  {params}")
    mllib = results[0]
    verdict = "met" if mllib[1] >= reference[1] - 0.01 else "missed"
    print(f"goal MLlib >= sklearn - 0.01: {verdict}; seconds mllib / sklearn default: {mllib[2] / reference[2]:.2f}")
    for frame in [rows, *splits.values()]:
        frame.unpersist()


if __name__ == "__main__":
    main(__doc__.splitlines()[0], measure)
