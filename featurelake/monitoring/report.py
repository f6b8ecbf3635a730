"""The drift report: the console text and the HTML page (templates/drift_report.html.j2) with its plots."""

from __future__ import annotations

from featurelake.core import html
from featurelake.core.html import figure_png, number
from featurelake.core.text import text_table
from featurelake.monitoring.drift import SCORE_HISTOGRAM_BINS, Drift
from featurelake.monitoring.result import Monitoring

PLOTS = {
    "psi.png": "Drift per input, in units of its own threshold",
    "scores.png": "Predicted probability: reference and recent",
    "realized_auc.png": "Estimated and realized AUC per day",
}
REALIZED_METRICS = ("auc_roc", "auc_pr", "log_loss", "brier", "precision", "recall", "f1")  # Scores fields


def ranked(m: Monitoring) -> list[Drift]:
    """The inputs by importance x drift, then by PSI in units of its threshold."""
    return sorted(m.features, key=lambda d: (-d.weighted, -d.psi / d.threshold, d.column))


def _thresholds_line(m: Monitoring) -> str:
    windows = max((d.calibrated_on for d in m.features), default=0)
    if windows:
        return (
            f"thresholds: the {m.conf.drift_quantile:g} quantile over {windows} windows of {m.conf.window} inside the "
            "reference"
        )
    return f"thresholds: fixed PSI {m.conf.feature_psi} (the reference holds too few windows of {m.conf.window})"


def _share_line(m: Monitoring) -> str:
    share = m.drifted_importance
    if share is None:
        return "  share of the model's importance in drifted inputs: unknown (no importances logged)"
    return (
        f"  share of the model's importance in drifted inputs: {share:.1%} "
        f"(limit {m.conf.max_drifted_importance:.0%} with a moving estimate)"
    )


def render_text(m: Monitoring, report_path: str) -> str:
    r, e = m.realized, m.estimated
    lines = [
        f"monitor {m.model} v{m.version} on {m.run_date}: {m.current_rows:,} predictions of {m.drift_days} against "
        f"{m.reference_rows:,} rows of the {m.reference_split} split",
        f"  drift of the inputs by importance x drift ({_thresholds_line(m)}):",
    ]
    if m.features:
        top = [
            (d.column, f"PSI {d.psi:.3f} / {d.threshold:.3f}", f"JS {number(d.js)} / {number(d.js_threshold)}",
             f"importance {number(d.importance)}", d.verdict)
            for d in ranked(m)[:8]
        ]  # fmt: skip
        lines.append(text_table(None, top, indent="    "))
    lines.append(_share_line(m))
    lines.append(f"  PSI of the predicted probability: {m.prediction.psi:.3f} (threshold {m.prediction.threshold:.3f})")
    test = m.test_metrics
    w = e.window
    lines.append(
        f"  estimated from the probabilities on {m.drift_days} ({w.rows:,} predictions): AUC {number(w.auc_roc)} "
        f"(test {number(test.get('test_auc_roc'))}), precision {number(w.precision)}, recall {number(w.recall)}, "
        f"positive rate {number(w.positive_rate)}" + (f"; calibrated on {e.calibrated_on}" if e.calibrated_on else "")
    )
    if r.scores:
        lines.append(
            f"  realized on {r.days} ({r.labelled:,} labelled of {r.predicted:,}): AUC {number(r.scores.auc_roc)} "
            f"(estimated {number(e.labelled.auc_roc)}, test {number(test.get('test_auc_roc'))}), log loss "
            f"{number(r.scores.log_loss)} (test {number(test.get('test_log_loss'))}), calibration error "
            f"{number(r.calibration_error)}"
        )
    else:
        lines.append(
            f"  realized on {r.days}: {r.labelled:,} labelled of {r.predicted:,} predictions, no realized metrics yet "
            f"({r.unscored(m.conf.min_labelled_rows, f'models.{m.model}.monitoring.min_labelled_rows')})"
        )
    lines.append(
        f"  data anomalies in the tables the model reads: {len(m.anomalies)}"
        + "".join(f"\n    {a.day} {a.table}: {a.expectation} = {a.observed_value}" for a in m.anomalies)
    )
    lines += [f"  {m.verdict()}", f"  drift report: {report_path}"]
    return "\n".join(lines)


def _plots(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    def psi(axes):
        shown = [*sorted(m.features, key=lambda d: d.psi / d.threshold), m.prediction]  # the highest at the top
        names = [d.column for d in shown]
        colors = ["#c0392b" if d.alarming else ("#2e86c1" if d.decides else "#999999") for d in shown]
        axes.barh(names, [d.psi / d.threshold for d in shown], color=colors)
        axes.axvline(1.0, linestyle="--", color="#c0392b", label="its threshold")
        axes.set(xlabel="PSI / threshold", title=f"Drift, {m.drift_days} against {m.reference_split}")
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
        estimated = [(d.day, d.estimate.auc_roc) for d in m.estimated.daily if d.estimate.auc_roc is not None]
        if estimated:
            days, values = zip(*estimated, strict=True)
            axes.plot(days, values, marker=".", linestyle="--", label="estimated AUC")
        points = [(d.day, d.auc_roc) for d in m.daily if d.auc_roc is not None]
        if points:
            days, values = zip(*points, strict=True)
            axes.plot(days, values, marker="o", label="realized AUC")
        test_auc = m.test_metrics.get("test_auc_roc")
        if test_auc is not None:
            axes.axhline(test_auc, linestyle="--", color="grey", label="test AUC")
            axes.axhline(test_auc - m.conf.max_auc_drop, linestyle=":", color="#c0392b", label="retrain below")
        axes.set(ylabel="AUC-ROC", title="Estimated and realized AUC per day", ylim=(0.4, 1.0))
        axes.tick_params(axis="x", labelrotation=45, labelsize=7)
        axes.legend(loc="lower left")

    return {"psi.png": figure_png(psi), "scores.png": figure_png(scores), "realized_auc.png": figure_png(realized_auc)}


def drift_report_files(m: Monitoring, histograms: dict[str, list[float]]) -> dict[str, bytes]:
    """The drift report's files: drift_report.html and its plots."""
    plots = _plots(m, histograms)
    page = html.render(
        "drift_report.html.j2",
        m=m,
        listed=[m.prediction, *ranked(m)],
        metrics=REALIZED_METRICS,
        plots=plots,
        titles=PLOTS,
    )
    return {"drift_report.html": page.encode("utf-8"), **plots}
