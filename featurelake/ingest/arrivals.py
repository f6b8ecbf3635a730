"""Sources whose folders are named by the day each delivery arrived (``folders: arrival`` in conf): a report of
May delivered on 15 June lands in ``<landing>/<source>/2009-06-15/``. A period's delivery is every folder of its
arrival window (featurelake.ingest.dating.arrival_window); each row belongs to the period its date columns name,
and only when it arrived within that period's window. A row that cannot be dated, or arrived outside its window,
belongs to the period it arrived in, whose ingest quarantines it: each row is counted by exactly one period.

A period's input, for noticing a changed delivery, is the files of its window that hold its rows: a correction of
May arriving in July changes May's input only, not July's.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import RUN_DATE, SOURCE_FILE
from featurelake.core.conf.data import SourceConf
from featurelake.core.errors import InputError
from featurelake.core.periods import Grain
from featurelake.core.settings import Settings
from featurelake.ingest import dating
from featurelake.ingest.deliveries import arrival_folders, arrival_windows, folder_day
from featurelake.ingest.reading import as_uri, read_delivery
from featurelake.lake import ledger

# A row dated in a period whose arrival window misses the day it arrived.
OUTSIDE_ARRIVAL = "_outside_arrival_window"


def by_arrival(raw: DataFrame, conf: SourceConf, grain: Grain, periods: list[dt.date]) -> DataFrame:
    """The rows of these periods, from folders named by arrival days (the folder's day in the run-date column):
    a row's run date becomes its period's, by its date columns, when it arrived within that period's arrival
    window; a row that cannot be dated, or arrived outside its window (flagged), keeps the period of its arrival,
    so that exactly one ingest counts it."""
    arrived = F.col(RUN_DATE)
    dated = dating.row_date(conf.date_columns, lambda column: F.col(column).try_cast(conf.columns[column]))
    period = dating.period_start(dated, grain)
    window_end = dating.arrival_window_end(period, grain, conf.arrives_within)
    in_window = dated.isNotNull() & (arrived >= period) & (arrived <= window_end)
    outside = dated.isNotNull() & ~in_window
    run_date = F.when(in_window, period).otherwise(dating.period_start(arrived, grain))
    return (
        raw.select("*", outside.alias(OUTSIDE_ARRIVAL))
        .withColumn(RUN_DATE, run_date)
        .where(F.col(RUN_DATE).isin(periods))
    )


def check_arrived(dated: frozenset[dt.date], settings: Settings, source: str, periods: list[dt.date]) -> None:
    """Every period has rows (``dated``: the periods the read rows hold) among the deliveries of its arrival
    window, where a folder may hold other periods' rows only."""
    missing = [p for p in periods if p not in dated]
    if missing:
        window = arrival_windows(settings, source, missing[:1])[missing[0]]
        raise InputError(
            f"No {source} row is dated in {settings.grain(settings.source(source).table).label(missing[0])}: the "
            f"deliveries that arrived from {window.start} to {window.end} hold none (sources.{source}.arrives_within "
            f"is {settings.source(source).arrives_within}); deliver its rows, list {missing[0]} under "
            f"sources.{source}.known_gaps if the source has no data for it, or leave it out of the range. Nothing "
            "was written."
        )


def fingerprints(spark: SparkSession, settings: Settings, source: str, days: list[dt.date]) -> dict[dt.date, str]:
    """What each period's delivery is: the files of its arrival window that hold its rows (one read of those
    files' rows, keeping which periods each file holds), each by its size and modification time."""
    conf = settings.source(source)
    windows = arrival_windows(settings, source, days)
    arrived = arrival_folders(spark, settings, source, windows) if windows else {}
    files = {as_uri(f.path): (day, f) for day, found in arrived.items() for f in found}
    if not files:
        return {}
    raw = read_delivery(spark, conf, source, [f.path for _, f in files.values()]).withColumn(RUN_DATE, folder_day())
    held = by_arrival(raw, conf, settings.grain(conf.table), days).select(SOURCE_FILE, RUN_DATE).distinct()
    by_period: dict[dt.date, dict[str, str]] = defaultdict(dict)
    for row in held.collect():  # bounded: files x the periods each holds
        day, file = files[as_uri(row[SOURCE_FILE])]
        by_period[row[RUN_DATE]][f"{day}/{file.path.rsplit('/', 1)[-1]}"] = f"{file.size} bytes, {file.modified}"
    return {day: ledger.fingerprint(by_period[day]) for day in days if by_period[day]}
