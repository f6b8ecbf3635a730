"""The model card: one HTML page a reviewer can read without MLflow, with the plots as PNG files (also
embedded in the page, so the copy in MLflow's artifact viewer shows them too).

What it holds: the test metrics next to the baselines; ROC, precision-recall, calibration and importance
plots; the per-segment table; the data and lineage (training set version and content hash, the feature
groups and their table versions, date ranges, the label definition); intended use and known limits.
"""

from __future__ import annotations

import base64
import html
import io
import json

from featurelake import storage
from featurelake.config import ModelConf, Settings, confine

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


def _figure_png(draw) -> bytes:
    import matplotlib

    matplotlib.use("Agg")  # no display on a cluster driver
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(5.5, 4.2), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)


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
    return {name: _figure_png(draw) for name, draw in drawers.items()}


# ---------------------------------------------------------------------------------------------- the page


def _number(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _table(headers: list[str], rows: list[list], row_classes: list[str] | None = None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        css = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _page(model, conf, version, data, trained, evaluation, promotion, plots) -> str:
    e = html.escape
    manifest, plan = data.manifest, data.manifest["plan"]
    scored = [("model", evaluation.test), *evaluation.baselines.items()]
    metrics = _table(
        ["", "AUC-ROC", "AUC-PR", "log loss", "Brier", "threshold", "precision", "recall", "F1"],
        [
            [
                name,
                _number(s.auc_roc),
                _number(s.auc_pr),
                _number(s.log_loss),
                _number(s.brier),
                _number(s.threshold),
                _number(s.precision),
                _number(s.recall),
                _number(s.f1),
            ]
            for name, s in scored
        ],
    )
    segments = _table(
        ["segment", "value", "test rows", "delayed share", "AUC-ROC", "flag"],
        [
            [
                s["segment"],
                s["value"],
                f"{s['rows']:,}",
                f"{s['positive_rate']:.1%}",
                _number(s["auc_roc"]),
                "below overall" if s["flagged"] else "",
            ]
            for s in evaluation.segments
        ],
        ["flagged" if s["flagged"] else "" for s in evaluation.segments],
    )
    calibration = _table(
        ["probability bin", "rows", "mean predicted", "observed"],
        [
            [b["bin"], f"{b['rows']:,}", _number(b["mean_predicted"]), _number(b["observed_rate"])]
            for b in evaluation.calibration
        ],
    )
    groups = _table(
        ["feature group", "table", "Delta version", "features"],
        [[g["name"], g["table"], g["version"], ", ".join(g["features"])] for g in plan["feature_groups"]],
    )
    splits = _table(
        ["split", "from", "to", "rows", "delayed share"],
        [
            [name, span["from"], span["to"], f"{span['rows']:,}", f"{span['positive_rate']:.1%}"]
            for name, span in sorted(manifest["splits"].items(), key=lambda item: item[1]["from"])
        ],
    )
    images = "".join(
        f'<figure><img alt="{e(title)}" src="data:image/png;base64,{base64.b64encode(plots[name]).decode()}">'
        f"<figcaption>{e(title)} ({e(name)})</figcaption></figure>"
        for name, title in PLOTS.items()
    )
    candidates = _table(
        ["parameters", "validation AUC-ROC"],
        [[json.dumps(c.params, sort_keys=True), _number(c.validation_auc, 4)] for c in trained.candidates],
    )
    label = plan["label"]
    limits = "".join(f"<li>{e(item)}</li>" for item in conf.card.limitations)
    flagged = sum(1 for s in evaluation.segments if s["flagged"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Model card: {e(model)} v{version}</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
tr.flagged td {{ background: #fde2e1; }}
.plots {{ display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }}
figure {{ margin: 0; }}
figure img {{ width: 100%; }}
</style></head><body>
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
<div class="plots">{images}</div>
<h2>Calibration</h2>
{calibration}
<h2>Per segment (test split)</h2>
<p>{flagged} segment(s) have a test AUC at least {conf.segment_auc_drop} below the overall
{_number(evaluation.test.auc_roc)}; segments with fewer than {conf.segment_min_rows} rows get no AUC.</p>
{segments}
<h2>Data and lineage</h2>
<p>Training set <b>{e(data.name)}</b> ({e(data.table)}) version {data.version}, content hash
<code>{e(manifest["content_hash"])}</code>, built {e(str(manifest.get("created_at", "")))} from git commit
<code>{e(str(manifest.get("git_commit", "")))}</code>. Label events: {e(plan["events"]["table"])} version
{plan["events"]["version"]}, predicted {-plan["events"]["prediction_offset_minutes"]} minutes before
{e(plan["events"]["event_time"])}.</p>
<p>Label <b>{e(label["name"])}</b>: {e(label["definition"])} with {e(json.dumps(label["params"], sort_keys=True))}.</p>
{splits}
{groups}
</body></html>
"""
