"""Benchmark: the fixed cost of a pipeline step. Every source of the demo project is delivered with one row per
day (flights and weather on three days, the snapshots once), and `featurelake run --verbose` runs ingest, refine
and features in a warm session, through cli.main as users call it: a step's time there is nearly all fixed cost.
Each step's seconds and Spark jobs are printed, best of --repeat forced runs of the last day, beside the baseline
measured in the same session: a plain Parquet write and read back of one row (goal: a step <= 1 s, the Delta
ingest of a row close to the Parquet write). Then the whole forced run of that day with its steps one at a time and
with the steps of a stage two at a time (pipeline.parallelism 1 and 2, alternating), best of --repeat each.

Usage: python -m bench.steps [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shutil
import time
from pathlib import Path

import yaml

from featurelake.core.config import load_settings
from featurelake.core.spark import build_session
from featurelake.ingest.demo_data import write_demo_data
from featurelake.ops.cli import main as featurelake

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
DAYS = ("2013-01-01", "2013-01-02", "2013-01-03")
STAGES = "ingest,refine,features"
STEP = re.compile(r"^\s+(\S+) (\S+) \[[^]]+\]: (\d+) Spark jobs in ([0-9.]+)s$")


def one_row_landing(demo: Path, landing: Path) -> None:
    """The demo's deliveries cut to their header and first row, for every source and day that has one."""
    for source in sorted(p.name for p in demo.iterdir()):
        for day in DAYS:
            folder = demo / source / day
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                lines = file.read_text().splitlines(keepends=True)[:2]
                (landing / source / day).mkdir(parents=True, exist_ok=True)
                (landing / source / day / file.name).write_text("".join(lines))


def set_parallelism(conf: Path, parallelism: int) -> None:
    (conf / "local" / "zz_parallelism.yaml").write_text(yaml.safe_dump({"pipeline": {"parallelism": parallelism}}))


def wall(conf: Path, lake: Path, parallelism: int) -> float:
    """Seconds of the forced run of the last day with pipeline.parallelism at this number."""
    set_parallelism(conf, parallelism)
    started = time.perf_counter()
    run(conf, lake, "--run-date", DAYS[-1], "--force")
    return time.perf_counter() - started


def run(conf: Path, lake: Path, *arguments: str) -> dict[str, tuple[float, int]]:
    """`featurelake run --verbose` in this process: {step: (seconds, Spark jobs)}."""
    printed = io.StringIO()
    os.environ["FEATURELAKE_LAKE_ROOT"] = str(lake)
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = featurelake(["run", "--verbose", "--conf-dir", str(conf), "--stages", STAGES, *arguments])
    if code != 0:
        raise SystemExit(f"featurelake run exited {code}:\n{printed.getvalue()[-3000:]}")
    found = (STEP.match(line) for line in printed.getvalue().splitlines())
    return {f"{m[1]} {m[2]}": (float(m[4]), int(m[3])) for m in found if m}


def parquet_baseline(spark, target: Path) -> float:
    started = time.perf_counter()
    spark.createDataFrame([("AA", 1)], "carrier string, n int").write.mode("overwrite").parquet(str(target))
    spark.read.parquet(str(target)).collect()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = HERE / "results" / "steps"
    shutil.rmtree(root, ignore_errors=True)
    for directory in ("conf", "expectations", "features"):
        shutil.copytree(PROJECT / directory, root / directory, ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["FEATURELAKE_LAKE_ROOT"] = str(HERE / "results" / "lake-1y")
    demo = load_settings("local", root / "conf")
    # the gates still run, and only warn: a day of one row is no day a row-count bound expects
    warn = {name: {"gate": {"policy": "warn"}} for name, table in demo.tables.items() if table.gate}
    (root / "conf" / "local" / "zz_bench.yaml").write_text(yaml.safe_dump({"tables": warn}))
    write_demo_data(demo)
    lake = root / "lake"
    one_row_landing(Path(demo.landing_root), lake / "landing")
    spark = build_session(load_settings("local", root / "conf"))
    run(root / "conf", lake, "--from", DAYS[0], "--to", DAYS[-1])  # cold: the JIT, the first Delta reads
    best: dict[str, tuple[float, int]] = {}
    set_parallelism(root / "conf", 1)  # each step's own cost: one at a time
    baseline = float("inf")
    for _ in range(args.repeat):
        baseline = min(baseline, parquet_baseline(spark, root / "parquet"))
        for step, (seconds, jobs) in run(root / "conf", lake, "--run-date", DAYS[-1], "--force").items():
            if step not in best or seconds < best[step][0]:
                best[step] = (seconds, jobs)
    print(f"baseline: a plain Parquet write and read of one row {baseline:.2f}s")
    print(f"{'step (one row, one run date, warm session)':<48} {'seconds':>8} {'Spark jobs':>10} {'x baseline':>10}")
    for step, (seconds, jobs) in best.items():
        print(f"{step:<48} {seconds:8.2f} {jobs:10d} {seconds / baseline:10.1f}")
    total = sum(s for s, _ in best.values())
    print(f"{'all steps':<48} {total:8.2f} {sum(j for _, j in best.values()):10d} {total / baseline:10.1f}")
    walls: dict[int, float] = {1: float("inf"), 2: float("inf")}
    for _ in range(args.repeat):
        for parallelism in walls:
            walls[parallelism] = min(walls[parallelism], wall(root / "conf", lake, parallelism))
    for parallelism, seconds in walls.items():
        label = f"the forced run, pipeline.parallelism {parallelism}"
        print(f"{label:<48} {seconds:8.2f} {'':>10} {seconds / baseline:10.1f}")
    print(f"one at a time / two at a time: {walls[1] / walls[2]:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
