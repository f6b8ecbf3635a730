"""Labels: what a training set predicts, as a column over its label events (null excludes an event)."""

from __future__ import annotations

from typing import Literal

from pyspark.sql import Column
from pyspark.sql import functions as F

Treatment = Literal["positive", "negative", "exclude"]
_TREATMENTS = ("positive", "negative", "exclude")


def _as_label(treatment: Treatment, what: str) -> Column:
    if treatment not in _TREATMENTS:
        raise ValueError(f"{what} must be one of {', '.join(_TREATMENTS)}, not {treatment!r}")
    return {"positive": F.lit(1), "negative": F.lit(0), "exclude": F.lit(None)}[treatment].cast("int")


def is_delayed(events, threshold_minutes: int, cancelled: Treatment, diverted: Treatment) -> Column:
    """1 when the flight arrived more than ``threshold_minutes`` late, else 0.

    A cancelled flight (it never departed) and a diverted one (it departed but never arrived where it was
    going, so it has no arrival delay) are labelled as conf says: ``positive`` (the traveller did not arrive
    on time), ``negative``, or ``exclude`` (no label, the event is left out and counted)."""
    is_cancelled = F.col("dep_time").isNull()
    is_diverted = F.col("dep_time").isNotNull() & F.col("arr_delay").isNull()
    return (
        F.when(is_cancelled, _as_label(cancelled, "cancelled"))
        .when(is_diverted, _as_label(diverted, "diverted"))
        .otherwise((F.col("arr_delay") > threshold_minutes).cast("int"))
    )
