"""The lake's quality folder (GX's stores and the Data Docs) as a directory GX can use, whatever the lake root.

GX's file stores and its site builder write to local disk only. On a local lake the folder is ``<lake>/quality``
itself. On a lake on an object store it is a mirror in a temporary directory, made once per process and lake:
filled from the lake with what GX needs (the stored suites and validation results, the site's index and its
static files, not the pages of earlier validations), and written back after each command with every file that
changed since (``write_back``), so the object store holds the same site a local lake would.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from featurelake.core.settings import Settings
from featurelake.lake import storage

QUALITY = "quality"
# What the mirror copies from the lake and writes back: GX's stores (not its config, which names local paths)
# and the Data Docs site.
STORES = ("gx/expectations", "gx/uncommitted/validations")
SITE = "docs"
FETCHED = (*STORES, f"{SITE}/index.html", f"{SITE}/static")


@dataclass
class Mirror:
    remote: str  # <lake>/quality
    local: Path
    synced: float  # files modified after this were not written back yet


_MIRRORS: dict[str, Mirror] = {}  # per object-store lake root, in this process


def mirrored(settings: Settings) -> bool:
    """Whether this process has mirrored the lake's quality folder (it validated something there)."""
    return settings.lake_root in _MIRRORS


def quality_dir(settings: Settings, spark=None) -> Path:
    """The local directory that holds the lake's quality folder (a mirror for a lake on an object store, which
    needs the session to be filled the first time)."""
    if not settings.lake_is_remote:
        return Path(settings.lake_root) / QUALITY
    mirror = _MIRRORS.get(settings.lake_root)
    if mirror is None:
        if spark is None:
            raise RuntimeError(f"the quality folder of {settings.lake_root} is mirrored through a Spark session")
        local = Path(tempfile.mkdtemp(prefix="featurelake-quality-"))
        source = f"{settings.lake_root}/{QUALITY}"
        for part in FETCHED:
            (local / part).parent.mkdir(parents=True, exist_ok=True)
            storage.copy_to_local(spark, f"{source}/{part}", str(local / part))
        mirror = _MIRRORS[settings.lake_root] = Mirror(source, local, time.time())
    return mirror.local


def write_back(spark, settings: Settings) -> None:
    """Write the mirror's stores and site files that changed since the last write back to the lake (nothing to do
    for a local lake)."""
    mirror = _MIRRORS.get(settings.lake_root)
    if mirror is None:
        return
    started = time.time()
    for part in (*STORES, SITE):
        for file in sorted((mirror.local / part).rglob("*")):
            if file.is_file() and file.stat().st_mtime > mirror.synced:
                relative = file.relative_to(mirror.local).as_posix()
                storage.write_bytes(spark, f"{mirror.remote}/{relative}", file.read_bytes())
    mirror.synced = started
