"""The drift report: the console text and the HTML page (templates/drift_report.html.j2) with its plots."""

from __future__ import annotations

from featurelake.core import html
from featurelake.core.html import figure_png, number
from featurelake.core.text import text_table
from featurelake.monitoring.drift import SCORE_HISTOGRAM_BINS, Drift
from featurelake.monitoring.result import Monitoring

PLOTS = {
    "psi.png": "Population stability index per input",
    "scores.png": "Predicted probability: reference and recent",
    "realized_auc.png": "Realized AUC per day",
}
REALIZED_METRICS = ("auc_roc", "auc_pr", "log_loss", "brier", "precision", "recall", "f1")  # Scores fields


def _top_drifts(m: Monitoring, count: int) -> list[Drift]:
    return sorted(m.features, key=lambda d: -d.psi)[:count]


def render_text(m: Monitoring, report_path: str) -> str:
    r = m.realized
    lines = [
        f"monitor {m.model} v{m.version} on {m.run_date}: {m.current_rows:,} predictions of {m.drift_days} against "
        f"{m.reference_rows:,} rows of the {m.reference_split} split",
        f"  PSI of the inputs (threshold {m.conf.feature_psi}), highest first:",
    ]
    if m.features:
        top = [(d.column, f"{d.psi:.3f}", d.verdict) for d in _top_drifts(m, 8)]
        lines.append(text_table(None, top, numeric={1}, indent="    "))
    lines.append(f"  PSI of the predicted probability: {m.prediction.psi:.3f} (threshold {m.prediction.threshold})")
    test = m.test_metrics
    if r.scores:
        lines.append(
            f"  realized on {r.days} ({r.labelled:,} labelled of {r.predicted:,}): AUC {number(r.scores.auc_roc)} "
            f"(test {number(test.get('test_auc_roc'))}), log loss {number(r.scores.log_loss)} "
            f"(test {number(test.get('test_log_loss'))}), calibration error {number(r.calibration_error)}"
        )
    else:
        lines.append(
            f"  realized on {r.days}: {r.labelled:,} labelled of {r.predicted:,} predictions, fewer than "
            f"{m.conf.min_labelled_rows} or one class only: no realized metrics yet"
        )
    lines.append(
        f"  data anomalies in the tables the model reads: {len(m.anomalies)}"
        + "".join(f"\n    {a.day} {a.table}: {a.expectation} = {a.observed_value}" for a in m.anomalies)
    )
    lines += [f"  {m.verdict()}", f"  drift report: {report_path}"]
    return "\n".join(lines)


def _plots(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    def psi(axes):
        shown = [*sorted(m.features, key=lambda d: d.psi), m.prediction]  # the highest at the top
        names = [d.column for d in shown]
        colors = ["#c0392b" if d.alarming else ("#2e86c1" if d.decides else "#999999") for d in shown]
        axes.barh(names, [d.psi for d in shown], color=colors)
        axes.axvline(m.conf.feature_psi, linestyle="--", color="#c0392b", label=f"threshold {m.conf.feature_psi}")
        axes.set(xlabel="PSI", title=f"PSI, {m.drift_days} against {m.reference_split}")
        axes.tick_params(axis="y", labelsize=6)
        axes.legend(loc="lower right")

    def scores(axes):
        width = 1.0 / SCORE_HISTOGRAM_BINS
        edges = [i * width for i in range(SCORE_HISTOGRAM_BINS)]
        axes.bar(edges, histograms["reference"], width=width, align="edge", alpha=0.5, label=m.reference_split)
        axes.bar(edges, histograms["recent"], width=width, align="edge", alpha=0.5, label=str(m.drift_days))
        axes.set(xlabel="predicted probability", ylabel="share of rows", title="Score distributions")
        axes.legend(loc="upper right")

    def realized_auc(axes):
        points = [(d.day, d.auc_roc) for d in m.daily if d.auc_roc is not None]
        if points:
            days, values = zip(*points, strict=True)
            axes.plot(days, values, marker="o", label="realized AUC")
        test_auc = m.test_metrics.get("test_auc_roc")
        if test_auc is not None:
            axes.axhline(test_auc, linestyle="--", color="grey", label="test AUC")
            axes.axhline(test_auc - m.conf.max_auc_drop, linestyle=":", color="#c0392b", label="retrain below")
        axes.set(ylabel="AUC-ROC", title="Realized AUC per day", ylim=(0.4, 1.0))
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        axes.legend(loc="lower left")

    return {"psi.png": figure_png(psi), "scores.png": figure_png(scores), "realized_auc.png": figure_png(realized_auc)}


def render(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    """The drift report's files: drift_report.html and its plots."""
    plots = _plots(m, histograms)
    page = html.render(
        "drift_report.html.j2",
        m=m,
        listed=[m.prediction, *sorted(m.features, key=lambda d: -d.psi)],
        metrics=REALIZED_METRICS,
        plots=plots,
        titles=PLOTS,
    )
    return {"drift_report.html": page.encode("utf-8"), **plots}
