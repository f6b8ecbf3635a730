"""A table that cannot be read, as a sentence: which table, which file, and the way out.

Spark reports a data file or a Delta log file it cannot read (truncated, overwritten, deleted, vacuumed) as
``[FAILED_READ_FILE.<why>] Encountered error while reading file <uri>`` deep inside a Java stack. Here that
error becomes one sentence naming the table (by its logical name), the file, the version that added a data
file, and what to do: restore the table to the version before it (``featurelake restore``) and run the later
run dates again, or re-ingest the run dates it holds. A damaged log file cannot be restored past: the way out
is a backup of that file, or the table rebuilt from its run dates.
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import unquote, urlsplit

from pyspark.sql import functions as F

from featurelake.core.errors import FeaturelakeError
from featurelake.lake.catalog import Catalog

_UNREADABLE = re.compile(r"\[FAILED_READ_FILE\.(\w+)\] Encountered error while reading file (\S+?)\.(?:\s|$)")
LOG_DIR = "_delta_log"


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
    added = _version_that_added(catalog, table, posixpath.basename(relative))
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


def _version_that_added(catalog: Catalog, table: str, file_name: str) -> int | None:
    """The Delta version whose commit added a data file, from the table's log (None when the log of that commit
    is gone, or cannot be read either)."""
    log = f"{catalog.path(table).rstrip('/')}/{LOG_DIR}/*.json"
    try:
        commits = catalog.spark.read.json(log).select(F.input_file_name().alias("commit"), "add.path")
        added = commits.where(F.element_at(F.split(F.col("path"), "/"), -1) == F.lit(file_name)).first()
    except Exception:  # noqa: BLE001 - the sentence goes without the version rather than not at all
        return None
    if added is None:
        return None
    return int(posixpath.basename(added["commit"]).split(".")[0])
