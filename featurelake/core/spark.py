"""One way to get a SparkSession: Delta Lake, UTC, ANSI mode, settings from conf.

Locally the master and the Delta JARs come from conf; under spark-submit (a cluster, a scheduler) the
master and the packages given to spark-submit win and nothing here overrides them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from featurelake.core.errors import EnvironmentProblem
from featurelake.core.settings import Settings

SCALA_VERSION = "2.13"
MINIMUM_JAVA = 17

# Settings that are part of correctness, not tuning: conf cannot turn them off.
CORRECTNESS_SETTINGS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}

log = logging.getLogger(__name__)


def delta_coordinate() -> str:
    """The Maven coordinate of the Delta JAR matching the installed delta-spark and pyspark."""
    from importlib.metadata import version

    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{version('delta-spark')}"


def under_spark_submit() -> bool:
    """True when this Python process was started by spark-submit, whose master and packages must win."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def java_version(java: str | None = None) -> int | None:
    """The major version of the Java that Spark will start, or None when there is none."""
    java = java or _java_executable()
    if java is None:
        return None
    try:
        result = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _java_executable() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        return str(candidate) if candidate.exists() else None
    return shutil.which("java")


def check_java() -> None:
    found = java_version()
    if found is None:
        raise EnvironmentProblem(
            f"Java {MINIMUM_JAVA} or newer is needed to run Spark, and none was found "
            "(looked at JAVA_HOME, then PATH); install a JDK 17 and set JAVA_HOME to it."
        )
    if found < MINIMUM_JAVA:
        raise EnvironmentProblem(
            f"Java {MINIMUM_JAVA} or newer is needed to run Spark, but the Java found is version {found}; "
            "install a JDK 17 and set JAVA_HOME to it."
        )


def _delta_jars_message(settings: Settings) -> str:
    return (
        f"The Delta Lake JAR {delta_coordinate()} could not be resolved from Maven Central; either let "
        f"spark-submit ship it with --packages {delta_coordinate()}, or download it (and delta-storage) into a "
        f"directory and set spark.delta_jars_dir in {settings.conf_dir}/{settings.env}/spark.yaml "
        "(or FEATURELAKE_DELTA_JARS_DIR)."
    )


def build_session(settings: Settings):
    """Create (or return) the SparkSession for these settings; checks Java first and Delta after."""
    from pyspark.sql import SparkSession

    check_java()
    spark_conf = settings.spark
    builder = SparkSession.builder.appName(spark_conf.app_name)
    configured = {"spark.sql.shuffle.partitions": str(spark_conf.shuffle_partitions), **spark_conf.settings}
    if not under_spark_submit():
        if spark_conf.master:
            builder = builder.master(spark_conf.master)
        configured.update(_delta_jar_settings(settings))
    configured.update(CORRECTNESS_SETTINGS)
    for key, value in configured.items():
        builder = builder.config(key, value)
    try:
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM exits before Py4J connects, e.g. when Ivy cannot resolve the JARs
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway process exited" in str(exc):
            if "spark.jars.packages" in configured and not _delta_jar_cached(settings):
                raise EnvironmentProblem(_delta_jars_message(settings)) from None
            raise EnvironmentProblem(
                "Spark's JVM exited before it started; the lines above say why (the Delta JARs are not the "
                "cause: they are cached or given as files). Check JAVA_HOME, spark.driver.memory and that the "
                "machine has a network interface (SPARK_LOCAL_IP=127.0.0.1 on an isolated machine)."
            ) from None
        raise
    spark.sparkContext.setLogLevel("WARN")
    _quiet_known_noise(spark)
    _check_session(spark, settings)
    return spark


# Warnings that say nothing a user can act on: MLlib's trees broadcast task binaries over 1 MiB once per
# tree level, and MLlib falls back to its Java BLAS when no native one is installed.
QUIET_LOGGERS = ("org.apache.spark.scheduler.DAGScheduler", "dev.ludovic.netlib")


def _quiet_known_noise(spark) -> None:
    log4j = spark._jvm.org.apache.logging.log4j
    for logger in QUIET_LOGGERS:
        log4j.core.config.Configurator.setLevel(logger, log4j.Level.ERROR)


def _delta_jar_cached(settings: Settings) -> bool:
    """Whether Spark's Ivy cache already holds the Delta JAR (so resolution needs no network)."""
    ivy_home = Path(settings.spark.settings.get("spark.jars.ivy") or Path.home() / ".ivy2.5.2").expanduser()
    group, artifact, version = delta_coordinate().split(":")
    return (ivy_home / "jars" / f"{group}_{artifact}-{version}.jar").exists()


def _delta_jar_settings(settings: Settings) -> dict[str, str]:
    jars_dir = settings.spark.delta_jars_dir
    if jars_dir:
        jars = sorted(str(p) for p in Path(jars_dir).expanduser().glob("*.jar"))
        if not jars:
            raise EnvironmentProblem(
                f"spark.delta_jars_dir is {jars_dir}, which holds no .jar files; put the Delta JARs "
                f"({delta_coordinate()} and delta-storage) there or unset it to resolve them from Maven Central."
            )
        return {"spark.jars": ",".join(jars)}
    resolved = {"spark.jars.packages": delta_coordinate()}
    if settings.spark.ivy_settings:
        resolved["spark.jars.ivySettings"] = settings.resolve_conf_file(settings.spark.ivy_settings)
    return resolved


def _check_session(spark, settings: Settings) -> None:
    from py4j.java_gateway import JavaClass

    if not isinstance(spark._jvm.io.delta.tables.DeltaTable, JavaClass):
        raise EnvironmentProblem(_delta_jars_message(settings))
    for key in ("spark.sql.ansi.enabled", "spark.sql.session.timeZone"):
        if spark.conf.get(key) != CORRECTNESS_SETTINGS[key]:
            raise EnvironmentProblem(
                f"Spark setting {key} is {spark.conf.get(key)}, but featurelake needs "
                f"{CORRECTNESS_SETTINGS[key]}; remove the override from spark-defaults or --conf."
            )


@contextmanager
def persisted(frame):
    """The frame cached (memory, spilling to disk) for the reads inside the block, and released after it."""
    from pyspark import StorageLevel

    cached = frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield cached
    finally:
        cached.unpersist()
