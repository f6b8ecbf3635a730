"""Benchmark: bronze ingest (featurelake) vs. writing the same parsed DataFrame as plain Parquet.

For each data size (the demo year, and the year replicated --years times) both are run in the same Spark
session, alternately, best of --repeat; prints rows/s and the Delta/Parquet ratio (goal <= 1.3).
Usage: python -m bench.ingest [--years 10] [--repeat 2]
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pyspark.sql import functions as F
from pyspark.sql import types as T

from bench.common import bench_lake, main
from featurelake.core.dates import DateRange
from featurelake.ingest.bronze import SPARK_TYPES, find_deliveries, ingest
from featurelake.lake.stage import Context


def plain_parquet(spark, settings, run_dates: DateRange, target: str) -> int:
    """What a hand-written job does: read the CSVs with the typed schema, add lineage, write Parquet."""
    conf = settings.source("flights")
    files = [f.path for d in find_deliveries(spark, settings, "flights", run_dates) for f in d.files]
    schema = T.StructType([T.StructField(c, SPARK_TYPES[t]) for c, t in conf.columns.items()])
    frame = (
        spark.read.option("header", "true")
        .schema(schema)
        .csv(files)
        .withColumn("_source_file", F.col("_metadata.file_path"))
        .withColumn("_ingested_at", F.current_timestamp())
        .withColumn("_run_id", F.lit("bench"))
        .withColumn("_run_date", F.make_date("year", "month", "day"))
    )
    frame.write.mode("overwrite").partitionBy("_run_date").parquet(target)
    return spark.read.parquet(target).count()


def measure(years: int, repeat: int) -> None:
    settings, spark, run_dates = bench_lake(years)
    root = Path(settings.lake_root)
    best = {"delta": float("inf"), "parquet": float("inf")}
    rows = 0
    for attempt in range(repeat):
        for kind in ("parquet", "delta"):
            shutil.rmtree(root / "bench-parquet", ignore_errors=True)
            started = time.perf_counter()
            if kind == "parquet":
                rows = plain_parquet(spark, settings, run_dates, str(root / "bench-parquet"))
            else:
                summary = ingest(Context.of(spark, settings, f"bench-{attempt}"), "flights", run_dates)
                assert summary.published == rows, (summary.published, rows)
            best[kind] = min(best[kind], time.perf_counter() - started)
    ratio = best["delta"] / best["parquet"]
    print(
        f"ingest flights, {years} year(s), {rows:,} rows: featurelake bronze Delta {best['delta']:.1f}s "
        f"({rows / best['delta']:,.0f} rows/s) vs plain Parquet {best['parquet']:.1f}s "
        f"({rows / best['parquet']:,.0f} rows/s): ratio {ratio:.2f} (goal <= 1.3)",
        flush=True,
    )


if __name__ == "__main__":
    main(__doc__, measure)
