"""Benchmark: `featurelake run` over the demo year and over N years of data (the year replicated N times,
`demo-data --years N`), each a fresh lake in bench/results/pipeline-<N>y and a fresh process, as a
scheduler would start it.

1. Backfill: `featurelake run --from 2013-01-01 --to <last day> --stages S` on an empty lake. Wall time of
   each size and the N-year / 1-year ratio (goal <= 6 for N = 10: the per-job overhead is paid per batch,
   not per day, so ten times the data must not cost ten times the time).
2. One run date on the full lake: the last day again with --force, as the next daily run would (goal: the
   N-year lake <= 1.2 x the 1-year lake, i.e. a day's cost does not grow with the lake's history).

Stages default to ingest,refine,features,training_set: training reads the training window (2013 in both
lakes, so it costs the same) and bench/train.py measures it; scoring the N-year lake would score N-1 more
years. `--stages all` runs every stage anyway.

Usage: python -m bench.pipeline [--years 10] [--stages ingest,refine,features,training_set]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from featurelake.ops.stages import STAGE_NAMES as STAGES

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
FEATURELAKE = str(Path(sys.executable).parent / "featurelake")


def bench_project(years: int) -> Path:
    """A copy of the project's conf, expectations and features whose local environment knows that the
    replicated weather record, like the real one, ends on 30 December of every year."""
    project = HERE / "results" / f"project-{years}y"
    shutil.rmtree(project, ignore_errors=True)
    for directory in ("conf", "expectations", "features"):
        shutil.copytree(PROJECT / directory, project / directory, ignore=shutil.ignore_patterns("__pycache__"))
    gaps = [dt.date(2013 + offset, 12, 31) for offset in range(years)]
    override = {"sources": {"weather": {"known_gaps": gaps}}}
    (project / "conf" / "local" / "zz_bench.yaml").write_text(yaml.safe_dump(override))
    return project / "conf"


def featurelake(lake: Path, conf: Path, *arguments: str) -> float:
    """Seconds of one featurelake process; its output goes to lake/../<command>.log."""
    env = {**os.environ, "FEATURELAKE_LAKE_ROOT": str(lake)}
    log = lake.parent / f"{lake.name}-{arguments[0]}-{int(time.time())}.log"
    started = time.monotonic()
    command = [FEATURELAKE, *arguments, "--conf-dir", str(conf)]
    with log.open("w") as sink:
        code = subprocess.run(command, env=env, stdout=sink, stderr=subprocess.STDOUT).returncode
    seconds = time.monotonic() - started
    if code != 0:
        sys.exit(f"featurelake {' '.join(arguments)} exited {code}; see {log}")
    return seconds


def measure(years: int, stages: str) -> tuple[float, float]:
    lake = HERE / "results" / f"pipeline-{years}y"
    shutil.rmtree(lake, ignore_errors=True)
    conf = bench_project(years)
    featurelake(lake, conf, "demo-data", "--years", str(years))  # not timed: the landing zone
    last = dt.date(2013 + years - 1, 12, 31)
    backfill = featurelake(lake, conf, "run", "--from", "2013-01-01", "--to", str(last), "--stages", stages)
    one_date = featurelake(lake, conf, "run", "--run-date", str(last), "--stages", stages, "--force")
    print(f"{years:>3} year(s): backfill {backfill:8.1f}s, one run date on the full lake {one_date:6.1f}s", flush=True)
    return backfill, one_date


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--stages", default="ingest,refine,features,training_set", help="or all")
    args = parser.parse_args()
    stages = ",".join(STAGES) if args.stages == "all" else args.stages
    print(f"featurelake run, stages {stages}; 1 year vs {args.years} years, fresh lakes", flush=True)
    small = measure(1, stages)
    large = measure(args.years, stages)
    backfill_ratio, one_date_ratio = large[0] / small[0], large[1] / small[1]
    print(
        f"backfill {args.years}y / 1y: {backfill_ratio:.2f} (goal <= 6): {'met' if backfill_ratio <= 6 else 'missed'}"
    )
    print(
        f"one run date, {args.years}y lake / 1y lake: {one_date_ratio:.2f} (goal <= 1.2): "
        f"{'met' if one_date_ratio <= 1.2 else 'missed'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
