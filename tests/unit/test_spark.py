"""The session factory: Java checked before Spark starts, Delta and the correctness settings checked after."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.errors import EnvironmentProblem
from featurelake.core.jars import coordinates, delta_coordinate, jar_settings, packages
from featurelake.core.spark import check_java, java_version, with_correctness_settings
from tests.conftest import PROJECT

BIN = Path(sys.executable).parent


def fake_java_home(tmp_path: Path, version_line: str) -> Path:
    home = tmp_path / "jdk"
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    return home


@pytest.mark.parametrize(
    ("line", "major"),
    [('openjdk version "17.0.15" 2025-04-15', 17), ('java version "1.8.0_292"', 8), ('openjdk version "21" 2023', 21)],
)
def test_java_version_is_read_from_java_itself(tmp_path, line, major):
    assert java_version(str(fake_java_home(tmp_path, line) / "bin" / "java")) == major


def test_old_java_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(fake_java_home(tmp_path, 'openjdk version "11.0.2" 2019-01-15')))
    with pytest.raises(EnvironmentProblem) as error:
        check_java()
    assert str(error.value) == (
        "Java 17 or newer is needed to run Spark, but the Java found is version 11; "
        "install a JDK 17 and set JAVA_HOME to it."
    )


def test_missing_java_stops_the_cli_before_spark_starts(tmp_path):
    env = {**os.environ, "JAVA_HOME": str(tmp_path / "no-jdk"), "FEATURELAKE_LAKE_ROOT": str(tmp_path / "lake")}
    result = subprocess.run(
        [str(BIN / "featurelake"), "doctor", "--conf-dir", str(PROJECT / "conf")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "featurelake: Java 17 or newer is needed to run Spark, and none was found (looked at JAVA_HOME, then PATH); "
        "install a JDK 17 and set JAVA_HOME to it."
    )


def test_session_is_utc_ansi_and_delta(spark):
    assert spark.conf.get("spark.sql.session.timeZone") == "UTC"
    assert spark.conf.get("spark.sql.ansi.enabled") == "true"
    assert spark._jvm.java.util.TimeZone.getDefault().getID() == "UTC"
    assert "DeltaSparkSessionExtension" in spark.conf.get("spark.sql.extensions")
    assert spark.range(3).selectExpr("sum(id) as s").first()["s"] == 3
    with pytest.raises(Exception, match="DIVIDE_BY_ZERO"):  # ANSI: errors instead of silent nulls
        spark.sql("select 1 / 0").collect()


def test_column_functions_cost_no_round_trips_for_pyspark_s_debugging(spark):
    """The engine's driver default: PySpark's DataFrame debugging off, so building a column records no call site
    through Py4J (conf may turn it back on)."""
    from pyspark.errors.utils import is_debugging_enabled

    assert spark.conf.get("spark.python.sql.dataFrameDebugging.enabled") == "false"
    assert not is_debugging_enabled()


def test_jvm_options_from_conf_or_spark_submit_are_kept_and_correctness_settings_win():
    conf = {"spark.driver.extraJavaOptions": "-Xss4m", "spark.sql.session.timeZone": "Europe/Berlin"}
    submitted = {"spark.driver.extraJavaOptions": "-Dignored=1", "spark.executor.extraJavaOptions": "-XX:+UseSerialGC"}
    merged = with_correctness_settings(conf, submitted)
    assert merged["spark.driver.extraJavaOptions"] == "-Xss4m -Duser.timezone=UTC"  # conf's, then the engine's
    assert merged["spark.executor.extraJavaOptions"] == "-XX:+UseSerialGC -Duser.timezone=UTC"  # spark-submit's
    assert merged["spark.sql.session.timeZone"] == "UTC" and merged["spark.sql.ansi.enabled"] == "true"
    assert with_correctness_settings({}, {})["spark.driver.extraJavaOptions"] == "-Duser.timezone=UTC"


def test_empty_delta_jar_directory_is_one_sentence(make_settings, tmp_path):
    (tmp_path / "jars").mkdir()
    settings = make_settings({"spark": {"delta_jars_dir": str(tmp_path / "jars")}})
    with pytest.raises(EnvironmentProblem, match=f"holds no .jar files; put the Delta JARs \\({delta_coordinate()}"):
        jar_settings(settings)


@pytest.mark.process
def test_unresolvable_delta_jars_are_one_sentence(make_settings, tmp_path):
    """A machine that cannot reach Maven Central and has no cached JARs gets the coordinate and the ways out."""
    (tmp_path / "offline-ivysettings.xml").write_text(
        '<ivysettings><settings defaultResolver="none"/><resolvers>'
        f'<filesystem name="none"><artifact pattern="{tmp_path}/none/[artifact].[ext]"/></filesystem>'
        "</resolvers></ivysettings>"
    )
    settings = make_settings(
        {
            "spark": {
                "ivy_settings": str(tmp_path / "offline-ivysettings.xml"),
                "settings": {"spark.jars.ivy": str(tmp_path / "ivy")},
            }
        }
    )
    env = {**os.environ, "FEATURELAKE_LAKE_ROOT": str(settings.lake_root)}
    result = subprocess.run(
        [str(BIN / "featurelake"), "doctor", "--conf-dir", str(settings.conf_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith(f"featurelake: The Delta Lake JAR {delta_coordinate()} could not be resolved")
    assert f"--packages {delta_coordinate()}" in last_line and "spark.delta_jars_dir" in last_line
    assert "Traceback" not in result.stderr
    assert "UNRESOLVED DEPENDENCIES" in result.stderr  # Ivy's report is shown when resolution fails


def test_a_conf_dir_without_ivysettings_uses_the_one_featurelake_ships(make_settings):
    settings = make_settings()
    own = settings.conf_dir / "ivysettings.xml"
    assert packages(settings)["spark.jars.ivySettings"] == str(own.resolve())
    own.unlink()
    shipped = packages(settings)["spark.jars.ivySettings"]
    assert shipped.endswith("featurelake/resources/ivysettings.xml")
    assert "repo1.maven.org" in Path(shipped).read_text()  # Maven Central only, as the project's copy


def test_one_mlflow_experiment_per_pipeline_unless_conf_names_one(make_settings):
    assert make_settings().experiment == "featurelake"  # the demo's conf names it
    unnamed = make_settings({"mlflow": {"experiment": ""}})
    assert unnamed.experiment == f"featurelake-{unnamed.project_dir.name}"


def test_conf_s_packages_are_resolved_with_delta_s_and_named_when_they_fail(make_settings):
    """An object store's connector (spark.packages) joins Delta's coordinate in one Ivy resolution, recorded apart
    from Delta's alone; a failure names both and the --packages a spark-submit would take."""
    connector = "org.apache.hadoop:hadoop-aws:3.4.2"
    settings = make_settings({"spark": {"packages": [connector]}})
    assert coordinates(settings) == [delta_coordinate(), connector]
    assert packages(settings)["spark.jars.packages"] == f"{delta_coordinate()},{connector}"
    assert packages(settings, with_delta=False)["spark.jars.packages"] == connector
    from featurelake.core.jars import delta_jars_message

    sentence = delta_jars_message(settings)
    assert f"(with {connector} of spark.packages)" in sentence
    assert f"--packages {delta_coordinate()},{connector}" in sentence


def test_a_lent_session_gets_conf_s_hadoop_settings_and_an_s3a_lake_s_credentials_from_the_environment(
    make_settings, monkeypatch
):
    from featurelake.core.spark import hadoop_settings

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key-from-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-env")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    endpoint = {"spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000", "spark.sql.caseSensitive": "true"}
    local = make_settings({"spark": {"settings": endpoint}})
    assert hadoop_settings(local) == {"fs.s3a.endpoint": "http://127.0.0.1:9000"}  # a local lake: no credential
    on_s3 = make_settings({"spark": {"settings": endpoint}, "lake": {"root": "s3a://my-bucket/lake"}})
    assert hadoop_settings(on_s3) == {
        "fs.s3a.endpoint": "http://127.0.0.1:9000",
        "fs.s3a.access.key": "key-from-env",
        "fs.s3a.secret.key": "secret-from-env",
    }


def test_beside_runs_on_a_session_thread_with_the_command_s_caches_and_job_group(spark):
    """core.spark.beside: the function runs while the block does (they meet at a barrier), on a thread that sees
    the command's caches and the caller's job group (a step counts its jobs); at_once=False runs it first, here."""
    import threading

    from featurelake.core.spark import beside
    from featurelake.lake.commits import StepContext, current_step, step_context

    meet = threading.Barrier(2, timeout=30)
    step = StepContext("features:calendar", DateRange.single(dt.date(2013, 1, 1)), "run-1")

    def side() -> tuple:
        meet.wait()
        return current_step(), spark.sparkContext.getLocalProperty("spark.jobGroup.id")

    with step_context(step):
        spark.sparkContext.setJobGroup("the-step", "a step")
        try:
            with beside(spark, side) as found:
                meet.wait()
            assert found.result() == (step, "the-step")
            order: list[str] = []
            with beside(spark, order.append, "side", at_once=False) as done:
                order.append("block")
            assert order == ["side", "block"] and done.result() is None
        finally:
            spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)
            spark.sparkContext.setLocalProperty("spark.job.description", None)
