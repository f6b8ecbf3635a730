"""The model card: one HTML page a reviewer can read without MLflow, with the plots as PNG files (also
embedded in the page, so the copy in MLflow's artifact viewer shows them too).

What it holds: the test metrics next to the baselines; ROC, precision-recall, calibration and importance
plots; the per-segment table; the data and lineage (training set version and content hash, the feature
groups and their table versions, date ranges, the label definition); intended use and known limits. The page is
templates/model_card.html.j2.
"""

from __future__ import annotations

from featurelake.core import html
from featurelake.core.conf.ml import ModelConf
from featurelake.core.html import figure_png
from featurelake.core.settings import Settings
from featurelake.lake import storage
from featurelake.lake.tables import model_dir

TOP_IMPORTANCES = 20
PLOTS = {
    "roc.png": "ROC curve",
    "precision_recall.png": "Precision-recall curve",
    "calibration.png": "Calibration",
    "importances.png": "Feature importances",
}


def write(spark, settings: Settings, model: str, version: int, files: dict[str, bytes]) -> str:
    directory = model_dir(settings, model, version)
    storage.write_files(spark, directory, files)
    return directory


def card_files(model: str, conf: ModelConf, version: int, data, trained, evaluation, promotion) -> dict[str, bytes]:
    """The card's files: model_card.html and one PNG per plot."""
    plots = _plots(evaluation, trained, data.manifest.plan.label.positive)
    page = _page(model, conf, version, data, trained, evaluation, promotion, plots)
    return {"model_card.html": page.encode("utf-8"), **plots}


# ---------------------------------------------------------------------------------------------- plots


def _plots(evaluation, trained, positive: str) -> dict[str, bytes]:
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
        filled = [b for b in evaluation.calibration if b.rows]
        predicted = [b.mean_predicted for b in filled]
        observed = [b.observed_rate for b in filled]
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
        axes.plot(predicted, observed, marker="o", label="model")
        axes.set(
            xlabel="mean predicted probability", ylabel=f"observed {positive} share", title="Calibration (10 bins)"
        )
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
    return html.render(
        "model_card.html.j2",
        model=model,
        conf=conf,
        version=version,
        data=data,
        trained=trained,
        evaluation=evaluation,
        decision=promotion.sentence(model, evaluation.test.auc_roc or 0.0, conf.champion_margin),
        scored=[("model", evaluation.test), *evaluation.baselines.items()],
        splits=sorted(data.manifest.splits.items(), key=lambda item: item[1].start),
        flagged=sum(1 for s in evaluation.segments if s.flagged),
        plots=plots,
        titles=PLOTS,
    )
