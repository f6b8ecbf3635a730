"""What a monitoring check found, judged against its thresholds, and the long form monitoring.<model> holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from featurelake.core.dates import DateRange
from featurelake.core.schema.ml import MonitoringConf
from featurelake.ml.predictions import PROBABILITY
from featurelake.monitoring.drift import Drift
from featurelake.monitoring.realized import Realized

VERDICT_REASONS = 4  # reasons in the one-line verdict; the report lists them all
FEATURE_PSI = "feature_psi"
PREDICTION_PSI = "prediction_psi"
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
    daily: list[dict]
    test_metrics: dict
    anomalies: list[dict]
    conf: MonitoringConf
    reasons: list[str] = field(default_factory=list)

    def judge(self) -> None:
        """Every threshold crossed, as a phrase."""
        crossed = sorted((d for d in self.features if d.alarming), key=lambda d: -d.psi)
        self.reasons = [f"{d.column} PSI {d.psi:.3f} > {d.threshold}" for d in crossed]
        if self.prediction.crossed:
            self.reasons.append(f"predicted probability PSI {self.prediction.psi:.3f} > {self.prediction.threshold}")
        scores, test_auc = self.realized.scores, self.test_metrics.get("test_auc_roc")
        realized_auc = scores.auc_roc if scores else None
        if realized_auc is not None and test_auc is not None and realized_auc < test_auc - self.conf.max_auc_drop:
            self.reasons.append(
                f"realized AUC {realized_auc:.3f} is more than {self.conf.max_auc_drop} below the test AUC "
                f"{test_auc:.3f}"
            )
        error = self.realized.calibration_error
        if error is not None and error > self.conf.max_calibration_error:
            self.reasons.append(f"calibration error {error:.3f} > {self.conf.max_calibration_error}")

    @property
    def retrain_recommended(self) -> bool:
        return bool(self.reasons)

    def verdict(self, shown: int = VERDICT_REASONS) -> str:
        """One line: the first reasons (the largest drifts first), and how many more there are."""
        if not self.reasons:
            return "no threshold crossed: no retrain recommended"
        more = len(self.reasons) - shown
        return "retrain recommended: " + "; ".join(self.reasons[:shown]) + (f"; and {more} more" if more > 0 else "")


def monitoring_rows(m: Monitoring) -> list[tuple]:
    """The long form monitoring.<model> holds: one row per check and name (and day, for daily values)."""
    base = (m.model, m.version, m.drift_days.start, m.drift_days.end)
    rows = [
        (
            *base,
            FEATURE_PSI,
            d.column,
            None,
            d.psi,
            d.threshold,
            d.alarming,
            d.verdict if not d.decides else None,
        )
        for d in m.features
    ]
    p = m.prediction
    rows.append((*base, PREDICTION_PSI, PROBABILITY, None, p.psi, p.threshold, p.crossed, None))
    r = m.realized
    window = f"labels of {r.days}: {r.labelled} of {r.predicted} predictions labelled"
    test_auc = m.test_metrics.get("test_auc_roc")
    lowest_auc = None if test_auc is None else test_auc - m.conf.max_auc_drop
    auc = r.scores.auc_roc if r.scores else None
    error = r.calibration_error
    realized = [  # name, value, threshold, crossed
        ("auc_roc", auc, lowest_auc, auc is not None and lowest_auc is not None and auc < lowest_auc),
        ("log_loss", r.scores.log_loss if r.scores else None, None, False),
        ("brier", r.scores.brier if r.scores else None, None, False),
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
