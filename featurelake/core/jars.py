"""The JARs a local session starts with: Delta Lake's, and the packages conf adds (``spark.packages``: an object
store's connector, e.g. org.apache.hadoop:hadoop-aws for an s3a:// lake), resolved from Maven Central by Spark's
own Ivy with conf's ivysettings.xml once per machine, then read from the record of that resolution.

Under spark-submit nothing here runs: the packages given to spark-submit (``--packages``) are the session's.
"""

from __future__ import annotations

import fcntl
import subprocess
import sys
from pathlib import Path

from featurelake.core.errors import EnvironmentProblem
from featurelake.core.settings import Settings

SCALA_VERSION = "2.13"


def delta_coordinate() -> str:
    """The Maven coordinate of the Delta JAR matching the installed delta-spark and pyspark."""
    from importlib.metadata import version

    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_{SCALA_VERSION}:{version('delta-spark')}"


def coordinates(settings: Settings) -> list[str]:
    """Every Maven coordinate a local session resolves: Delta's, then conf's ``spark.packages``."""
    return [delta_coordinate(), *(c for c in settings.spark.packages if c != delta_coordinate())]


def delta_jars_message(settings: Settings) -> str:
    extra = coordinates(settings)[1:]
    also = f" (with {', '.join(extra)} of spark.packages)" if extra else ""
    return (
        f"The Delta Lake JAR {delta_coordinate()}{also} could not be resolved from Maven Central; either let "
        f"spark-submit ship it with --packages {','.join(coordinates(settings))}, or download it (and "
        f"delta-storage) into a directory and set spark.delta_jars_dir in {settings.conf_dir}/{settings.env}/"
        "spark.yaml (or FEATURELAKE_DELTA_JARS_DIR)."
    )


def jar_settings(settings: Settings) -> dict[str, str]:
    """``spark.jars`` of a local session: the Delta JARs of spark.delta_jars_dir or resolved, and conf's packages."""
    jars_dir = settings.spark.delta_jars_dir
    if not jars_dir:
        return {"spark.jars": ",".join(resolved_jars(settings, packages(settings)))}
    jars = sorted(str(p) for p in Path(jars_dir).expanduser().glob("*.jar"))
    if not jars:
        raise EnvironmentProblem(
            f"spark.delta_jars_dir is {jars_dir}, which holds no .jar files; put the Delta JARs "
            f"({delta_coordinate()} and delta-storage) there or unset it to resolve them from Maven Central."
        )
    if settings.spark.packages:
        jars += resolved_jars(settings, packages(settings, with_delta=False))
    return {"spark.jars": ",".join(jars)}


def packages(settings: Settings, with_delta: bool = True) -> dict[str, str]:
    """The settings with which Ivy resolves the coordinates (Maven Central by conf's ivysettings.xml)."""
    wanted = coordinates(settings) if with_delta else list(settings.spark.packages)
    resolution = {"spark.jars.packages": ",".join(wanted)}
    if settings.spark.ivy_settings:
        resolution["spark.jars.ivySettings"] = settings.resolve_conf_file(settings.spark.ivy_settings)
    if "spark.jars.ivy" in settings.spark.settings:
        resolution["spark.jars.ivy"] = settings.spark.settings["spark.jars.ivy"]
    return resolution


def _ivy_home(settings: Settings) -> Path:
    return Path(settings.spark.settings.get("spark.jars.ivy") or Path.home() / ".ivy2.5.2").expanduser()


def _jars_record(settings: Settings, resolution: dict[str, str]) -> Path:
    """Where the JAR files a resolution of these coordinates gave are listed, beside Ivy's cache."""
    name = "+".join(c.replace(":", "_") for c in resolution["spark.jars.packages"].split(","))
    return _ivy_home(settings) / "featurelake" / f"{name}.jars"


def resolved_jars(settings: Settings, resolution: dict[str, str]) -> list[str]:
    """The JARs as files: resolved by Ivy once per machine (in a process of its own, so Ivy's report is printed
    only when resolution fails), then read from the record of that resolution; every later Spark start skips Ivy."""
    record = _jars_record(settings, resolution)
    record.parent.mkdir(parents=True, exist_ok=True)
    # one resolution at a time per machine: two Ivy runs writing one cache corrupt each other's downloads
    with (record.parent / "resolve.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        jars = _recorded(record)
        return jars or _resolve(settings, resolution, record)


def _recorded(record: Path) -> list[str]:
    """The recorded JAR files, when every one of them is still there."""
    jars = record.read_text(encoding="utf-8").split() if record.exists() else []
    return jars if jars and all(Path(j.removeprefix("file:")).exists() for j in jars) else []


def _resolve(settings: Settings, resolution: dict[str, str], record: Path) -> list[str]:
    arguments = [item for pair in resolution.items() for item in pair]
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RESOLVE, *arguments], capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise EnvironmentProblem(f"{delta_jars_message(settings)} ({exc})") from None
    found = [line[len("JARS=") :] for line in result.stdout.splitlines() if line.startswith("JARS=")]
    if result.returncode != 0 or not found:
        sys.stderr.write(_ivy_report(result.stderr))  # Ivy's report says what failed
        raise EnvironmentProblem(delta_jars_message(settings))
    jars = [j for j in found[-1].split(",") if j]
    record.write_text("\n".join(jars) + "\n", encoding="utf-8")
    return jars


def _ivy_report(output: str, shown: int = 60) -> str:
    """The end of Ivy's resolution report: what it printed before the JVM's and Python's stack traces."""
    lines = []
    for line in output.splitlines():
        if line.startswith(("Exception in thread", "Traceback")):
            break
        lines.append(line)
    return "\n".join(lines[-shown:]) + "\n"


# A Spark start that only resolves the packages given as arguments (key value ...) and prints the JAR files.
_RESOLVE = """
import sys
from pyspark.sql import SparkSession
builder = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
for key, value in zip(sys.argv[1::2], sys.argv[2::2]):
    builder = builder.config(key, value)
session = builder.getOrCreate()
print("JARS=" + session.sparkContext.getConf().get("spark.jars", ""), flush=True)
session.stop()
"""
