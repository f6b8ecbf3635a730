"""A model's conf is checked before anything is fitted: each mistake is one sentence naming the key."""

from __future__ import annotations

import pytest

from featurelake.core.errors import ConfigError
from featurelake.ml.estimators import classifier, parameter_grid
from featurelake.ml.training_data import check_columns
from featurelake.ops.cli import main
from featurelake.testing import frame_of


def test_unknown_model_name_is_one_sentence(settings, capsys, spark):
    code = main(["train", "--model", "flight_dealy", "--conf-dir", str(settings.conf_dir)])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error.startswith("featurelake: No model named flight_dealy in ") and error.count("\n") == 0
    assert "known models: flight_delay." in error


def test_training_set_without_a_feature_the_model_reads_is_named(settings, spark):
    conf = settings.model("flight_delay")
    columns = [*conf.features.categorical, *conf.features.numeric, *conf.segments]
    present = [c for c in dict.fromkeys(columns) if c != "weather_visib"]
    rows = spark.createDataFrame([tuple("x" if c in conf.features.categorical else 1.0 for c in present)], present)
    with pytest.raises(
        ConfigError,
        match=r"^models\.flight_delay\.features\.numeric names weather_visib, which "
        r"training set flight_delay v3 does not have; add it to the training set",
    ):
        check_columns("flight_delay", conf, "flight_delay", 3, rows)


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"maxDepth": [4, -1]}, r"models\.flight_delay\.grid\.maxDepth: -1 is not a valid maxDepth for GBTClassifier"),
        ({"maxDepht": [4]}, r"grid\.maxDepht: maxDepht is not a parameter of GBTClassifier a model may set; they "),
        (
            {"probabilityCol": ["p"]},
            r"grid\.probabilityCol: probabilityCol is not a parameter of GBTClassifier a model",
        ),
        ({"maxDepth": [None]}, r"models\.flight_delay\.grid\.maxDepth: a value is missing; give one or remove the key"),
        ({"stepSize": ["fast"]}, r"models\.flight_delay\.grid\.stepSize: 'fast' is not a valid stepSize"),
        ({"minInstancesPerNode": [0]}, r"grid\.minInstancesPerNode: 0 is not a valid minInstancesPerNode for GBTClass"),
    ],
)
def test_invalid_grid_is_one_sentence_before_any_fit(make_settings, spark, grid, message):
    settings = make_settings({"models": {"flight_delay": {"grid": grid, "params": {"maxIter": 5}}}})
    conf = settings.model("flight_delay")
    with pytest.raises(ConfigError, match=message):
        parameter_grid("flight_delay", conf, classifier("flight_delay", conf, "is_delayed"))


def test_valid_grid_lists_every_combination_in_conf_order(make_settings, spark):
    settings = make_settings({"models": {"flight_delay": {"grid": {"maxDepth": [3, 5], "stepSize": [0.1, 0.3]}}}})
    conf = settings.model("flight_delay")
    grid = parameter_grid("flight_delay", conf, classifier("flight_delay", conf, "is_delayed"))
    assert grid == [
        {"maxDepth": 3, "stepSize": 0.1},
        {"maxDepth": 3, "stepSize": 0.3},
        {"maxDepth": 5, "stepSize": 0.1},
        {"maxDepth": 5, "stepSize": 0.3},
    ]


def test_a_parameter_both_fixed_and_tuned_is_refused(make_settings):
    with pytest.raises(ConfigError, match=r"models\.flight_delay.* sets maxDepth under both params and grid"):
        make_settings({"models": {"flight_delay": {"params": {"maxDepth": 3}}}})


def test_a_split_with_one_class_or_a_feature_without_values_is_one_sentence(settings, spark):
    from featurelake.core.errors import FeaturelakeError
    from featurelake.featurestore.plan import Manifest
    from featurelake.ml.training_data import SplitCounts, TrainingData, split_counts
    from tests.unit.manifests import on_disk_manifest

    conf = settings.model("flight_delay")
    numeric = conf.features.numeric
    schema = ", ".join(["split string", "is_delayed double", *[f"{c} double" for c in numeric]])

    def data(rows):
        frame = frame_of(spark, rows, schema)
        manifest = Manifest.model_validate(on_disk_manifest())  # its label: is_delayed
        return TrainingData("flight_delay", "training_sets.flight_delay", 4, manifest, frame)

    values = [1.0] * len(numeric)
    one_class_test = [
        ("train", 0.0, *values),
        ("train", 1.0, *values),
        ("validation", 0.0, *values),
        ("validation", 1.0, *values),
        ("test", 0.0, *values),
    ]
    counts = split_counts(conf, data([*one_class_test, ("test", 1.0, *values), ("unused", 1.0, *values)]))
    by_role = {"train": 2, "validation": 2, "test": 2}
    assert counts == SplitCounts(rows_in=7, split_rows=by_role, train_positive_rate=0.5)
    assert counts.rows_used == 6
    with pytest.raises(
        FeaturelakeError,
        match=r"^The test split of training set flight_delay v4 holds only one "
        r"class of is_delayed, so no AUC can be computed on it; widen the split's dates\.$",
    ):
        split_counts(conf, data(one_class_test))
    no_visibility = [
        tuple(None if c == "weather_visib" else v for c, v in zip(["split", "is_delayed", *numeric], r, strict=True))
        if r[0] == "train"
        else r
        for r in [*one_class_test, ("test", 1.0, *values)]
    ]
    with pytest.raises(
        FeaturelakeError,
        match=r"^Feature weather_visib has no value in the train split of training "
        r"set flight_delay v4, so nulls cannot be imputed",
    ):
        split_counts(conf, data(no_visibility))
