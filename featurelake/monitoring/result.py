"""What a monitoring check found, judged against its thresholds, and the long form monitoring.<model> holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from featurelake.core.conf.ml import MonitoringConf
from featurelake.core.dates import DateRange
from featurelake.ml.predictions import PROBABILITY
from featurelake.monitoring.drift import Drift
from featurelake.monitoring.estimated import Estimate, Estimated
from featurelake.monitoring.realized import Anomaly, DailyMetric, Realized

VERDICT_REASONS = 4  # reasons in the one-line verdict; the report lists them all
DRIFTED_NAMED = 3  # drifted inputs named in the drift reason
FEATURE_PSI = "feature_psi"
FEATURE_JS = "feature_js"
PREDICTION_PSI = "prediction_psi"
IMPORTANCE = "importance"
DRIFTED_IMPORTANCE = "drifted_importance"
ESTIMATED = "estimated"
ESTIMATED_LABELLED = "estimated_labelled"
ESTIMATED_DAILY = "estimated_daily"
REALIZED = "realized"
REALIZED_DAILY = "realized_daily"
DATA_ANOMALY = "anomaly"
MONITORING_SCHEMA = (
    "model string, model_version int, window_from date, window_to date, check string, name string, day date, "
    "value double, threshold double, crossed boolean, detail string"
)


@dataclass
class Monitoring:
    model: str
    version: int
    run_date: dt.date
    drift_days: DateRange
    reference_split: str
    reference_rows: int
    current_rows: int
    features: list[Drift]
    prediction: Drift
    realized: Realized
    daily: list[DailyMetric]
    test_metrics: dict
    anomalies: list[Anomaly]
    conf: MonitoringConf
    estimated: Estimated = field(default_factory=Estimated)
    reasons: list[str] = field(default_factory=list)

    @property
    def drifted(self) -> list[Drift]:
        """The inputs that drifted and decide, the largest importance x drift first."""
        return sorted((d for d in self.features if d.alarming), key=lambda d: (-d.weighted, -d.psi, d.column))

    @property
    def drifted_importance(self) -> float | None:
        """The share of the model's importance held by drifted inputs (None: no importance was logged)."""
        total = sum(d.importance or 0.0 for d in self.features)
        if not total:
            return None
        return sum(d.importance or 0.0 for d in self.drifted) / total

    @property
    def test_auc(self) -> float | None:
        return self.test_metrics.get("test_auc_roc")

    def judge(self) -> None:
        """The reasons to retrain, most direct evidence first: realized performance, then estimated, then drift
        over a large share of the importance with the estimate moving. Drift alone, the calibration of the raw
        probabilities (the estimates use their own calibration), anomalies and report-only inputs never decide."""
        conf, test_auc = self.conf, self.test_auc
        self.reasons = []
        scores = self.realized.scores
        realized_auc = scores.auc_roc if scores else None
        if realized_auc is not None and test_auc is not None and realized_auc < test_auc - conf.max_auc_drop:
            self.reasons.append(
                f"realized AUC {realized_auc:.3f} is more than {conf.max_auc_drop} below the test AUC {test_auc:.3f}"
            )
        estimated_auc = self.estimated.window.auc_roc
        if estimated_auc is not None and test_auc is not None and estimated_auc < test_auc - conf.max_auc_drop:
            self.reasons.append(
                f"estimated AUC {estimated_auc:.3f} of {self.drift_days} is more than {conf.max_auc_drop} below the "
                f"test AUC {test_auc:.3f}"
            )
        share = self.drifted_importance
        moved = estimated_auc is not None and test_auc is not None
        # either way: a model whose important inputs moved and whose estimate moved with them works in a regime its
        # test split never showed (inputs that lost their meaning can raise the estimate while the labels fall)
        moved = moved and abs(test_auc - estimated_auc) > conf.estimate_tolerance
        if share is not None and share > conf.max_drifted_importance and moved:
            named = ", ".join(d.column for d in self.drifted[:DRIFTED_NAMED])
            more = len(self.drifted) - DRIFTED_NAMED
            named += f" and {more} more" if more > 0 else ""
            self.reasons.append(
                f"inputs holding {share:.0%} of the model's importance drifted ({named}) and the estimated AUC "
                f"moved from {test_auc:.3f} to {estimated_auc:.3f}"
            )

    @property
    def retrain_recommended(self) -> bool:
        return bool(self.reasons)

    def verdict(self, shown: int = VERDICT_REASONS) -> str:
        """One line: the first reasons, and how many more there are."""
        if not self.reasons:
            drifted = self.drifted
            if drifted:
                share = self.drifted_importance
                held = "" if share is None else f", {share:.0%} of the importance"
                return (
                    f"no retrain recommended: {len(drifted)} input(s) drifted ({drifted[0].column} first{held}) "
                    "but performance holds"
                )
            return "no retrain recommended: performance holds and no input drifted"
        more = len(self.reasons) - shown
        return "retrain recommended: " + "; ".join(self.reasons[:shown]) + (f"; and {more} more" if more > 0 else "")


def _estimate_rows(base: tuple, check: str, e: Estimate, lowest_auc: float | None, day=None, detail=None) -> list:
    auc_crossed = check == ESTIMATED and e.auc_roc is not None and lowest_auc is not None and e.auc_roc < lowest_auc
    values = [
        ("auc_roc", e.auc_roc, lowest_auc if check == ESTIMATED else None, auc_crossed),
        ("precision", e.precision, None, False),
        ("recall", e.recall, None, False),
        ("positive_rate", e.positive_rate, None, False),
    ]
    if day is not None:  # per day: the AUC and the positive rate, drawn over time
        values = [values[0][:2] + (None, False), values[3]]
    return [(*base, check, name, day, value, limit, crossed, detail) for name, value, limit, crossed in values]


def _drift_rows(base: tuple, d: Drift) -> list:
    detail = "reported only" if not d.decides else f"threshold {d.threshold_detail}"
    rows = [(*base, FEATURE_PSI, d.column, None, d.psi, d.threshold, d.alarming, detail)]
    rows.append((*base, FEATURE_JS, d.column, None, d.js, d.js_threshold, d.alarming, detail))
    if d.importance is not None:
        detail = f"importance x drift {d.weighted:.4f}"
        rows.append((*base, IMPORTANCE, d.column, None, d.importance, None, d.alarming, detail))
    return rows


def monitoring_rows(m: Monitoring) -> list[tuple]:
    """The long form monitoring.<model> holds: one row per check and name (and day, for daily values)."""
    base = (m.model, m.version, m.drift_days.start, m.drift_days.end)
    rows = [row for d in m.features for row in _drift_rows(base, d)]
    p = m.prediction
    detail = f"threshold {p.threshold_detail}"
    rows.append((*base, PREDICTION_PSI, PROBABILITY, None, p.psi, p.threshold, p.crossed, detail))
    share = m.drifted_importance
    if share is not None:
        names = ", ".join(d.column for d in m.drifted)
        crossed = share > m.conf.max_drifted_importance
        rows.append((*base, DRIFTED_IMPORTANCE, "share", None, share, m.conf.max_drifted_importance, crossed, names))
    test_auc = m.test_auc
    lowest_auc = None if test_auc is None else test_auc - m.conf.max_auc_drop
    e = m.estimated
    detail = f"{e.window.rows} predictions of {m.drift_days}, calibrated on {e.calibrated_on or 'nothing'}"
    rows += _estimate_rows(base, ESTIMATED, e.window, lowest_auc, detail=detail)
    r = m.realized
    window = f"labels of {r.days}: {r.labelled} of {r.predicted} predictions labelled"
    rows += _estimate_rows(base, ESTIMATED_LABELLED, e.labelled, None, detail=window)
    for day in e.daily:
        rows += _estimate_rows(base, ESTIMATED_DAILY, day.estimate, None, day.day, f"{day.estimate.rows} predictions")
    auc = r.scores.auc_roc if r.scores else None
    error = r.calibration_error
    realized = [  # name, value, threshold, crossed
        ("auc_roc", auc, lowest_auc, auc is not None and lowest_auc is not None and auc < lowest_auc),
        ("log_loss", r.scores.log_loss if r.scores else None, None, False),
        ("brier", r.scores.brier if r.scores else None, None, False),
        ("precision", r.scores.precision if r.scores else None, None, False),
        ("recall", r.scores.recall if r.scores else None, None, False),
        ("positive_rate", r.scores.positive_rate if r.scores else None, None, False),
        (
            "calibration_error",
            error,
            m.conf.max_calibration_error,
            error is not None and error > m.conf.max_calibration_error,
        ),
        ("labelled_rows", float(r.labelled), None, False),
    ]
    rows += [(*base, REALIZED, name, None, value, limit, crossed, window) for name, value, limit, crossed in realized]
    for day in m.daily:
        rows.append((*base, REALIZED_DAILY, "auc_roc", day.day, day.auc_roc, None, False, f"{day.rows} rows"))
    for a in m.anomalies:
        name = f"{a.table}: {a.expectation}"
        rows.append((*base, DATA_ANOMALY, name, a.day, None, None, False, a.observed_value))
    return rows
