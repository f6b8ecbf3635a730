"""The MLlib pipeline a model's conf declares: preprocessing (indexers, imputer, one vector), the classifier, its
parameter grid, and the baselines.
"""

from __future__ import annotations

import itertools

from pyspark.ml import Estimator, Pipeline, PipelineModel
from pyspark.ml.classification import GBTClassifier, LogisticRegression, RandomForestClassifier
from pyspark.ml.feature import Imputer, OneHotEncoder, StringIndexer, VectorAssembler
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.conf.ml import ModelConf
from featurelake.core.errors import ConfigError
from featurelake.featurestore.plan import SPLIT

SCORE = "score"
FEATURE_VECTOR = "feature_vector"
BASELINE_VECTOR = "baseline_vector"
ESTIMATORS = {
    "gbt": GBTClassifier,
    "random_forest": RandomForestClassifier,
    "logistic_regression": LogisticRegression,
}
TREES = {"gbt", "random_forest"}


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
