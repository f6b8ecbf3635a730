"""The training-set plan and manifest as typed contracts: the JSON on disk round-trips unchanged, a manifest
is validated when read, and one that is not a manifest is one sentence naming the file and the field."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from featurelake.core.dates import DateRange
from featurelake.core.errors import FeaturelakeError
from featurelake.featurestore.plan import (
    EventsPlan,
    GroupPlan,
    LabelPlan,
    Manifest,
    SplitSummary,
    load_manifest,
    parse_manifest,
    plan_from_conf,
)
from featurelake.lake.catalog import Catalog
from featurelake.lake.tables import manifest_dir
from featurelake.testing import frame_of
from tests.unit.manifests import KEYS, on_disk_manifest


def written(settings, manifest: dict, version: int = 4) -> str:
    """The manifest's file in the lake, as build_training_set writes it today (json.dumps, indent 2)."""
    path = Path(manifest_dir(settings, "training_sets.flight_delay"), f"v{version}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2, default=str))
    return str(path)


def test_a_manifest_round_trips_through_its_json_in_todays_format():
    manifest = Manifest.model_validate(on_disk_manifest())
    assert Manifest.model_validate_json(manifest.to_json()) == manifest
    # the same keys and value formats as the manifests already on disk (a split's from/to, dates as ISO text)
    assert json.loads(manifest.to_json()) == on_disk_manifest()
    assert list(json.loads(manifest.to_json())) == list(on_disk_manifest())
    assert list(json.loads(manifest.to_json())["plan"]["feature_groups"][0]) == list(
        on_disk_manifest()["plan"]["feature_groups"][0]
    )


def test_an_existing_manifest_file_loads_into_a_manifest(spark, settings):
    manifest = load_manifest(spark, settings, written(settings, on_disk_manifest()))
    assert manifest.version == 4 and manifest.content_hash == "3f" * 32 and manifest.label == "is_delayed"
    assert manifest.splits["train"] == SplitSummary(
        rows=2000, positive_rate=0.2105, start="2013-01-01", end="2013-01-08"
    )
    assert manifest.splits["test"].start == dt.date(2013, 1, 11) and manifest.splits["test"].end == dt.date(2013, 1, 14)
    plan = manifest.plan
    assert plan.events == EventsPlan(
        table="silver.flights",
        keys=KEYS,
        event_time="sched_dep_ts",
        prediction_offset_minutes=-60,
        columns=["carrier", "origin", "dest"],
        version=3,
        noun="flight",
    )
    assert plan.events.known == ["dest"]
    assert plan.label == LabelPlan(
        name="is_delayed",
        definition="features.labels:is_delayed",
        params={"threshold_minutes": 15, "cancelled": "exclude", "diverted": "positive"},
        description="arrived more than 15 minutes late, or diverted",
        positive="delayed",
    )
    assert plan.splits["validation"] == (dt.date(2013, 1, 9), dt.date(2013, 1, 10))
    assert plan.spans["test"] == DateRange(dt.date(2013, 1, 11), dt.date(2013, 1, 14))
    assert plan.date_span == DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 14))
    carrier, calendar = plan.feature_groups
    assert carrier.ttl == dt.timedelta(days=7) and calendar.ttl is None
    assert carrier.available_at == "_available_at_carrier_performance"
    assert plan.feature_columns == ["carrier", "origin", "dest", "carrier_delayed_share_7d", "cal_hour"]
    assert plan.build_columns == [
        *KEYS,
        "dest",
        "prediction_time",
        "is_delayed",
        "split",
        "carrier_delayed_share_7d",
        "_available_at_carrier_performance",
        "cal_hour",
        "_available_at_calendar",
    ]
    assert plan.input_versions == manifest.input_versions == on_disk_manifest()["input_versions"]


def test_a_plan_at_other_versions_changes_only_the_versions():
    plan = Manifest.model_validate(on_disk_manifest()).plan
    current = {"silver.flights": 9, "features.carrier_performance": 5, "features.calendar": 1}
    moved = plan.with_versions(current.__getitem__)
    assert moved.input_versions == current
    assert moved.model_dump(exclude={"events": {"version"}, "feature_groups": {"__all__": {"version"}}}) == (
        plan.model_dump(exclude={"events": {"version"}, "feature_groups": {"__all__": {"version"}}})
    )
    assert plan.input_versions == on_disk_manifest()["input_versions"]  # the recorded plan is unchanged
    with pytest.raises(ValidationError, match="frozen"):
        plan.events.version = 9


def test_a_group_ttl_is_given_as_seconds_or_a_timedelta():
    fields = {"name": "g", "table": "features.g", "version": 0, "keys": ["k"], "event_time": "t", "features": {}}
    assert GroupPlan(**fields, ttl_seconds=dt.timedelta(hours=1)) == GroupPlan(**fields, ttl_seconds=3600)
    assert GroupPlan(**fields, ttl_seconds=3600).ttl == dt.timedelta(hours=1)
    assert json.loads(GroupPlan(**fields, ttl_seconds=dt.timedelta(hours=1)).model_dump_json())["ttl_seconds"] == 3600.0


def refused(settings, spark, manifest: dict) -> str:
    path = written(settings, manifest)
    with pytest.raises(FeaturelakeError) as caught:
        load_manifest(spark, settings, path)
    assert str(caught.value).startswith(f"{path} is not a training-set manifest: ")
    return str(caught.value).removeprefix(f"{path} is not a training-set manifest: ")


def test_a_manifest_without_a_field_names_the_file_and_the_field(spark, settings):
    manifest = on_disk_manifest()
    del manifest["plan"]["events"]["version"]
    assert refused(settings, spark, manifest) == "plan.events.version is missing."
    manifest = on_disk_manifest()
    del manifest["content_hash"]
    assert refused(settings, spark, manifest) == "content_hash is missing."


def test_a_manifest_field_of_the_wrong_type_names_the_file_and_the_field(spark, settings):
    manifest = on_disk_manifest()
    manifest["plan"]["events"]["version"] = "three"
    assert refused(settings, spark, manifest) == (
        "plan.events.version should be a valid integer, unable to parse string as an integer, not 'three'."
    )
    manifest = on_disk_manifest()
    manifest["splits"]["test"]["rows"] = [600]
    assert refused(settings, spark, manifest) == "splits.test.rows should be a valid integer, not [600]."
    manifest = on_disk_manifest()
    manifest["plan"]["feature_groups"][1]["ttl_seconds"] = "a week"
    assert refused(settings, spark, manifest) == (
        "plan.feature_groups.1.ttl_seconds should be a valid number, unable to parse string as a number, not 'a week'."
    )
    manifest = on_disk_manifest()
    manifest["plan"]["splits"]["test"] = ["2013-01-14", "2013-01-11"]
    assert refused(settings, spark, manifest) == (
        "plan.splits has split test ending on 2013-01-11, before it starts on 2013-01-14."
    )
    manifest = on_disk_manifest()
    manifest["plan"]["label"]["code"] = "features.labels:other"
    assert refused(settings, spark, manifest) == "plan.label.code is not a field of a manifest."


def test_a_file_that_is_not_json_or_not_an_object_is_one_sentence(spark, settings):
    path = written(settings, on_disk_manifest())
    Path(path).write_text('{"version": 4,')
    with pytest.raises(FeaturelakeError, match=rf"^{re.escape(path)} is not a training-set manifest: it is not JSON"):
        load_manifest(spark, settings, path)
    with pytest.raises(
        FeaturelakeError,
        match=rf"^{re.escape(path)} is not a training-set manifest: it should be an object, not \[4\]\.$",
    ):
        parse_manifest("[4]", path)


def test_a_manifest_naming_label_code_outside_the_features_package_is_not_run(spark, settings):
    manifest = on_disk_manifest()
    manifest["plan"]["label"]["definition"] = "os:system"
    path = written(settings, manifest)
    with pytest.raises(
        FeaturelakeError, match=rf"^{re.escape(path)} names label code 'os:system' outside the features package"
    ):
        load_manifest(spark, settings, path)


def test_the_plan_of_the_conf_is_the_plan_the_manifest_records(spark, settings):
    """plan_from_conf over the demo conf, on real one-row Delta tables with each table's columns: the JSON it
    records has today's keys and value formats, and each input at its current version."""
    catalog = Catalog(spark, settings)

    def table_with_columns(table: str, columns: list[str], versions: int) -> None:
        row = frame_of(spark, [tuple("x" for _ in columns)], ", ".join(f"`{c}` string" for c in columns))
        for _ in range(versions):  # each overwrite replaces a file: a new version
            catalog.overwrite(row, table)

    table_with_columns("silver.flights", ["carrier"], versions=4)  # v3
    for name in settings.training_set("flight_delay").feature_groups:
        group = settings.feature_group(name)
        table_with_columns(settings.feature_table(name), group.columns, 3 if name == "carrier_performance" else 1)
    plan = plan_from_conf(spark, settings, "flight_delay")
    recorded = json.loads(plan.model_dump_json())
    assert recorded["events"] == {
        "table": "silver.flights",
        "keys": KEYS,
        "event_time": "sched_dep_ts",
        "prediction_offset_minutes": -60,
        "columns": ["carrier", "origin", "dest", "tailnum", "hour", "distance"],
        "version": 3,
        "noun": "flight",
    }
    assert recorded["label"] == {
        "name": "is_delayed",
        "definition": "features.labels:is_delayed",
        "params": {"threshold_minutes": 15, "cancelled": "exclude", "diverted": "positive"},
        "description": "arrived more than 15 minutes late, or diverted",
        "positive": "delayed",
        "horizon": "0 periods",
    }
    assert recorded["splits"] == {
        "train": ["2013-01-01", "2013-08-31"],
        "validation": ["2013-09-01", "2013-10-15"],
        "test": ["2013-10-16", "2013-11-30"],
    }
    assert [g["name"] for g in recorded["feature_groups"]] == settings.training_set("flight_delay").feature_groups
    carrier = recorded["feature_groups"][0]
    assert list(carrier) == ["name", "table", "version", "keys", "event_time", "ttl_seconds", "features"]
    assert carrier["table"] == "features.carrier_performance" and carrier["version"] == 2
    assert carrier["keys"] == ["carrier"] and carrier["ttl_seconds"] == 7 * 24 * 3600.0
    assert recorded["time_buckets"] == settings.project.features.time_buckets
    assert plan.input_versions["silver.flights"] == 3 and plan.input_versions["features.calendar"] == 0


def test_a_manifest_written_before_the_report_words_and_horizons_loads_with_their_defaults():
    recorded = on_disk_manifest()
    del recorded["plan"]["events"]["noun"]
    for word in ("description", "positive", "horizon"):
        del recorded["plan"]["label"][word]
    plan = Manifest.model_validate(recorded).plan
    assert (plan.events.noun, plan.label.positive, plan.label.description) == ("event", "positive", "")
    assert plan.label.horizon.count == 0
