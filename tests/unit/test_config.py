"""Every configuration mistake is one sentence naming the file and the key."""

from __future__ import annotations

import pytest

from featurelake.core.config import load_settings
from featurelake.core.errors import ConfigError
from featurelake.core.settings import confine


def test_base_conf_declares_every_source_and_table(settings):
    assert set(settings.sources) == {"flights", "weather", "planes", "airports", "airlines"}
    assert settings.table_path("silver.flights") == f"{settings.lake_root}/silver/flights"
    assert settings.landing_path("weather") == f"{settings.lake_root}/landing/weather"
    assert settings.spark.master == "local[2]"
    assert settings.sources["flights"].columns["dep_delay"] == "double"


def test_unknown_key_names_file_and_key(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"spark": {"shuffle_partitons": 2}})
    assert str(error.value).endswith(
        "zz_test.yaml: spark.shuffle_partitons is not a known key; check its spelling against README.md."
    )


def test_wrong_type_names_file_and_key(make_settings):
    with pytest.raises(ConfigError, match=r"zz_test\.yaml: spark\.shuffle_partitions Input should be a valid integer"):
        make_settings({"spark": {"shuffle_partitions": "many"}})


def test_unknown_column_type_is_refused(make_settings):
    with pytest.raises(ConfigError, match=r"sources\.flights\.columns\.distance Input should be 'string', 'int'"):
        make_settings({"sources": {"flights": {"columns": {"distance": "float64"}}}})


def test_missing_table_is_named(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"sources": {"flights": {"table": "bronze.flightz"}}})
    assert "sources.flights.table names table bronze.flightz, which is not declared under tables" in str(error.value)
    assert "zz_test.yaml" in str(error.value)


def test_key_that_the_table_lacks_is_named(make_settings):
    with pytest.raises(
        ConfigError, match="tables.silver.weather.keys names column station, which silver.weather does not have"
    ):
        make_settings({"tables": {"silver.weather": {"keys": ["station"]}}})


@pytest.mark.parametrize("option", ["badRecordsPath", "rescuedDataColumn"])
def test_options_open_source_spark_ignores_are_refused(make_settings, option):
    with pytest.raises(ConfigError) as error:
        make_settings({"sources": {"flights": {"options": {option: "/tmp/x"}}}})
    assert f"option {option} is a Databricks feature that open-source Spark silently ignores" in str(error.value)
    assert "sources.flights.options" in str(error.value)


@pytest.mark.parametrize("path", ["../outside", "/etc", "silver/../../escape", "s3a://other-bucket/x"])
def test_table_path_outside_the_lake_root_is_refused(make_settings, path):
    settings = make_settings({"tables": {"silver.flights": {"path": path}}})
    with pytest.raises(ConfigError, match="tables.silver.flights.path is"):
        settings.table_path("silver.flights")


def test_confine_on_object_store_roots():
    assert confine("s3a://bucket/lake", "silver/x", "k") == "s3a://bucket/lake/silver/x"
    with pytest.raises(ConfigError, match="outside the lake root s3a://bucket/lake"):
        confine("s3a://bucket/lake", "../x", "k")


def test_environment_variables_with_defaults(make_settings, monkeypatch, tmp_path):
    monkeypatch.setenv("FL_TEST_PARTITIONS", "3")
    settings = make_settings({"spark": {"shuffle_partitions": "${FL_TEST_PARTITIONS}", "app_name": "${FL_UNSET:demo}"}})
    assert settings.spark.shuffle_partitions == 3
    assert settings.spark.app_name == "demo"


def test_missing_environment_variable_is_named_without_leaking_values(make_settings, monkeypatch):
    monkeypatch.setenv("FL_SECRET_TOKEN", "s3cr3t-value")
    with pytest.raises(ConfigError) as error:
        make_settings({"spark": {"settings": {"spark.hadoop.fs.s3a.secret.key": "${FL_SECRET_TOKEN}x${FL_NOT_SET}"}}})
    message = str(error.value)
    assert "needs the environment variable FL_NOT_SET, which is not set" in message
    assert "zz_test.yaml" in message
    assert "s3cr3t-value" not in message


def test_wrongly_typed_secret_value_is_not_echoed(make_settings, monkeypatch):
    monkeypatch.setenv("FL_SECRET_PARTITIONS", "hunter2")
    with pytest.raises(ConfigError) as error:
        make_settings({"spark": {"shuffle_partitions": "${FL_SECRET_PARTITIONS}"}})
    assert "hunter2" not in str(error.value)


def test_environment_from_variable_and_unknown_environment(make_settings, monkeypatch, tmp_path):
    make_settings()
    monkeypatch.setenv("FEATURELAKE_ENV", "cluster")
    monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", "s3a://bucket/lake")
    settings = load_settings(conf_dir=tmp_path / "conf")
    assert settings.env == "cluster"
    assert settings.spark.master is None
    assert settings.table_path("bronze.flights") == "s3a://bucket/lake/bronze/flights"
    with pytest.raises(
        ConfigError, match="Unknown environment staging: there is no .*known environments: cluster, local"
    ):
        load_settings("staging", tmp_path / "conf")


def test_invalid_yaml_names_the_file_and_line(make_settings, tmp_path):
    make_settings()
    (tmp_path / "conf" / "local" / "zz_test.yaml").write_text("spark:\n  master: [local\n")
    with pytest.raises(ConfigError, match=r"zz_test\.yaml is not valid YAML at line \d"):
        load_settings("local", tmp_path / "conf")


def test_yaml_tags_are_not_executed(make_settings, tmp_path):
    make_settings()
    (tmp_path / "conf" / "local" / "zz_test.yaml").write_text("spark: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_settings("local", tmp_path / "conf")


def test_duplicate_declaration_in_base_is_refused(make_settings, tmp_path):
    make_settings()
    (tmp_path / "conf" / "base" / "more.yaml").write_text("spark:\n  app_name: again\n")
    with pytest.raises(ConfigError, match=r"spark\.yaml sets spark\.app_name, which .*more\.yaml already sets"):
        load_settings("local", tmp_path / "conf")


def test_bad_timezone_is_refused(make_settings):
    derive = [
        {
            "name": "sched_dep_ts",
            "local_clock": {
                "year": "year",
                "month": "month",
                "day": "day",
                "hhmm": "sched_dep_time",
                "timezone": "America/NewYork",
            },
        }
    ]
    with pytest.raises(ConfigError, match="America/NewYork is not an IANA time zone name"):
        make_settings({"tables": {"silver.flights": {"refine": {"source": "bronze.flights", "derive": derive}}}})


def test_overlapping_splits_are_refused(make_settings):
    splits = {"train": {"from": "2013-01-01", "to": "2013-08-31"}, "test": {"from": "2013-08-31", "to": "2013-12-31"}}
    with pytest.raises(ConfigError) as error:
        make_settings({"training_sets": {"flight_delay": {"splits": splits}}})
    assert str(error.value).endswith(
        ".yaml: training_sets.flight_delay.splits split test starts on 2013-08-31, inside split train "
        "(until 2013-08-31)."
    )


def test_training_set_naming_an_undeclared_feature_group_is_refused(make_settings):
    known = "known: aircraft, calendar, carrier_performance, origin_performance, origin_weather, route_performance"
    with pytest.raises(
        ConfigError, match=f"feature_groups names holidays, which is no enabled feature group .*{known}"
    ):
        make_settings({"training_sets": {"flight_delay": {"feature_groups": ["carrier_performance", "holidays"]}}})


@pytest.mark.parametrize("definition", ["os:system", "features.carrier", "../features.carrier:x"])
def test_definitions_may_name_only_the_features_package(make_settings, definition):
    with pytest.raises(ConfigError, match=r"features\.groups\.aircraft\.definition String should match pattern"):
        make_settings({"features": {"groups": {"aircraft": {"definition": definition}}}})


def test_a_definition_that_is_not_a_feature_group_is_one_sentence(make_settings, settings):
    with pytest.raises(ConfigError, match="names features.calendar:us_federal_holidays, which is not a @feature_group"):
        make_settings({"features": {"groups": {"aircraft": {"definition": "features.calendar:us_federal_holidays"}}}})
    with pytest.raises(ConfigError, match="No feature group named weather in .*features .or it is switched off"):
        settings.feature_group("weather")


def test_anomalies_can_fail_only_a_fail_gate(make_settings):
    with pytest.raises(ConfigError, match="tables.silver.weather.gate anomalies: fail needs policy: fail"):
        make_settings({"tables": {"silver.weather": {"gate": {"anomalies": "fail"}}}})


def test_every_problem_of_the_conf_is_reported_with_its_file_and_key(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"spark": {"shuffle_partitons": 2, "shuffle_partitions": "many"}, "pipeline": {"batch_days": 0}})
    message = str(error.value)
    assert message.startswith("The configuration has 3 problems: ")
    assert "zz_test.yaml: spark.shuffle_partitons is not a known key" in message
    assert "zz_test.yaml: spark.shuffle_partitions Input should be a valid integer" in message
    assert "zz_test.yaml: pipeline.batch_days Input should be greater than or equal to 1" in message


def test_an_event_time_that_is_no_timestamp_names_the_key_and_the_derivation(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"training_sets": {"flight_delay": {"events": {"event_time": "sched_dep_time"}}}})
    assert "training_sets.flight_delay.events.event_time names sched_dep_time, which is int in silver.flights" in str(
        error.value
    )
    assert "tables.silver.flights.refine.derive and name that: period_time from a DATE" in str(error.value)
    with pytest.raises(ConfigError, match="event_time names departure, which silver.flights does not have"):
        make_settings({"training_sets": {"flight_delay": {"events": {"event_time": "departure"}}}})
    with pytest.raises(ConfigError, match="event_time names _run_date, which is date in silver.flights; it must be"):
        make_settings({"training_sets": {"flight_delay": {"events": {"event_time": "_run_date"}}}})


def test_a_files_pattern_is_a_name_inside_the_delivery_folder(make_settings):
    with pytest.raises(ConfigError, match=r"files is '../\*.csv'; it is a file-name pattern inside a delivery folder"):
        make_settings({"sources": {"flights": {"files": "../*.csv"}}})


GROUP_MODULE = """
import datetime as dt
from featurelake import Entity, Feature, feature_group

@feature_group(
    entity=Entity("carrier", join_keys={{"carrier": "string"}}),
    inputs={{"flights": "{table}"}},
    event_time="day_ends_at",
    features=[Feature("flights_n", "bigint", "flights of the day")],
    name="{name}",
)
def carrier_counts(flights):
    return flights
"""


def with_group(settings, table: str, name: str = "carrier_counts"):
    """The test project with one more feature group, reading ``table``; its conf reloaded."""
    module = settings.conf_dir.parent / "features" / f"{name}.py"
    module.write_text(GROUP_MODULE.format(table=table, name=name))
    return module


def test_a_mistyped_feature_group_input_is_exit_2_before_spark_starts_naming_the_closest_table(settings, capsys):
    from featurelake.ops.cli import main

    module = with_group(settings, "silver.flightz")
    code = main(["run", "--run-date", "2013-01-02", "--stages", "features", "--conf-dir", str(settings.conf_dir)])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"featurelake: {module}: feature group carrier_counts binds parameter flights to silver.flightz, which is no "
        f"table of {settings.conf_dir}/base/tables.yaml nor of an enabled feature group; did you mean silver.flights?"
    )


@pytest.mark.parametrize(
    ("table", "writer"),
    [("ops.run_ledger", " (pipeline.ledger writes it)"), ("predictions.flight_delay", "")],
)
def test_a_feature_group_reading_what_is_no_source_data_is_refused(settings, table, writer):
    module = with_group(settings, table)
    with pytest.raises(ConfigError) as error:
        load_settings("local", settings.conf_dir)
    assert str(error.value) == (
        f"{module}: feature group carrier_counts binds parameter flights to {table}, which holds no source "
        f"data{writer}; a group reads a table a source writes or one refined from it (bronze.airlines, "
        "bronze.airports, bronze.flights, bronze.planes, bronze.weather, silver.airlines, silver.airports, "
        "silver.flights, silver.planes, silver.weather), or another group's feature table."
    )


def test_a_feature_group_reading_its_own_table_or_another_group_s(settings):
    module = with_group(settings, "features.carrier_counts")
    with pytest.raises(ConfigError, match=r"binds parameter flights to features\.carrier_counts, its own table"):
        load_settings("local", settings.conf_dir)
    module.unlink()
    with_group(settings, "features.carrier_performance", name="carrier_counts_2")
    groups = load_settings("local", settings.conf_dir).feature_groups
    assert groups["carrier_counts_2"].inputs == {"flights": "features.carrier_performance"}


def test_a_feature_group_whose_table_another_writer_has_is_refused(make_settings):
    settings = make_settings(
        {
            "training_sets": {"flight_delay": {"table": "features.carrier_counts"}},
            "tables": {"features.carrier_counts": {}},
        }
    )
    module = with_group(settings, "silver.flights")
    with pytest.raises(ConfigError) as error:
        load_settings("local", settings.conf_dir)
    assert str(error.value) == (
        f"{module}: feature group carrier_counts writes features.carrier_counts, which "
        "training_sets.flight_delay.table writes too; rename the group (name= in @feature_group) or that table."
    )


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("spark.sql.files.ignoreCorruptFiles", True, "skips damaged files on read, losing their rows without a word"),
        ("spark.sql.files.ignoreMissingFiles", "true", "skips missing files on read, losing their rows without a word"),
        (
            "spark.databricks.delta.retentionDurationCheck.enabled",
            False,
            "lets VACUUM remove files that recorded manifests and registered models still read",
        ),
    ],
)
def test_settings_that_lose_rows_or_versions_silently_are_refused(make_settings, key, value, why):
    with pytest.raises(ConfigError) as error:
        make_settings({"spark": {"settings": {key: value}}})
    assert str(error.value).endswith(
        f"zz_test.yaml: spark.settings {key}: {str(value).lower()} {why}; remove it (a damaged table is reported, "
        "and restorable)."
    )
    make_settings({"spark": {"settings": {key: not value if isinstance(value, bool) else "false"}}})  # the default


def test_a_reader_option_that_skips_files_is_refused(make_settings):
    with pytest.raises(ConfigError, match=r"option ignoreCorruptFiles skips files on read, losing their rows"):
        make_settings({"sources": {"flights": {"options": {"ignoreCorruptFiles": "true"}}}})


def test_vacuum_pins_name_tables_of_the_project_and_keep_delta_s_minimum_retention(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"vacuum": {"pinned": {"silver.flight": [3]}}})
    assert str(error.value).endswith(
        "zz_test.yaml: vacuum.pinned names table silver.flight, which the project does not have (did you mean "
        "silver.flights?); name a table of tables.yaml or a feature group's features.<group>."
    )
    with pytest.raises(ConfigError, match=r"vacuum.retention_hours Input should be greater than or equal to 168"):
        make_settings({"vacuum": {"retention_hours": 24}})
    settings = make_settings({"vacuum": {"pinned": {"features.calendar": [0], "silver.flights": [2, 5]}}})
    assert settings.project.vacuum.pinned == {"features.calendar": [0], "silver.flights": [2, 5]}
    assert settings.project.vacuum.retention_hours == 168


@pytest.mark.parametrize("package", ["os", "featurelake"])
def test_the_features_package_is_the_project_s_own(make_settings, package):
    with pytest.raises(ConfigError, match=rf"features\.package is {package}, a package of Python or the engine"):
        make_settings({"features": {"package": package}})


def test_a_definition_outside_the_features_package_is_one_sentence(make_settings):
    with pytest.raises(ConfigError) as error:
        make_settings({"features": {"groups": {"aircraft": {"definition": "os.path:join"}}}})
    assert str(error.value).startswith(
        "features.groups.aircraft.definition names os.path:join, which is outside the project's features package "
        "features ("
    )


def test_a_training_set_s_events_may_come_from_a_feature_group_s_table(make_settings):
    settings = make_settings({"training_sets": {"flight_delay": {"events": {"table": "features.route_performance"}}}})
    assert settings.training_set("flight_delay").events.table == "features.route_performance"
    assert settings.model_grain("flight_delay").noun == settings.grain("silver.flights").noun
    with pytest.raises(ConfigError, match=r"events\.table names table features\.routes, which is neither declared"):
        make_settings({"training_sets": {"flight_delay": {"events": {"table": "features.routes"}}}})


def test_an_arrival_time_is_derived_only_from_a_source_whose_folders_are_arrival_days(make_settings):
    arrived = {"name": "arrived_at", "arrival_time": {"timezone": "America/New_York"}}
    derive = {"tables": {"silver.weather": {"refine": {"source": "bronze.weather", "derive": [arrived]}}}}
    with pytest.raises(ConfigError, match=r"tables.silver.weather.refine.derive\[0\] is an arrival_time, but the "):
        make_settings(derive)
