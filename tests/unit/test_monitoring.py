"""Monitoring's arithmetic on hand-made rows: PSI and its bins, realized metrics, calibration error, the
latest validation's anomalies, and which crossed thresholds recommend retraining."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from featurelake.core.conf.ml import MonitoringConf
from featurelake.core.dates import DateRange
from featurelake.lake.catalog import Catalog
from featurelake.ml.evaluation import CalibrationBin, Scores
from featurelake.monitoring.drift import (
    PSI_FLOOR,
    Drift,
    bin_shares,
    categorical_binning,
    numeric_binning,
    population_stability_index,
    reference_binnings,
)
from featurelake.monitoring.estimated import Estimate, Estimated
from featurelake.monitoring.realized import (
    Anomaly,
    Realized,
    expected_calibration_error,
    realized_quality,
    recent_anomalies,
)
from featurelake.monitoring.result import Monitoring
from featurelake.quality.outcomes import ANOMALY, DAILY_METRIC
from featurelake.quality.results import RESULTS_SCHEMA
from featurelake.testing import frame_of

D = dt.date


def test_psi_by_hand_and_an_empty_bin_is_floored():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert population_stability_index([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.2746530722, abs=1e-9)
    assert population_stability_index([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0.0
    empty = (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5) + (1.0 - 0.5) * math.log(1.0 / 0.5)
    assert population_stability_index([0.5, 0.5], [0.0, 1.0]) == pytest.approx(empty, rel=1e-12)


def test_numeric_and_categorical_bins_keep_nulls_and_unseen_values_apart(spark):
    rows = frame_of(
        spark,
        [(0.5, "UA"), (1.0, "UA"), (1.5, "AA"), (2.0, None), (9.0, "ZZ"), (None, "AA")],
        "x double, carrier string",
    )
    numeric = numeric_binning("x", [1.0, 2.0])
    categorical = categorical_binning("carrier", ["UA", "AA"])
    assert numeric.labels == ["≤ 1", "(1, 2]", "> 2", "null"]
    assert categorical.labels == ["UA", "AA", "other", "null"]
    shares = bin_shares(rows, [numeric, categorical])
    assert shares["x"] == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])
    assert shares["carrier"] == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])


def test_reference_bins_come_from_its_quantiles_and_most_frequent_values(spark):
    values = [(float(i), "UA" if i % 3 else ("AA" if i % 2 else "B6")) for i in range(1, 101)]
    reference = frame_of(spark, values, "x double, carrier string")
    conf = MonitoringConf(psi_bins=4, max_categories=2)
    numeric, categorical = reference_binnings(reference, ["x"], ["carrier"], conf)
    assert numeric.labels == ["≤ 25", "(25, 50]", "(50, 75]", "> 75", "null"]
    assert categorical.labels == ["UA", "AA", "other", "null"]  # 67 UA, 17 AA, 16 B6
    same = bin_shares(reference, [numeric, categorical])
    assert same["x"] == pytest.approx([0.25, 0.25, 0.25, 0.25, 0.0])


def test_realized_metrics_by_hand_on_labelled_days_only(spark):
    schema = "probability double, is_delayed int, _run_date date"
    rows = frame_of(
        spark,
        [
            (0.9, 1, D(2013, 1, 2)),
            (0.6, 0, D(2013, 1, 2)),
            (0.4, 1, D(2013, 1, 2)),
            (0.2, 0, D(2013, 1, 3)),
            (0.7, None, D(2013, 1, 3)),  # excluded by the label (a cancelled flight)
            (0.99, 0, D(2013, 1, 4)),  # outside the labelled window
        ],
        schema,
    )
    realized = realized_quality(rows, "is_delayed", 0.5, DateRange(D(2013, 1, 2), D(2013, 1, 3)), min_rows=4)
    assert (realized.predicted, realized.labelled) == (5, 4)
    s = realized.scores
    # positives 0.9, 0.4; negatives 0.6, 0.2: pairs (0.9>0.6, 0.9>0.2, 0.4<0.6, 0.4>0.2) -> 3 of 4
    assert s.auc_roc == pytest.approx(0.75)
    expected_log_loss = -(math.log(0.9) + math.log(0.4) + math.log(0.4) + math.log(0.8)) / 4
    assert s.log_loss == pytest.approx(expected_log_loss, abs=1e-12)
    assert s.brier == pytest.approx((0.01 + 0.36 + 0.36 + 0.04) / 4)
    assert (s.precision, s.recall) == (pytest.approx(0.5), pytest.approx(0.5))  # 0.9 and 0.6 predicted positive
    # bins 0.2-0.3: 0.2 vs 0; 0.4-0.5: 0.4 vs 1; 0.6-0.7: 0.6 vs 0; 0.9-1.0: 0.9 vs 1
    assert realized.calibration_error == pytest.approx((0.2 + 0.6 + 0.6 + 0.1) / 4)
    too_few = realized_quality(rows, "is_delayed", 0.5, DateRange(D(2013, 1, 2), D(2013, 1, 3)), min_rows=5)
    assert too_few.scores is None and too_few.labelled == 4
    key = "models.m.monitoring.min_labelled_rows"
    assert too_few.unscored(5, key) == "4 labelled, fewer than the 5 of models.m.monitoring.min_labelled_rows"
    one_class = realized_quality(rows, "is_delayed", 0.5, DateRange(D(2013, 1, 3), D(2013, 1, 4)), min_rows=2)
    assert one_class.scores is None and (one_class.labelled, one_class.positives) == (2, 0)
    assert one_class.unscored(2, key) == "all 2 labelled rows are negative: AUC needs both classes"


def test_expected_calibration_error_weights_bins_by_rows():
    bins = [
        CalibrationBin("0.1-0.2", rows=3, mean_predicted=0.1, observed_rate=0.2),
        CalibrationBin("0.5-0.6", rows=0, mean_predicted=None, observed_rate=None),
        CalibrationBin("0.9-1.0", rows=1, mean_predicted=0.9, observed_rate=0.5),
    ]
    assert expected_calibration_error(bins) == pytest.approx((3 * 0.1 + 1 * 0.4) / 4)
    assert expected_calibration_error([CalibrationBin("0.0-0.1", 0, None, None)]) is None


def test_only_the_latest_validation_of_a_day_counts_its_anomalies(spark, settings):
    def result(at: str, table: str, day: dt.date, kind: str, name: str, value: str, committed=True) -> tuple:
        stamp = dt.datetime.fromisoformat(at)
        return (
            "r",
            stamp,
            table,
            "s.json",
            "fail",
            day,
            day,
            name,
            kind,
            "{}",
            kind != ANOMALY,
            value,
            None,
            None,
            None,
            committed,
            1 if committed else None,
        )

    rows = [
        # the 2nd was flagged, then validated again without the flag (a fixed delivery)
        result("2013-01-03 06:00", "features.origin_weather", D(2013, 1, 2), ANOMALY, "anomaly: row_count", "3"),
        result("2013-01-03 06:00", "features.origin_weather", D(2013, 1, 2), DAILY_METRIC, "row_count", "3.0"),
        result("2013-01-03 09:00", "features.origin_weather", D(2013, 1, 2), DAILY_METRIC, "row_count", "72.0"),
        result("2013-01-04 06:00", "silver.flights", D(2013, 1, 3), ANOMALY, "anomaly: null_fraction(dep_ts)", "0.4"),
        result("2013-01-04 06:00", "silver.weather", D(2013, 1, 3), ANOMALY, "anomaly: row_count", "1"),
        result("2013-01-09 06:00", "silver.flights", D(2013, 1, 8), ANOMALY, "anomaly: row_count", "5"),
        # validations whose rows were never committed (failed gates) neither flag nor clear a day
        result("2013-01-05 06:00", "silver.flights", D(2013, 1, 3), DAILY_METRIC, "row_count", "9.0", False),
        result("2013-01-06 06:00", "silver.flights", D(2013, 1, 5), ANOMALY, "anomaly: row_count", "2", False),
    ]
    Catalog(spark, settings).append(frame_of(spark, rows, RESULTS_SCHEMA), "quality.results")
    found = recent_anomalies(
        Catalog(spark, settings), ["silver.flights", "features.origin_weather"], DateRange(D(2013, 1, 1), D(2013, 1, 7))
    )
    assert found == [Anomaly("silver.flights", D(2013, 1, 3), "anomaly: null_fraction(dep_ts)", "0.4")]


def _monitoring(conf, features, prediction_psi, realized_auc, error, estimated_auc=None) -> Monitoring:
    scores = None
    if realized_auc is not None:
        scores = Scores(500, 0.2, realized_auc, 0.4, 0.5, 0.17, 0.2, 0.3, 0.6, 0.4)
    window = Estimate(700, estimated_auc, 0.4, 0.5, 0.2)
    return Monitoring(
        model="m",
        version=1,
        run_date=D(2013, 1, 8),
        drift_days=DateRange(D(2013, 1, 2), D(2013, 1, 8)),
        reference_split="train",
        reference_rows=1000,
        current_rows=700,
        features=features,
        prediction=Drift("probability", prediction_psi, conf.prediction_psi, True, [], [], []),
        realized=Realized(DateRange(D(2013, 1, 1), D(2013, 1, 7)), 600, 500, scores, [], error),
        daily=[],
        test_metrics={"test_auc_roc": 0.70},
        anomalies=[Anomaly("silver.flights", D(2013, 1, 3), "anomaly: row_count", "5")],  # never decides
        conf=conf,
        estimated=Estimated(window=window),
    )


def _drift(column: str, psi: float, importance: float, decides: bool = True, js: float = 0.2) -> Drift:
    return Drift(column, psi, 0.25, decides, [], [], [], js, 0.1, 30, importance)


def test_drift_alone_never_recommends_retraining_while_performance_holds():
    conf = MonitoringConf(max_auc_drop=0.05, max_drifted_importance=0.3, estimate_tolerance=0.02)
    drifted = [
        _drift("dest", 5.0, 0.6),  # drifted, most of the importance
        _drift("hour", 0.3, 0.1, js=0.05),  # PSI above, JS distance not: not drifted
        _drift("cal_month", 9.0, 0.3, decides=False),  # reported only
    ]
    calm = _monitoring(conf, drifted, 3.0, 0.69, 0.05, estimated_auc=0.69)
    calm.judge()
    assert [d.column for d in calm.drifted] == ["dest"] and calm.drifted_importance == pytest.approx(0.6)
    assert not calm.retrain_recommended, calm.reasons
    assert calm.verdict() == (
        "no retrain recommended: 1 input(s) drifted (dest first, 60% of the importance) but performance holds"
    )
    quiet = _monitoring(conf, [_drift("hour", 0.2, 1.0)], 0.1, None, None, estimated_auc=0.695)
    quiet.judge()
    assert quiet.verdict() == "no retrain recommended: performance holds and no input drifted"


def test_retraining_is_recommended_for_each_drop_and_the_reasons_are_ranked():
    conf = MonitoringConf(max_auc_drop=0.05, max_calibration_error=0.1, max_drifted_importance=0.3)
    drifted = [_drift("weather_temp", 0.9, 0.1), _drift("dest", 2.0, 0.5), _drift("hour", 0.6, 0.2)]
    drifted.append(_drift("distance", 0.05, 0.2))  # not drifted
    alarmed = _monitoring(conf, drifted, 0.4, 0.64, 0.12, estimated_auc=0.62)
    alarmed.judge()
    assert [d.column for d in alarmed.drifted] == ["dest", "hour", "weather_temp"]  # importance x drift
    assert alarmed.reasons == [
        "realized AUC 0.640 is more than 0.05 below the test AUC 0.700",
        "estimated AUC 0.620 of 2013-01-02..2013-01-08 is more than 0.05 below the test AUC 0.700",
        "inputs holding 80% of the model's importance drifted (dest, hour, weather_temp) and the estimated AUC "
        "moved from 0.700 to 0.620",
    ]
    assert alarmed.verdict().startswith("retrain recommended: realized AUC 0.640 is more than 0.05 below")
    # before labels land: the estimate alone
    unlabelled = _monitoring(conf, [], 0.0, None, None, estimated_auc=0.62)
    unlabelled.judge()
    assert unlabelled.reasons == [
        "estimated AUC 0.620 of 2013-01-02..2013-01-08 is more than 0.05 below the test AUC 0.700"
    ]
    # drift over a third of the importance and an estimate that moved 0.03 (within the drop, beyond the tolerance)
    moved = _monitoring(conf, drifted, 0.0, None, None, estimated_auc=0.67)
    moved.judge()
    assert len(moved.reasons) == 1 and moved.reasons[0].startswith("inputs holding 80% of the model's importance")
    # or rose as much: the model works where its test split never was
    rose = _monitoring(conf, drifted, 0.0, None, None, estimated_auc=0.73)
    rose.judge()
    assert rose.reasons == [
        "inputs holding 80% of the model's importance drifted (dest, hour, weather_temp) and the estimated AUC "
        "moved from 0.700 to 0.730"
    ]
    # the same drift with an estimate that stayed
    stayed = _monitoring(conf, drifted, 0.0, None, None, estimated_auc=0.69)
    stayed.judge()
    assert not stayed.retrain_recommended
    # little of the importance drifted: the moving estimate alone is no reason
    small = _monitoring(conf, [_drift("hour", 0.6, 0.2), _drift("dest", 0.1, 0.8)], 0.0, None, None, 0.67)
    small.judge()
    assert small.drifted_importance == pytest.approx(0.2) and not small.retrain_recommended


def test_a_reference_profile_is_computed_once_per_key_stored_and_made_again_whole(spark, tmp_path):
    """The reference's side of a check, stored beside the reports: read back as it was (binnings that bin the
    same rows the same way) while its key holds; computed again and replaced when the key changes."""
    from featurelake.monitoring.drift import Threshold
    from featurelake.monitoring.reference import PROFILE_FILE, ReferenceProfile, profile_key, reference_profile

    rows = frame_of(spark, [(0.5, "UA"), (1.5, "AA"), (2.5, None)], "x double, carrier string")
    binnings = [numeric_binning("x", [1.0, 2.0]), categorical_binning("carrier", ["UA"])]
    conf = MonitoringConf()
    computed = []

    def compute(key):
        computed.append(key)
        return ReferenceProfile(
            key=key,
            rows=3,
            bins=ReferenceProfile.bins_of(binnings),
            shares=bin_shares(rows, binnings),
            thresholds={"x": Threshold(0.4, 0.2, 12), "carrier": Threshold(0.25)},
            histogram=[0.5, 0.5],
        )

    key = profile_key(1, 0, conf, "day")
    first = reference_profile(spark, str(tmp_path), key, lambda: compute(key))
    again = reference_profile(spark, str(tmp_path), key, lambda: compute(key))
    assert computed == [key] and again == first and (tmp_path / PROFILE_FILE).exists()
    assert again.thresholds == {"x": Threshold(0.4, 0.2, 12), "carrier": Threshold(0.25)}
    assert (
        bin_shares(rows, again.binnings)
        == first.shares
        == {
            "x": [1 / 3, 1 / 3, 1 / 3, 0.0],
            "carrier": [
                1 / 3,
                1 / 3,
                1 / 3,
            ],
        }
    )
    assert [b.labels for b in again.binnings] == [b.labels for b in binnings]
    other = profile_key(1, 0, MonitoringConf(drift_quantile=0.99), "day")  # a conf change: another key
    assert other != key and profile_key(2, 0, conf, "day") != key
    assert reference_profile(spark, str(tmp_path), other, lambda: compute(other)).key == other
    assert computed == [key, other]
    (tmp_path / PROFILE_FILE).write_text('{"key": "' + other + '", "rows": ')  # cut short: computed again
    (tmp_path / f".{PROFILE_FILE}.crc").unlink()  # as on an object store: nothing but the file to go by
    assert reference_profile(spark, str(tmp_path), other, lambda: compute(other)) == first.model_copy(
        update={"key": other}
    )
    assert computed == [key, other, other]


def test_checks_of_one_model_at_once_compute_its_reference_profile_once(spark, tmp_path):
    """Two checks of a batch running at once: one computes the profile, the other waits and reads it."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from featurelake.monitoring.reference import ReferenceProfile, profile_key, reference_profile

    key = profile_key(1, 0, MonitoringConf(), "day")
    computed, start = [], threading.Barrier(2)
    binnings = [numeric_binning("x", [1.0, 2.0])]

    def compute():
        computed.append(threading.get_ident())
        time.sleep(0.5)  # a real profile takes seconds: long enough for the other check to arrive
        return ReferenceProfile(
            key=key,
            rows=3,
            bins=ReferenceProfile.bins_of(binnings),
            shares={"x": [0.5, 0.5, 0.0]},
            thresholds={},
            histogram=[1.0],
        )

    def check(_):
        start.wait()
        return reference_profile(spark, str(tmp_path), key, compute)

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(check, range(2))
    assert len(computed) == 1
    assert first == second and first.shares == {"x": [0.5, 0.5, 0.0]}
