"""The reference profile of a monitored model: what every check of one model version computes from its reference
split alone, computed once and stored beside its drift reports.

A check compares recent predictions with the reference split of the training-set version the model was trained
on. That split, the model and the monitoring conf do not change between checks, so neither do the bins fixed by
the reference, the reference's share in each bin, its probability histogram nor the thresholds calibrated on its
windows - the larger part of a check's work on a real reference (about two thirds of a 30-second check of a
year's model). The profile is stored at ``<model card dir>/monitoring/reference_profile.json`` under a key made
of everything it depends on (model version, training-set version, the monitoring conf, the period grain and this
format); a check whose key differs computes it again and replaces it. Checks of one model running at once (a
batch's checks, two at a time) compute it once: the others wait for it and read it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

from pydantic import BaseModel

from featurelake.core.conf.ml import MonitoringConf
from featurelake.lake import storage
from featurelake.monitoring.drift import Binning, Threshold, categorical_binning, numeric_binning

PROFILE_FORMAT = 1
PROFILE_FILE = "reference_profile.json"
_COMPUTING: dict[str, threading.Lock] = {}  # per profile path: held while this process computes it
_COMPUTING_GUARD = threading.Lock()


class ColumnBins(BaseModel):
    column: str
    edges: list[float] | None = None
    categories: list[str] | None = None

    def binning(self) -> Binning:
        if self.edges is not None:
            return numeric_binning(self.column, self.edges)
        return categorical_binning(self.column, self.categories or [])


class ReferenceProfile(BaseModel):
    """The reference's side of every drift statistic of one model version under one monitoring conf."""

    key: str
    rows: int
    bins: list[ColumnBins]
    shares: dict[str, list[float]]  # per column, the reference's share in each of its bins
    thresholds: dict[str, Threshold]
    histogram: list[float]  # the probability's shares, for the report's plot

    @property
    def binnings(self) -> list[Binning]:
        return [b.binning() for b in self.bins]

    @staticmethod
    def bins_of(binnings: list[Binning]) -> list[ColumnBins]:
        return [ColumnBins(column=b.column, edges=b.edges, categories=b.categories) for b in binnings]


def profile_key(version: int, training_set_version: int, conf: MonitoringConf, grain: object) -> str:
    """What a profile depends on, as one digest."""
    text = f"{PROFILE_FORMAT}|{version}|{training_set_version}|{grain!r}|{conf.model_dump_json()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def reference_profile(spark, directory: str, key: str, compute: Callable[[], ReferenceProfile]) -> ReferenceProfile:
    """The stored profile under ``directory`` when its key is ``key``; else ``compute()``, stored there. A stored
    profile that cannot be read (cut short, another layout) is computed again like a stale one."""
    path = f"{directory}/{PROFILE_FILE}"
    with _COMPUTING_GUARD:
        computing = _COMPUTING.setdefault(path, threading.Lock())
    with computing:  # a check of the same model at once waits, then reads what this one stored
        found = _stored(spark, path)
        if found is not None and found.key == key:
            return found
        profile = compute()
        storage.write_text(spark, path, profile.model_dump_json())
        return profile


def _stored(spark, path: str) -> ReferenceProfile | None:
    stored = storage.read_text(spark, path)
    if stored is None:
        return None
    try:
        return ReferenceProfile.model_validate_json(stored)
    except ValueError:  # pydantic's ValidationError: not a profile this code reads
        return None
