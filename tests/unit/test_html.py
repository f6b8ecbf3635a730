"""The pages from their templates escape every value they show; the console's text tables align their columns."""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest

from featurelake.core import html
from featurelake.core.conf.ml import ModelConf, MonitoringConf
from featurelake.core.dates import DateRange
from featurelake.core.text import text_table
from featurelake.featurestore.plan import parse_manifest
from featurelake.ml import model_card
from featurelake.ml.evaluation import CalibrationBin, Scores, Segment
from featurelake.ml.tracking import Promotion
from featurelake.ml.training import Candidate, Evaluation, TrainedModel
from featurelake.monitoring import report
from featurelake.monitoring.drift import Drift
from featurelake.monitoring.estimated import Estimate, Estimated
from featurelake.monitoring.realized import Anomaly, Realized
from featurelake.monitoring.result import Monitoring
from featurelake.quality.docs import _add_static_overview
from tests.unit.manifests import on_disk_manifest

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
PNG = b"\x89PNG not really"


@pytest.fixture
def no_plots(monkeypatch):
    """The pages, not matplotlib: every plot is the same few bytes."""
    monkeypatch.setattr(model_card, "figure_png", lambda draw: PNG)
    monkeypatch.setattr(report, "figure_png", lambda draw: PNG)


def scores(auc: float | None) -> Scores:
    return Scores(1234, 0.2, auc, 0.45, 0.43, 0.15, 0.35, 0.5, 0.6, None)


def test_model_card_escapes_every_value(no_plots):
    conf = ModelConf.model_validate(
        {
            "training_set": "flight_delay",
            "features": {"categorical": ["carrier"], "numeric": ["distance"]},
            "baselines": {"logistic_regression": ["distance"]},
            "card": {"intended_use": f"use {SCRIPT}", "limitations": [f"limit {SCRIPT}"]},
        }
    )
    evaluation = Evaluation(
        test=scores(0.7123),
        baselines={"majority class": scores(0.5)},
        calibration=[CalibrationBin("0.0-0.1", rows=1200, mean_predicted=0.05, observed_rate=None)],
        segments=[Segment("carrier", value=SCRIPT, rows=2345, positive_rate=0.25, auc_roc=0.6, flagged=True)],
        curves={},
        split_rows={"test": 1234},
        train_positive_rate=0.21,
        rows_in=1234,
        rows_used=1234,
    )
    trained = TrainedModel(None, {"maxDepth": SCRIPT}, [Candidate({"maxDepth": 3}, 0.70123)], 0.3, 0.71, [])
    recorded = on_disk_manifest() | {"git_commit": SCRIPT}
    recorded["plan"]["feature_groups"][0] |= {"name": "w", "table": "features.w", "version": 2}
    recorded["plan"]["feature_groups"][0]["features"] = {SCRIPT: "a feature", "wind": "wind speed"}
    manifest = parse_manifest(json.dumps(recorded), "v4.json")
    data = SimpleNamespace(name="flight_delay", table="training_sets.flight_delay", version=0, manifest=manifest)
    promotion = Promotion(version=1, champion=True, previous_version=None, previous_auc=None)

    page = model_card.card_files(SCRIPT, conf, 1, data, trained, evaluation, promotion)["model_card.html"].decode()

    assert "<script" not in page
    assert f"<title>Model card: {ESCAPED} v1</title>" in page and f"<h1>Model card: {ESCAPED} v1</h1>" in page
    assert f"<p>{ESCAPED} v1 is the first version: champion.</p>" in page
    assert f"<li>limit {ESCAPED}</li>" in page and f"<p>use {ESCAPED}</p>" in page
    assert f'<tr class="flagged"><td>carrier</td><td>{ESCAPED}</td><td>2,345</td><td>25.0%</td>' in page
    assert "<td>features.w</td><td>2</td><td>&lt;script&gt;alert(1)&lt;/script&gt;, wind</td>" in page
    assert "<td>0.0-0.1</td><td>1,200</td><td>0.050</td><td>–</td>" in page
    assert "<td>{&#34;maxDepth&#34;: 3}</td><td>0.7012</td>" in page
    assert '<img alt="ROC curve" src="' + html.png_data_uri(PNG) + '">' in page
    assert "<figcaption>Feature importances (importances.png)</figcaption>" in page


def test_drift_report_escapes_every_value(no_plots):
    days = DateRange(dt.date(2013, 1, 12), dt.date(2013, 1, 18))
    features = [
        Drift(SCRIPT, 0.61, 0.25, True, [], [], [], 0.3, 0.1, 30, 0.6),
        Drift("dep_hour", 0.01, 0.25, False, [], [], [], importance=0.4),
    ]
    realized = Realized(days, 5000, 4000, None, [], None)
    anomaly = Anomaly(table="silver.weather", day="2013-01-15", expectation=SCRIPT, observed_value=3)
    estimated = Estimated(window=Estimate(5000, 0.6, 0.5, 0.4, 0.2))
    m = Monitoring(
        "flight_delay", 1, dt.date(2013, 1, 18), days, "train", 9000, 5000, features,
        Drift("prediction", 0.05, 0.25, True, [], [], []), realized, [], {"test_auc_roc": 0.71}, [anomaly],
        MonitoringConf(), estimated,
    )  # fmt: skip
    m.judge()

    page = report.drift_report_files(m, {"reference": [], "recent": []})["drift_report.html"].decode()

    assert "<script" not in page
    assert '<tr class="flagged"><td><b>retrain recommended</b></td></tr>' in page
    assert "<li>estimated AUC 0.600 of 2013-01-12..2013-01-18 is more than 0.05 below the test AUC 0.710</li>" in page
    assert f"<li>inputs holding 60% of the model&#39;s importance drifted ({ESCAPED}) and the estimated AUC " in page
    assert (
        f'<tr class="flagged"><td>{ESCAPED}</td><td>0.600</td><td>0.610</td><td>0.250</td><td>0.300</td>'
        "<td>0.100</td><td>1.464</td><td>drifted</td><td>calibrated on 30 reference windows</td></tr>"
    ) in page
    assert (
        "<tr><td>dep_hour</td><td>0.400</td><td>0.010</td><td>0.250</td><td>–</td><td>–</td><td>0.016</td>"
        "<td>reported only</td><td>fixed (too few reference windows to calibrate)</td></tr>"
    ) in page
    assert "<tr><td>estimated 2013-01-12..2013-01-18</td><td>5,000</td><td>0.600</td><td>0.500</td>" in page
    assert f"<td>2013-01-15</td><td>silver.weather</td><td>{ESCAPED}</td><td>3</td>" in page
    assert "<tr><td>realized 2013-01-12..2013-01-18</td>" + "<td>–</td>" * 8 + "</tr>" in page
    assert '<img alt="Estimated and realized AUC per day" src="' + html.png_data_uri(PNG) + '">' in page
    text = report.render_text(m, "report.html")
    assert f"    {SCRIPT}  PSI 0.610 / 0.250  JS 0.300 / 0.100  importance 0.600  drifted\n    dep_hour" in text
    assert "  share of the model's importance in drifted inputs: 60.0% (limit 30% with a moving estimate)" in text


def test_docs_overview_escapes_every_value(tmp_path):
    def key(suite, hour):
        return SimpleNamespace(
            expectation_suite_identifier=SimpleNamespace(name=suite),
            run_id=SimpleNamespace(run_time=dt.datetime(2013, 3, 9, hour, 0, 1)),
        )

    keys = [key("bronze.flights", 1), key(f"silver.{SCRIPT}", 2)]
    store = SimpleNamespace(list_keys=lambda: keys, get=lambda k: SimpleNamespace(success=k is keys[0]))
    suites = SimpleNamespace(all=lambda: [SimpleNamespace(name=k.expectation_suite_identifier.name) for k in keys])
    page = tmp_path / "validations" / "bronze" / "flights" / "run" / "20130309T010001.000000Z" / "x.html"
    page.parent.mkdir(parents=True)
    page.write_text("validation")
    (tmp_path / "index.html").write_text("<html><body><p>GX</p></body></html>")

    _add_static_overview(SimpleNamespace(validation_results_store=store, suites=suites), tmp_path)

    index = (tmp_path / "index.html").read_text()
    assert "<script" not in index
    assert index.startswith('<html><body><section id="featurelake-overview"><h2>featurelake quality</h2>')
    assert index.endswith("</section><p>GX</p></body></html>")
    assert "<h3>Expectation suites (2)</h3>" in index and "<h3>Validations (2, newest first)</h3>" in index
    assert '<li class="featurelake-suite"><a href="expectations/bronze/flights.html">bronze.flights</a></li>' in index
    assert (
        f'<li class="featurelake-validation failed">silver.{ESCAPED} at 2013-03-09 02:00:01 UTC: '
        "<strong>FAILED</strong></li>\n"
        '<li class="featurelake-validation passed"><a href="validations/bronze/flights/run/20130309T010001.000000Z/'
        'x.html">bronze.flights at 2013-03-09 01:00:01 UTC</a>: <strong>PASSED</strong></li>'
    ) in index


def test_attribute_values_are_escaped_too():
    suite = SimpleNamespace(name=SCRIPT, page='x" onclick="alert(1)')
    listing = html.render("docs_overview.html.j2", suites=[suite], validations=[])
    assert f'<a href="x&#34; onclick=&#34;alert(1)">{ESCAPED}</a>' in listing


def test_text_table_pads_columns_and_right_aligns_numbers():
    rows = [["ingest", "1,234", 3], ["refine", "5", None]]
    assert text_table(["stage", "rows", "v"], rows, numeric={1}, rule=True).split("\n") == [
        "stage    rows  v",
        "------  -----  ----",
        "ingest  1,234  3",
        "refine      5  None",
    ]
    psi = [("weather_temp", "0.610", "crossed"), ("dep_hour", "0.010", "")]
    assert text_table(None, psi, {1}, indent="  ").split("\n") == [
        "  weather_temp  0.610  crossed",
        "  dep_hour      0.010",
    ]
    assert text_table(["a", "b"], []) == "a  b"
    assert text_table(None, []) == ""
