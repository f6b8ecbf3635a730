"""A table that cannot be read, as a sentence: which table, which file, and the way out.

Spark reports a data file or a Delta log file it cannot read (truncated, overwritten, deleted, vacuumed) as
``[FAILED_READ_FILE.<why>] Encountered error while reading file <uri>`` deep inside a Java stack. Here that
error becomes one sentence naming the table (by its logical name), the file, the version that added a data
file, and what to do: restore the table to the version before it (``featurelake restore``) and run the later
run dates again, or re-ingest the run dates it holds. A damaged log file cannot be restored past: the way out
is a backup of that file, or the table rebuilt from its run dates. A data file that later versions removed and a
VACUUM deleted leaves the table readable now but not as of the versions that held it: the sentence names those
versions and the oldest version that can still be read.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurelake.core.errors import FeaturelakeError
from featurelake.lake import storage
from featurelake.lake.catalog import Catalog

_UNREADABLE = re.compile(r"\[FAILED_READ_FILE\.(\w+)\] Encountered error while reading file (\S+?)\.(?:\s|$)")
LOG_DIR = "_delta_log"
FILE_ACTIONS = "add struct<path: string>, remove struct<path: string>"


class DamagedTable(FeaturelakeError):
    """A table holds a file that cannot be read (exit 2: fix the table)."""


def _plain(uri: str) -> str:
    """A file URI as a path comparable with the catalog's paths (file:/x, file:///x and /x alike)."""
    parts = urlsplit(uri)
    return unquote(parts.path) if parts.scheme in ("", "file") else uri


def unreadable_table(error: BaseException, catalog: Catalog) -> DamagedTable | None:
    """The sentence for an error that is a file of one of the catalog's tables that cannot be read; else None."""
    match = _UNREADABLE.search(str(error))
    if match is None:
        return None
    why, uri = match.groups()
    file = _plain(uri)
    roots = {name: _plain(catalog.path(name)).rstrip("/") for name in sorted(catalog.settings.tables)}
    table = next((name for name, root in roots.items() if file.startswith(f"{root}/")), None)
    if table is None:
        return None
    root = roots[table]
    relative = file[len(root) + 1 :]
    state = "missing (deleted or vacuumed)" if why == "FILE_NOT_EXIST" else "damaged"
    if relative.startswith(f"{LOG_DIR}/"):
        return DamagedTable(
            f"{table} cannot be read: its Delta log file {file} is {state}; nothing was written. Put the file back "
            f"from a backup of the lake, or move {root} away and run the stages that write {table} again for its "
            "run dates (featurelake run --from D1 --to D2 --force)."
        )
    history = _file_history(catalog, table, posixpath.basename(relative))
    if history is not None and history.removed is not None and why == "FILE_NOT_EXIST":
        oldest = oldest_readable_version(catalog, table)
        return DamagedTable(
            f"{table} cannot be read as of versions {history.added} to {history.removed - 1}: their data file "
            f"{file} was deleted after version {history.removed} removed it (a VACUUM); the oldest version that "
            f"can still be read is {oldest}. Read version {oldest} or later, or build again what needed the older "
            "one (featurelake vacuum keeps the versions that manifests, registered models and vacuum.pinned need)."
        )
    added = None if history is None else history.added
    if added is None:
        way_out = f"restore {table} to a version before that file (featurelake restore --table {table} --version N)"
    elif added == 0:
        way_out = f"move {root} away (its first version holds the file)"
    else:
        way_out = f"restore {table} to version {added - 1} (featurelake restore --table {table} --version {added - 1})"
    since = "" if added is None else f", added by version {added}"
    return DamagedTable(
        f"{table} cannot be read: its data file {file} is {state}{since}; nothing was written. Either {way_out} "
        "and run again the run dates written since, or re-ingest the run dates it holds (featurelake run --from D1 "
        "--to D2 --force)."
    )


@dataclass(frozen=True)
class FileHistory:
    added: int | None  # the version whose commit added the file
    removed: int | None  # the version whose commit removed it (None: the current version holds it)


def _file_actions(catalog: Catalog, table: str) -> DataFrame:
    """(version, added, removed): the data files each commit of the table's JSON log added and removed."""
    log = f"{catalog.path(table).rstrip('/')}/{LOG_DIR}/*.json"
    commits = catalog.spark.read.schema(FILE_ACTIONS).json(log)
    version = F.regexp_extract(F.input_file_name(), r"([0-9]+)\.json$", 1).cast("long")
    return commits.select(
        version.alias("version"), F.col("add.path").alias("added"), F.col("remove.path").alias("removed")
    )


def _file_history(catalog: Catalog, table: str, file_name: str) -> FileHistory | None:
    """When the table's log added and removed a data file (None when the log cannot be read either)."""
    try:
        actions = _file_actions(catalog, table)
        named = [F.element_at(F.split(F.col(c), "/"), -1) == F.lit(file_name) for c in ("added", "removed")]
        found = actions.agg(
            F.min(F.when(named[0], F.col("version"))).alias("added"),
            F.max(F.when(named[1], F.col("version"))).alias("removed"),
        ).first()  # one row
    except Exception:  # noqa: BLE001 - the sentence goes without the versions rather than not at all
        return None
    return FileHistory(found["added"], found["removed"])


def oldest_readable_version(catalog: Catalog, table: str) -> int:
    """The oldest version of a table whose data files all exist: the latest version that removed a file now
    deleted (every version before it held that file), or the first version its JSON log still has."""
    existing = storage.relative_files(catalog.spark, catalog.path(table), LOG_DIR)
    actions = _file_actions(catalog, table)
    # bounded by the log: one row per file a commit removed
    removed = actions.where(F.col("removed").isNotNull()).groupBy("removed").agg(F.max("version").alias("version"))
    deleted = [r["version"] for r in removed.collect() if unquote(r["removed"]) not in existing]
    first = actions.agg(F.min("version").alias("first")).first()["first"] or 0
    return max([first, *deleted])
