"""One way to get a SparkSession: Delta Lake, UTC, ANSI mode, settings from conf.

Locally the master and the Delta JARs come from conf; under spark-submit (a cluster, a scheduler) the
master and the packages given to spark-submit win and nothing here overrides them.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from featurelake.core.errors import EnvironmentProblem
from featurelake.core.jars import delta_jars_message, jar_settings
from featurelake.core.settings import Settings

LOG4J_CONF = Path(__file__).resolve().parent.parent / "resources" / "log4j2.properties"
MINIMUM_JAVA = 17

# Settings that are part of correctness, not tuning: conf cannot turn them off.
CORRECTNESS_SETTINGS = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    # Delta refuses versions older than a week even with their files there: manifests and models read them (a
    # vacuumed one is a sentence, featurelake.lake.damage)
    "spark.databricks.delta.vacuum.enforceTimeTravelWithinDeletedFileRetentionDuration": "false",
}

log = logging.getLogger(__name__)


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


def running_session():
    """The SparkSession this process already runs (a test session, a notebook, an earlier command), or None."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    if SparkContext._active_spark_context is None:
        return None
    return SparkSession.getActiveSession() or SparkSession._instantiatedSession


def runtime_settings(spark, settings: Settings) -> dict[str, str]:
    """The settings of conf that a running session can take: shuffle partitions and conf's runtime SQL settings
    (static ones, such as the master, JARs and JVM options, belong to the process that started it)."""
    configured = {"spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions), **settings.spark.settings}
    return {k: v for k, v in configured.items() if k not in CORRECTNESS_SETTINGS and spark.conf.isModifiable(k)}


@contextmanager
def session_for(settings: Settings):
    """The SparkSession of one command. A process that already runs a session (a test session, a notebook, the
    commands of several projects one after another) lends it: conf's runtime settings hold inside the block and
    the session's earlier values come back after it, so nothing of one project's conf leaks into the next."""
    running = running_session()
    saved = {k: running.conf.get(k, None) for k in runtime_settings(running, settings)} if running else {}
    hadoop = running._jsc.hadoopConfiguration() if running else None
    saved_hadoop = {k: hadoop.get(k) for k in hadoop_settings(settings)} if running else {}
    spark = build_session(settings)
    try:
        yield spark
    finally:
        _restore(spark.conf, saved)
        _restore(hadoop, saved_hadoop)


def _restore(conf, saved: dict[str, str | None]) -> None:
    """Settings back to their saved values (a session's runtime conf or its Hadoop configuration: both set/unset)."""
    for key, value in saved.items():
        if value is None:
            conf.unset(key)
        else:
            conf.set(key, value)


HADOOP_PREFIX = "spark.hadoop."


# S3A's credentials from the environment: a JVM started here inherits the variables, a lent one (started before
# they were set) is given them in its Hadoop configuration, which Spark's UI shows redacted.
S3A_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "fs.s3a.access.key",
    "AWS_SECRET_ACCESS_KEY": "fs.s3a.secret.key",
    "AWS_SESSION_TOKEN": "fs.s3a.session.token",
}


def hadoop_settings(settings: Settings) -> dict[str, str]:
    """What a lent session's Hadoop configuration holds for a command: conf's Hadoop settings (``spark.hadoop.<key>``:
    an object store's endpoint, its path style) by Hadoop key, and for an s3a:// lake the credentials of the
    environment. A session started here takes conf's at its start and the environment's from its process."""
    configured = settings.spark.settings
    found = {k.removeprefix(HADOOP_PREFIX): v for k, v in configured.items() if k.startswith(HADOOP_PREFIX)}
    if settings.lake_root.startswith("s3a://"):
        found.update({key: os.environ[name] for name, key in S3A_CREDENTIALS.items() if os.environ.get(name)})
    return found


# The engine's defaults for the driver, which conf may override. PySpark's DataFrame debugging records the Python
# line of every Column function call in the JVM (for the query context of an error): four Py4J round trips and a
# failing `import IPython` per call, a search of the whole sys.path each time. The engine names its own errors, and
# building a step's columns cost it more than a step's one-row Spark job.
DRIVER_DEFAULTS = {
    "spark.python.sql.dataFrameDebugging.enabled": "false",
    # A read of many delivered files lists them in a Spark job of one task per path (up to 10,000): a year of
    # hourly files took 26 s to list on two cores, 4 s in 16 tasks. Conf may set it per cluster.
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "16",
}


def build_session(settings: Settings):
    """Create (or return) the SparkSession for these settings; checks Java first and Delta after. A session the
    process already runs is returned with conf's runtime settings applied (nothing to start: no Java check, no
    JAR resolution)."""
    from pyspark.sql import SparkSession

    running = running_session()
    if running is not None:
        for key, value in runtime_settings(running, settings).items():
            running.conf.set(key, value)
        for key, value in hadoop_settings(settings).items():
            running._jsc.hadoopConfiguration().set(key, value)
        _check_session(running, settings)
        return running
    check_java()
    spark_conf = settings.spark
    builder = SparkSession.builder.appName(spark_conf.app_name)
    configured = {
        **DRIVER_DEFAULTS,
        "spark.sql.shuffle.partitions": str(spark_conf.shuffle_partitions),
        **spark_conf.settings,
    }
    local = not under_spark_submit()
    if local:
        if spark_conf.master:
            builder = builder.master(spark_conf.master)
        configured.update(jar_settings(settings))
    configured = with_correctness_settings(configured, {} if local else _submitted_java_options())
    if local:  # a local run logs to a file; spark-submit (a cluster) keeps its own logging
        options = f' -Dlog4j2.configurationFile="{LOG4J_CONF}" -Dfeaturelake.spark.log="{spark_log(settings)}"'
        configured["spark.driver.extraJavaOptions"] += options
    for key, value in configured.items():
        builder = builder.config(key, value)
    try:
        if local:
            _start_jvm(configured, spark_conf)
        spark = builder.getOrCreate()
    except Exception as exc:  # the JVM exits before Py4J connects, e.g. when Ivy cannot resolve the JARs
        if "JAVA_GATEWAY_EXITED" in str(exc) or "Java gateway process exited" in str(exc):
            _JVM_STDERR.join(timeout=10) if _JVM_STDERR else None  # its last lines before the sentence
            raise EnvironmentProblem(
                "Spark's JVM exited before it started; the lines above say why (the Delta JARs are not the "
                "cause: they are resolved or given as files). Check JAVA_HOME, spark.driver.memory and that the "
                "machine has a network interface (SPARK_LOCAL_IP=127.0.0.1 on an isolated machine)."
            ) from None
        raise
    spark.sparkContext.setLogLevel("WARN")
    _quiet_known_noise(spark)
    _check_session(spark, settings)
    return spark


def with_correctness_settings(configured: dict[str, str], submitted: dict[str, str]) -> dict[str, str]:
    """The settings with the engine's correctness settings over them. JVM options are kept, from conf or else
    as spark-submit gave them (``submitted``), and the engine's come after them."""
    merged = dict(configured)
    for key, value in CORRECTNESS_SETTINGS.items():
        kept = (configured.get(key) or submitted.get(key, "")) if key.endswith("extraJavaOptions") else ""
        merged[key] = f"{kept} {value}".strip()
    return merged


def _submitted_java_options() -> dict[str, str]:
    """The JVM options of the driver and executors that spark-submit was given (its --conf, --driver-java-options)."""
    from pyspark import SparkConf

    submitted = SparkConf()
    keys = [k for k in CORRECTNESS_SETTINGS if k.endswith("extraJavaOptions")]
    return {k: submitted.get(k) for k in keys if submitted.get(k)}


# Lines the JVM prints itself, not through log4j, that say nothing a user can act on: Spark's launcher always
# adds the incubating vector module, and the JVM announces it.
JVM_NOISE = re.compile(r"^WARNING: Using incubator modules: ")
_JVM_STDERR: threading.Thread | None = None


def _start_jvm(configured: dict[str, str], spark_conf) -> None:
    """Start the local JVM with its stderr passed on line by line, without the JVM's own noise (log4j already
    sends only ERROR lines there), through sys.stderr so that secrets are redacted from them too."""
    global _JVM_STDERR
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    if SparkContext._active_spark_context is not None:
        return
    conf = SparkConf(loadDefaults=False).setAll(list(configured.items())).setAppName(spark_conf.app_name)
    if spark_conf.master:
        conf.setMaster(spark_conf.master)
    read, write = os.pipe()
    _JVM_STDERR = threading.Thread(target=_pass_on, args=(read,), name="jvm-stderr", daemon=True)
    _JVM_STDERR.start()
    try:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": write})
    finally:
        os.close(write)  # the JVM holds its own end
    SparkContext(conf=conf, gateway=gateway)


def _pass_on(descriptor: int) -> None:
    with os.fdopen(descriptor, "rb") as lines:
        for raw in lines:
            line = raw.decode("utf-8", errors="replace")
            if not JVM_NOISE.match(line):
                sys.stderr.write(line)
                sys.stderr.flush()


# Warnings that say nothing a user can act on: MLlib's trees broadcast task binaries over 1 MiB once per
# tree level, and MLlib falls back to its Java BLAS when no native one is installed.
QUIET_LOGGERS = ("org.apache.spark.scheduler.DAGScheduler", "dev.ludovic.netlib")


def _quiet_known_noise(spark) -> None:
    log4j = spark._jvm.org.apache.logging.log4j
    for logger in QUIET_LOGGERS:
        log4j.core.config.Configurator.setLevel(logger, log4j.Level.ERROR)


def session_log(spark) -> str | None:
    """The file the running session's JVM logs to, when featurelake started it (None under spark-submit)."""
    return spark._jvm.java.lang.System.getProperty("featurelake.spark.log")


def spark_log(settings: Settings) -> Path:
    """The file Spark's own log lines go to in a local run: under the lake (a temporary directory when the lake
    is on an object store)."""
    import tempfile

    base = Path(tempfile.gettempdir()) / "featurelake" if settings.lake_is_remote else Path(settings.lake_root)
    path = base / "logs" / "spark.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _check_session(spark, settings: Settings) -> None:
    from py4j.java_gateway import JavaClass

    if not isinstance(spark._jvm.io.delta.tables.DeltaTable, JavaClass):
        raise EnvironmentProblem(delta_jars_message(settings))
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


@contextmanager
def spark_jobs(spark, description: str):
    """The ids of the Spark jobs the block starts (a job group of its own), in a list filled when it ends."""
    import uuid

    context = spark.sparkContext
    before = context.getLocalProperty("spark.jobGroup.id"), context.getLocalProperty("spark.job.description")
    group = f"featurelake-{uuid.uuid4().hex}"
    context.setJobGroup(group, description)
    jobs: list[int] = []
    try:
        yield jobs
    finally:
        jobs.extend(context.statusTracker().getJobIdsForGroup(group))
        context.setLocalProperty("spark.jobGroup.id", before[0])
        context.setLocalProperty("spark.job.description", before[1])


def session_thread(spark, fn: Callable) -> Callable:
    """``fn`` made to run on another thread as it would on this one: with this thread's Spark local properties
    (its job group: the step's job count includes its jobs) and tags, and in a copy of this thread's context (the
    step its commits belong to), a copy per call."""
    from pyspark.util import inheritable_thread_target

    context = contextvars.copy_context()
    return inheritable_thread_target(spark)(lambda *args: context.copy().run(fn, *args))


@contextmanager
def beside(spark, fn: Callable, *args, at_once: bool = True) -> Iterator[Future]:
    """``fn(*args)`` run on a thread of the session (``session_thread``) while the block runs: its future, done
    when the block ends. A stream of small Spark jobs leaves cores idle that another stream takes. With
    ``at_once=False`` it runs here, before the block."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="featurelake-beside") as pool:
        if at_once:
            yield pool.submit(session_thread(spark, fn), *args)
        else:
            done: Future = Future()
            done.set_result(fn(*args))
            yield done
