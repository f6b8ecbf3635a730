"""Constraints in the Delta log: NOT NULL on a silver table's declared keys and a feature table's join keys, and
the CHECK constraints tables.yaml declares. A write that breaks one is refused whole: one sentence naming the table,
the constraint and a row's values (exit 2 from the command line), and the table stays at its version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK, EXIT_USER_ERROR, InputError
from featurelake.lake.catalog import Catalog
from featurelake.testing import frame_of
from tests.conftest import UNGATED, deliver_real
from tests.integration.conftest import in_process

pytestmark = pytest.mark.integration

DAY = dt.date(2013, 1, 1)
AIRLINES = "carrier string, name string, _run_date date"


def rows_and_version(spark, settings, table: str) -> tuple[set, int]:
    catalog = Catalog(spark, settings)
    rows = {tuple(r) for r in catalog.read(table).select("carrier", "_run_date").collect()}
    return rows, catalog.version(table)


def test_a_null_key_is_refused_whole_by_silver_and_feature_tables(spark, make_settings):
    settings = make_settings()
    catalog = Catalog(spark, settings)
    day = DateRange.single(DAY)
    catalog.replace_slice(frame_of(spark, [("AA", "American", DAY)], AIRLINES), "silver.airlines", day)
    before = rows_and_version(spark, settings, "silver.airlines")
    broken = frame_of(spark, [("UA", "United", DAY), (None, "nobody", DAY)], AIRLINES)
    with pytest.raises(InputError) as refused:
        catalog.replace_slice(broken, "silver.airlines", day)
    assert str(refused.value) == (
        "silver.airlines refused the write for 2013-01-01: 1 row(s) have a null carrier, which is NOT NULL "
        "(tables.silver.airlines.keys); nothing was written, the table is unchanged. Fix the rows upstream (or the "
        "constraint in tables.yaml) and run the step again."
    )
    assert rows_and_version(spark, settings, "silver.airlines") == before
    # a feature table: its group's join keys
    features = "carrier string, day_ends_at timestamp, _run_date date"
    ends = dt.datetime(2013, 1, 2, 5)
    catalog.replace_slice(frame_of(spark, [("AA", ends, DAY)], features), "features.carrier_performance", day)
    with pytest.raises(InputError, match=r"1 row\(s\) have a null carrier, which is NOT NULL \(a feature group's join"):
        catalog.replace_slice(frame_of(spark, [(None, ends, DAY)], features), "features.carrier_performance", day)
    assert rows_and_version(spark, settings, "features.carrier_performance")[0] == {("AA", DAY)}


def test_a_declared_check_refuses_a_breaking_refine_with_the_row_s_values(spark, make_settings, demo_landing):
    checks = {"iata_code": "length(carrier) = 2", "not_virgin": "carrier <> 'VX'"}
    settings = make_settings({**UNGATED, "tables": {"silver.airlines": {"checks": checks}}})
    deliver_real(settings, demo_landing, "airlines", str(DAY))
    conf = ["--conf-dir", str(settings.conf_dir), "--run-date", str(DAY)]
    lake = Path(settings.lake_root)
    assert in_process(["ingest", "--source", "airlines", *conf], lake)[0] == EXIT_OK
    catalog = Catalog(spark, settings)
    catalog.replace_slice(
        frame_of(spark, [("AA", "American", DAY)], AIRLINES), "silver.airlines", DateRange.single(DAY)
    )
    before = rows_and_version(spark, settings, "silver.airlines")

    # the real delivery holds Virgin America: refine's whole write (a snapshot's MERGE) is refused, exit 2
    code, printed = in_process(["refine", "--table", "silver.airlines", *conf], lake)
    assert code == EXIT_USER_ERROR, printed
    assert (
        "featurelake: silver.airlines refused the write: a row breaks tables.silver.airlines.checks.not_virgin "
        "(carrier <> 'VX'): carrier='VX', name='Virgin America'; nothing was written, the table is unchanged."
        in printed
    ), printed
    assert "Traceback" not in printed
    assert rows_and_version(spark, settings, "silver.airlines") == before
    with pytest.raises(
        InputError, match=r"breaks tables\.silver\.airlines\.checks\.iata_code \(length\(carrier\) = 2\)"
    ):
        catalog.replace_slice(frame_of(spark, [("AAX", "x", DAY)], AIRLINES), "silver.airlines", DateRange.single(DAY))
    assert rows_and_version(spark, settings, "silver.airlines") == before


def test_a_check_that_is_no_condition_is_one_sentence(spark, make_settings):
    settings = make_settings({"tables": {"silver.airlines": {"checks": {"long": "length(name)"}}}})
    rows = frame_of(spark, [("AA", "American", DAY)], AIRLINES)
    with pytest.raises(
        InputError, match=r"^tables\.silver\.airlines\.checks\.long \(length\(name\)\) is of type integer"
    ):
        Catalog(spark, settings).replace_slice(rows, "silver.airlines", DateRange.single(DAY))
    assert not Catalog(spark, settings).exists("silver.airlines")
