"""Benchmark: the silver.flights gate (one pass judged by GX + quarantine split) vs. a hand-written single-pass agg.

Both run in the same Spark session on the same cached candidate rows (bronze.flights of the bench lakes,
refined with the silver derivations): the gate through featurelake (the one pass, GX judges, the engine flags and
splits), the baseline as one `agg` of the same predicates plus the same split. Prints the ratio (goal
<= 1.5) and how many Spark jobs the gate ran. Needs the bench lakes of bench/ingest.py (it makes them).
Usage: python -m bench.quality_gate [--years 10] [--repeat 2]
"""

from __future__ import annotations

import time
from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import Column
from pyspark.sql import functions as F

from bench.common import bench_lake, main
from featurelake.core.columns import LINEAGE_COLUMNS, RUN_DATE
from featurelake.core.dates import DateRange
from featurelake.core.spark import spark_jobs
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import derive
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.quality import gate
from featurelake.quality.suites import Suite, load_suite

TABLE = "silver.flights"


def candidates_for(spark, settings, run_dates: DateRange):
    if not Catalog(spark, settings).exists("bronze.flights"):
        ingest(Context.of(spark, settings, "bench"), "flights", run_dates)
    conf = settings.table(TABLE)
    bronze = Catalog(spark, settings).read("bronze.flights", run_dates)
    frame = bronze.transform(derive(conf.refine.derive)).select(*settings.business_columns(TABLE), *LINEAGE_COLUMNS)
    frame = frame.persist(StorageLevel.MEMORY_AND_DISK)
    return frame, frame.count()


def hand_written(frame, suite: Suite) -> None:
    """The same checks, written by hand: every predicate counted in one agg, plus the same split."""
    flags = [rule.unexpected().alias(f"f{i}") for i, rule in enumerate(suite.rules) if rule.row_level]
    flagged = frame.select("*", *flags)
    names = [f"f{i}" for i, rule in enumerate(suite.rules) if rule.row_level]
    flagged.agg(*[F.count_if(F.col(n)).alias(n) for n in names], F.count(F.lit(1))).collect()
    frame.groupBy(RUN_DATE).count().collect()
    failing = reduce(Column.__or__, [F.col(n) for n in names])
    flagged.where(failing).write.format("noop").mode("overwrite").save()
    flagged.where(~failing).write.format("noop").mode("overwrite").save()


def featurelake_gate(frame, settings, suite, run_dates) -> None:
    flagged, _ = gate.run_gate(frame, Context.of(frame.sparkSession, settings, "bench"), TABLE, suite, run_dates)
    flagged.where(F.size("_reasons") > 0).write.format("noop").mode("overwrite").save()
    flagged.where(F.size("_reasons") == 0).write.format("noop").mode("overwrite").save()


def measure(years: int, repeat: int) -> None:
    settings, spark, run_dates = bench_lake(years)
    frame, rows = candidates_for(spark, settings, run_dates)
    suite = load_suite(settings, TABLE, frame.columns)
    best = {"gate": float("inf"), "agg": float("inf")}
    for _ in range(repeat):
        started = time.perf_counter()
        hand_written(frame, suite)
        best["agg"] = min(best["agg"], time.perf_counter() - started)
        started = time.perf_counter()
        with spark_jobs(spark, "the gate") as jobs:
            featurelake_gate(frame, settings, suite, run_dates)
        best["gate"] = min(best["gate"], time.perf_counter() - started)
    frame.unpersist()
    print(
        f"gate {TABLE}, {years} year(s), {rows:,} rows, {len(suite.rules)} expectations: featurelake gate "
        f"{best['gate']:.1f}s ({len(jobs)} Spark jobs) vs hand-written single-pass agg {best['agg']:.1f}s: "
        f"ratio {best['gate'] / best['agg']:.2f} (goal <= 1.5)",
        flush=True,
    )


if __name__ == "__main__":
    main(__doc__, measure)
