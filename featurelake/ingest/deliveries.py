"""The landing zone's layout: ``<landing>/<source>/<run date>/<files>``, one folder per delivery.

A source with a cadence delivers one period per folder, named by the period's first day (a monthly source's
March 2014 is ``2014-03-01``; featurelake.core.periods); every period of a range must be delivered unless it
is a known gap, and a folder named by another day of a period is refused rather than left out. A source whose
folders are named by the day each delivery arrived (``folders: arrival``) has as a period's delivery every folder
of its arrival window (featurelake.ingest.dating.arrival_window): its rows are placed by their date columns. A
snapshot source delivers its whole state in a folder named by the delivery day, as often as it likes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from featurelake.core.columns import SOURCE_FILE
from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError
from featurelake.core.settings import Settings, real_outside
from featurelake.ingest.dating import arrival_window
from featurelake.lake import ledger, storage


def folder_day() -> Column:
    """The day that names the folder a row's file was delivered in: <landing>/<source>/<day>/<file>."""
    return F.to_date(F.element_at(F.split(F.col(SOURCE_FILE), "/"), -2))


@dataclass(frozen=True)
class Delivery:
    run_date: dt.date
    files: list[storage.FileInfo]


def delivered_snapshot_dates(
    spark: SparkSession, settings: Settings, source: str, run_dates: DateRange
) -> list[dt.date]:
    """The run dates in the range for which a snapshot source has a delivery folder."""
    delivered = {_parse_folder_date(name) for name in storage.list_directories(spark, settings.landing_path(source))}
    return sorted(d for d in delivered if d is not None and run_dates.start <= d <= run_dates.end)


def find_deliveries(spark: SparkSession, settings: Settings, source: str, run_dates: DateRange) -> list[Delivery]:
    """The files delivered for each period of the range (by the folder of its first day); every period of a
    source with a cadence must have a delivery, unless it is a known gap."""
    conf = settings.source(source)
    root = settings.landing_path(source)
    if conf.folders == "arrival":
        return _arrived(spark, settings, source, run_dates)
    if conf.cadence == "snapshot":
        dates = delivered_snapshot_dates(spark, settings, source, run_dates)
        if not dates:
            raise InputError(
                f"No {source} snapshot was delivered between {run_dates.start} and {run_dates.end} under {root}; "
                "deliver one as <run date>/<file> or widen the range."
            )
    else:
        dates = _periods(spark, settings, source, run_dates)
    found = storage.list_files_in_folders(spark, root, [day.isoformat() for day in dates], conf.files)
    grain = settings.grain(conf.table)
    deliveries = []
    for day in dates:
        folder = f"{root}/{day.isoformat()}"
        files = found.get(day.isoformat(), [])
        if not files and day in conf.known_gaps:
            continue
        if not files:
            period = "" if grain.unit == "day" else f" ({grain.label(day)}, delivered in the folder of its first day)"
            raise InputError(
                f"No {source} delivery for {day}{period}: no files matching {conf.files} in {folder}; deliver the "
                f"files, list {day} under sources.{source}.known_gaps if the source has no data for it, or leave "
                "it out of the range. Nothing was written."
            )
        deliveries.append(Delivery(day, _checked(settings, files)))
    if not deliveries:
        raise InputError(
            f"Every period of {run_dates} is listed in sources.{source}.known_gaps, so there is nothing to ingest."
        )
    return deliveries


def _checked(settings: Settings, files: list[storage.FileInfo]) -> list[storage.FileInfo]:
    """The files of a delivery, refused when one links outside the lake root or is empty."""
    for file in files:
        local = file.path.removeprefix("file:") if "://" not in file.path else None
        real = real_outside(settings.lake_root, local) if local is not None else None
        if real is not None:
            raise InputError(
                f"{file.path} is a symbolic link to {real}, outside the lake root {settings.lake_root}; "
                "deliver the file itself into the landing zone. Nothing was written."
            )
    empty = [f.path for f in files if f.size == 0]
    if empty:
        raise InputError(f"{empty[0]} is empty; a delivery must hold rows. Nothing was written.")
    return files


def arrival_windows(settings: Settings, source: str, periods: list[dt.date]) -> dict[dt.date, DateRange]:
    """The days on which a delivery of each period may arrive, for a source whose folders are arrival days."""
    conf = settings.source(source)
    grain = settings.grain(conf.table)
    return {p: DateRange(*arrival_window(p, grain, conf.arrives_within)) for p in periods}


def arrival_folders(spark: SparkSession, settings: Settings, source: str, windows: dict[dt.date, DateRange]):
    """The arrival days of the windows' span that hold files matching the source's pattern, and those files."""
    conf = settings.source(source)
    root = settings.landing_path(source)
    first, last = min(w.start for w in windows.values()), max(w.end for w in windows.values())
    days = sorted(d for d in map(_parse_folder_date, storage.list_directories(spark, root)) if d and first <= d <= last)
    found = storage.list_files_in_folders(spark, root, [d.isoformat() for d in days], conf.files)
    return {d: found[d.isoformat()] for d in days if found.get(d.isoformat())}


def _arrived(spark: SparkSession, settings: Settings, source: str, run_dates: DateRange) -> list[Delivery]:
    """Every delivery that arrived within the arrival window of a period of the range (named by its arrival
    day); each period not a known gap must have one."""
    conf = settings.source(source)
    grain = settings.grain(conf.table)
    periods = settings.periods(conf.table, run_dates, f"ingest --source {source}")
    windows = arrival_windows(settings, source, periods)
    arrived = arrival_folders(spark, settings, source, windows)
    for period, window in windows.items():
        if period not in conf.known_gaps and not any(window.start <= day <= window.end for day in arrived):
            raise InputError(
                f"No {source} delivery of {grain.label(period)} arrived from {window.start} to {window.end} "
                f"(sources.{source}.arrives_within is {conf.arrives_within} after the {grain.noun}): no folder "
                f"named by an arrival day in that span under {settings.landing_path(source)} holds files matching "
                f"{conf.files}; deliver them in the folder of the day they arrived, list {period} under "
                f"sources.{source}.known_gaps if the source has no data for it, or leave it out of the range. "
                "Nothing was written."
            )
    if not arrived:
        raise InputError(
            f"Every period of {run_dates} is listed in sources.{source}.known_gaps, so there is nothing to ingest."
        )
    return [Delivery(day, _checked(settings, files)) for day, files in arrived.items()]


def _periods(spark: SparkSession, settings: Settings, source: str, run_dates: DateRange) -> list[dt.date]:
    """The periods that begin in the range; a delivery folder in it named other than a period's first day is
    refused, so that no delivery is silently left out."""
    conf = settings.source(source)
    grain = settings.grain(conf.table)
    if grain.unit != "day":
        folders = {_parse_folder_date(n) for n in storage.list_directories(spark, settings.landing_path(source))}
        stray = sorted(d for d in folders if d and run_dates.start <= d <= run_dates.end and not grain.is_start(d))
        if stray:
            raise InputError(
                f"{settings.landing_path(source)}/{stray[0]} is not the first day of a {grain.noun}: sources.{source} "
                f"is {conf.cadence}, so the delivery of {grain.label(stray[0])} goes in the folder "
                f"{grain.start(stray[0])}; or, if the source's folders are named by the day a delivery arrived, "
                f"set sources.{source}.folders: arrival and arrives_within (README, How to add a source). Nothing "
                "was written."
            )
    return settings.periods(conf.table, run_dates, f"ingest --source {source}")


def fingerprints(spark: SparkSession, settings: Settings, source: str, days: list[dt.date]) -> dict[dt.date, str]:
    """What each run date's delivery is: its files by name, each with its size and modification time, so a
    file replaced, added or removed is noticed (days with no files are left out). Content is not hashed: that
    would read every delivery twice; a file rewritten with the same bytes is only ingested again, with the
    same result."""
    conf = settings.source(source)
    found = storage.list_files_in_folders(
        spark, settings.landing_path(source), [d.isoformat() for d in days], conf.files
    )
    prints = {}
    for day in days:
        files = found.get(day.isoformat())
        if files:
            prints[day] = ledger.fingerprint(
                {f.path.rsplit("/", 1)[-1]: f"{f.size} bytes, {f.modified}" for f in files}
            )
    return prints


def _parse_folder_date(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name)
    except ValueError:
        return None
