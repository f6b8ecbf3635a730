"""The model card: one HTML page a reviewer can read without MLflow, with the plots as PNG files (also
embedded in the page, so the copy in MLflow's artifact viewer shows them too).

What it holds: the test metrics next to the baselines; ROC, precision-recall, calibration and importance
plots; the per-segment table; the data and lineage (training set version and content hash, the feature
groups and their table versions, date ranges, the label definition); intended use and known limits.
"""

from __future__ import annotations

import html
import json

from featurelake.core.html import STYLE, figure_png, figures, number, table
from featurelake.core.schema.ml import ModelConf
from featurelake.core.settings import Settings, confine
from featurelake.lake import storage

TOP_IMPORTANCES = 20
PLOTS = {
    "roc.png": "ROC curve",
    "precision_recall.png": "Precision-recall curve",
    "calibration.png": "Calibration",
    "importances.png": "Feature importances",
}


def card_dir(settings: Settings, model: str, version: int) -> str:
    return confine(settings.lake_root, f"models/{model}/v{version}", f"models.{model}")


def write(spark, settings: Settings, model: str, version: int, files: dict[str, bytes]) -> str:
    directory = card_dir(settings, model, version)
    for name, content in files.items():
        storage.write_bytes(spark, f"{directory}/{name}", content)
    return directory


def render(model: str, conf: ModelConf, version: int, data, trained, evaluation, promotion) -> dict[str, bytes]:
    """The card's files: model_card.html and one PNG per plot."""
    plots = _plots(evaluation, trained)
    page = _page(model, conf, version, data, trained, evaluation, promotion, plots)
    return {"model_card.html": page.encode("utf-8"), **plots}


# ---------------------------------------------------------------------------------------------- plots


def _plots(evaluation, trained) -> dict[str, bytes]:
    def roc(axes):
        for name, curve in evaluation.curves.items():
            xs, ys = zip(*curve["roc"], strict=True)
            axes.plot(xs, ys, label=name)
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
        axes.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test split)")
        axes.legend(loc="lower right")

    def precision_recall(axes):
        for name, curve in evaluation.curves.items():
            if curve["pr"]:
                xs, ys = zip(*curve["pr"], strict=True)
                axes.plot(xs, ys, label=name)
        axes.axhline(evaluation.test.positive_rate, linestyle="--", color="grey", label="base rate")
        axes.set(xlabel="recall", ylabel="precision", title="Precision-recall (test split)", ylim=(0, 1))
        axes.legend(loc="upper right")

    def calibration(axes):
        filled = [b for b in evaluation.calibration if b["rows"]]
        predicted = [b["mean_predicted"] for b in filled]
        observed = [b["observed_rate"] for b in filled]
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        axes.plot(predicted, observed, marker="o", label="model")
        axes.set(xlabel="mean predicted probability", ylabel="observed delayed share", title="Calibration (10 bins)")
        axes.legend(loc="upper left")

    def importances(axes):
        top = trained.importances[:TOP_IMPORTANCES][::-1]
        axes.barh([name for name, _ in top], [weight for _, weight in top])
        axes.set(xlabel="share of importance", title="Feature importances")
        axes.tick_params(axis="y", labelsize=7)

    drawers = {
        "roc.png": roc,
        "precision_recall.png": precision_recall,
        "calibration.png": calibration,
        "importances.png": importances,
    }
    return {name: figure_png(draw) for name, draw in drawers.items()}


# ---------------------------------------------------------------------------------------------- the page


def _page(model, conf, version, data, trained, evaluation, promotion, plots) -> str:
    e = html.escape
    manifest, plan = data.manifest, data.manifest.plan
    scored = [("model", evaluation.test), *evaluation.baselines.items()]
    metrics = table(
        ["", "AUC-ROC", "AUC-PR", "log loss", "Brier", "threshold", "precision", "recall", "F1"],
        [
            [
                name,
                number(s.auc_roc),
                number(s.auc_pr),
                number(s.log_loss),
                number(s.brier),
                number(s.threshold),
                number(s.precision),
                number(s.recall),
                number(s.f1),
            ]
            for name, s in scored
        ],
    )
    segments = table(
        ["segment", "value", "test rows", "delayed share", "AUC-ROC", "flag"],
        [
            [
                s["segment"],
                s["value"],
                f"{s['rows']:,}",
                f"{s['positive_rate']:.1%}",
                number(s["auc_roc"]),
                "below overall" if s["flagged"] else "",
            ]
            for s in evaluation.segments
        ],
        ["flagged" if s["flagged"] else "" for s in evaluation.segments],
    )
    calibration = table(
        ["probability bin", "rows", "mean predicted", "observed"],
        [
            [b["bin"], f"{b['rows']:,}", number(b["mean_predicted"]), number(b["observed_rate"])]
            for b in evaluation.calibration
        ],
    )
    groups = table(
        ["feature group", "table", "Delta version", "features"],
        [[g.name, g.table, g.version, ", ".join(g.features)] for g in plan.feature_groups],
    )
    splits = table(
        ["split", "from", "to", "rows", "delayed share"],
        [
            [name, span.start, span.end, f"{span.rows:,}", f"{span.positive_rate:.1%}"]
            for name, span in sorted(manifest.splits.items(), key=lambda item: item[1].start)
        ],
    )
    candidates = table(
        ["parameters", "validation AUC-ROC"],
        [[json.dumps(c.params, sort_keys=True), number(c.validation_auc, 4)] for c in trained.candidates],
    )
    label = plan.label
    limits = "".join(f"<li>{e(item)}</li>" for item in conf.card.limitations)
    flagged = sum(1 for s in evaluation.segments if s["flagged"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {e(model)} v{version}</title>
<style>{STYLE}</style></head><body>
<h1>Model card: {e(model)} v{version}</h1>
<p>{e(promotion.sentence(model, evaluation.test.auc_roc or 0.0, conf.champion_margin))}.</p>
<h2>Intended use</h2><p>{e(conf.card.intended_use)}</p>
<h2>Known limits</h2><ul>{limits}</ul>
<h2>Model</h2>
<p>{e(conf.algorithm)} in a Spark MLlib pipeline: categorical {e(", ".join(conf.features.categorical))} indexed
(unseen values kept), {len(conf.features.numeric)} numeric features with nulls imputed ({e(conf.impute)}),
seed {conf.seed}. Best parameters on the validation split: {e(json.dumps(trained.params, sort_keys=True))};
decision threshold {trained.threshold:.4f}, the best F1 on the validation split.</p>
{candidates}
<h2>Test metrics against the baselines</h2>
<p>{evaluation.test.rows:,} test rows, {evaluation.test.positive_rate:.1%} delayed. The majority-class baseline
predicts the train split's delayed share ({evaluation.train_positive_rate:.1%}) for every flight; the logistic
regression uses {e(", ".join(conf.baselines.logistic_regression))}.</p>
{metrics}
<h2>Plots</h2>
{figures(plots, PLOTS)}
<h2>Calibration</h2>
{calibration}
<h2>Per segment (test split)</h2>
<p>{flagged} segment(s) have a test AUC at least {conf.segment_auc_drop} below the overall
{number(evaluation.test.auc_roc)}; segments with fewer than {conf.segment_min_rows} rows get no AUC.</p>
{segments}
<h2>Data and lineage</h2>
<p>Training set <b>{e(data.name)}</b> ({e(data.table)}) version {data.version}, content hash
<code>{e(manifest.content_hash)}</code>, built {e(str(manifest.created_at))} from git commit
<code>{e(str(manifest.git_commit))}</code>. Label events: {e(plan.events.table)} version
{plan.events.version}, predicted {-plan.events.prediction_offset_minutes} minutes before
{e(plan.events.event_time)}.</p>
<p>Label <b>{e(label.name)}</b>: {e(label.definition)} with {e(json.dumps(label.params, sort_keys=True))}.</p>
{splits}
{groups}
</body></html>
"""
