"""Expectation suites: a table's GX 1.x suite JSON, read and checked against the table's columns before any data is
read.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import Column
from pyspark.sql import functions as F

from featurelake.core.conf.tables import GateConf
from featurelake.core.errors import SuiteError
from featurelake.core.settings import Settings
from featurelake.quality.predicates import ROW_LEVEL

ROW_COUNT = "expect_table_row_count_to_be_between"
NOT_NULL = "expect_column_values_to_not_be_null"
COLUMN_KWARGS = ("column", "column_A", "column_B")
# An expectation's meta key saying how much of the run's rows it judges at once: "batch" (default) or "period".
JUDGED_PER = "judged_per"


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite."""

    name: str
    type: str
    kwargs: dict[str, Any]
    expectation: Any  # the GX expectation object

    @property
    def row_level(self) -> bool:
        return self.type in ROW_LEVEL

    @property
    def quarantines(self) -> bool:
        return self.row_level and float(self.kwargs.get("mostly", 1.0)) >= 1.0

    @property
    def per_period(self) -> bool:
        """Judged on each run date's rows on its own (``"meta": {"judged_per": "period"}``): a ``mostly`` then
        means the same whatever the batch, one day or a backfill of a year."""
        return (self.expectation.meta or {}).get(JUDGED_PER) == "period"

    def unexpected(self) -> Column:
        return F.coalesce(ROW_LEVEL[self.type](self.kwargs), F.lit(False))


@dataclass(frozen=True)
class Suite:
    table: str
    path: Path
    rules: list[Rule]

    @property
    def quarantine_rules(self) -> list[Rule]:
        return [r for r in self.rules if r.quarantines]


def suite_path(settings: Settings, table: str) -> Path:
    gate = settings.tables[table].gate
    return settings.expectations_dir / (gate.suite if gate and gate.suite else f"{table}.json")


def _rule_name(type_name: str, kwargs: dict) -> str:
    columns = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list", []))
    return f"{type_name}({', '.join(map(str, columns))})" if columns else type_name


def load_suite(settings: Settings, table: str, columns: list[str]) -> Suite:
    """Read and check a table's suite against the table's columns, before any data is read; read once per
    process while the file is unchanged."""
    path = suite_path(settings, table)
    if not path.exists():
        raise SuiteError(f"{path} does not exist; write the suite of {table} there (GX 1.x suite JSON).")
    gate = settings.tables[table].gate or GateConf()
    stat = path.stat()
    return _load_suite(path, stat.st_mtime_ns, stat.st_size, table, tuple(columns), gate.policy)


@functools.lru_cache(maxsize=256)
def _load_suite(path: Path, _mtime: int, _size: int, table: str, columns: tuple[str, ...], policy: str) -> Suite:
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SuiteError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).") from None
    if not isinstance(document, dict) or not isinstance(document.get("expectations"), list):
        raise SuiteError(f"{path} must be a GX suite: an object with a list of expectations under 'expectations'.")
    rules: list[Rule] = []
    for index, entry in enumerate(document["expectations"], start=1):
        where = f"{path}: expectation {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise SuiteError(
                f"{where} needs a 'type' naming a GX expectation, e.g. expect_column_values_to_not_be_null."
            )
        type_name, kwargs = entry["type"], entry.get("kwargs") or {}
        name = _rule_name(type_name, kwargs)
        try:
            expectation = ExpectationConfiguration(
                type=type_name, kwargs=kwargs, meta=entry.get("meta") or {}
            ).to_domain_obj()
        except Exception as exc:  # GX raises its own and pydantic's errors; the message is what matters
            if type(exc).__name__ == "ExpectationNotFoundError":
                raise SuiteError(f"{where} has type {type_name}, which is not a GX expectation type.") from None
            detail = " ".join(str(exc).split())[:300]
            raise SuiteError(f"{where} ({name}) has invalid arguments: {detail}.") from None
        judged_per = (entry.get("meta") or {}).get(JUDGED_PER, "batch")
        if judged_per not in ("batch", "period"):
            raise SuiteError(
                f"{where} ({name}) has meta.{JUDGED_PER} {judged_per!r}; use 'period' (each run date's rows judged "
                "on their own) or 'batch' (the default: the run's rows together)."
            )
        referenced = [kwargs[k] for k in COLUMN_KWARGS if k in kwargs] + list(kwargs.get("column_list", []))
        missing = [c for c in referenced if c not in columns]
        if missing:
            raise SuiteError(f"{where} ({name}) names column {missing[0]}, which {table} does not have.")
        if policy == "quarantine" and not (type_name in ROW_LEVEL or type_name.startswith("expect_table_")):
            from great_expectations.expectations.expectation import ColumnMapExpectation

            if isinstance(expectation, ColumnMapExpectation):
                raise SuiteError(
                    f"{where} ({name}) is a row-level expectation featurelake cannot quarantine yet; use one of "
                    f"{', '.join(sorted(ROW_LEVEL))}, or set tables.{table}.gate.policy to fail or warn."
                )
        taken = sum(1 for r in rules if r.name == name or r.name.startswith(f"{name} #"))
        rules.append(Rule(f"{name} #{taken + 1}" if taken else name, type_name, kwargs, expectation))
    return Suite(table, path, rules)


def suite_for(settings: Settings, table: str, columns: list[str]) -> Suite | None:
    """The table's suite when conf gives the table a gate (``tables.<name>.gate``), else None."""
    return load_suite(settings, table, columns) if settings.table(table).gate else None
