"""A monthly source whose folders are named by the day each delivery arrived (``folders: arrival``): a report of
January lands in 2014-02-15, its correction in 2014-03-20. Each row's period comes from its date columns; a
period's ingest reads the folders of its arrival window only; a row that arrived outside its period's window is
quarantined by the ingest of the period it arrived in, so every row lands in exactly one place; the latest
arrival of a key wins in silver; a period none of whose rows arrived is one sentence naming its window."""

from __future__ import annotations

import datetime as dt

import pytest

from featurelake.core.dates import DateRange
from featurelake.core.errors import InputError
from featurelake.ingest.arrivals import fingerprints
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import refine
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from tests.cadence_projects import period_conf
from tests.integration.test_periods import market_csv, rows

pytestmark = pytest.mark.integration

D = dt.date
QUARTER = DateRange(D(2014, 1, 1), D(2014, 3, 31))
APRIL = DateRange(D(2014, 4, 1), D(2014, 4, 30))
LATE = "year, month: its period's deliveries arrive within 1 month of it, not on the day this arrived"


@pytest.fixture
def settings(make_settings):
    """The cadence projects' monthly market source, its folders named by arrival days, a month late at most."""
    conf = period_conf("market")
    conf["sources"]["market"] = {**conf["sources"]["market"], "folders": "arrival", "arrives_within": "1 month"}
    return make_settings(conf)


def test_rows_take_their_month_from_their_dates_and_each_lands_once_across_the_runs_that_read_its_folder(
    spark, settings, deliver
):
    deliver("market", D(2014, 2, 15), market_csv(D(2014, 1, 1), {"austin": 300.0, "boise": 200.0}))
    deliver("market", D(2014, 3, 14), market_csv(D(2014, 2, 1), {"austin": 301.0, "boise": 201.0}))
    # a correction of January within its window, and a December row that comes too late (its window ended 31 Jan)
    deliver("market", D(2014, 2, 20), market_csv(D(2014, 1, 1), {"austin": 310.0}) + "2013,12,austin,9,299.0\n")
    # March's report and, in one file, the first April figures: read by both runs, each keeps its month's rows
    deliver("market", D(2014, 4, 15), market_csv(D(2014, 3, 1), {"austin": 302.0}) + "2014,4,boise,9,203.0\n")
    deliver("market", D(2014, 5, 15), market_csv(D(2014, 4, 1), {"austin": 303.0}))  # outside March's window

    [quarter] = [ingest(Context.of(spark, settings, "run-1"), "market", QUARTER)]
    assert (quarter.rows_in, quarter.published, quarter.quarantined) == (7, 6, 1)
    assert rows(spark, settings, "bronze.market", "_run_date", "city", "median_price") == [
        (D(2014, 1, 1), "austin", 300.0),
        (D(2014, 1, 1), "austin", 310.0),
        (D(2014, 1, 1), "boise", 200.0),
        (D(2014, 2, 1), "austin", 301.0),
        (D(2014, 2, 1), "boise", 201.0),
        (D(2014, 3, 1), "austin", 302.0),
    ]
    # the late December row is February's to count (it arrived in February), with its reason and text
    assert rows(spark, settings, "quarantine.bronze_market", "_run_date", "_reasons", "_raw") == [
        (D(2014, 2, 1), [LATE], '{"year":"2013","month":"12","city":"austin","listings":"9","median_price":"299.0"}')
    ]

    refine(Context.of(spark, settings, "run-1"), "silver.market", QUARTER)
    assert rows(spark, settings, "silver.market", "month", "city", "median_price") == [
        (1, "austin", 310.0),  # the later arrival of the key wins
        (1, "boise", 200.0),
        (2, "austin", 301.0),
        (2, "boise", 201.0),
        (3, "austin", 302.0),
    ]

    [april] = [ingest(Context.of(spark, settings, "run-2"), "market", APRIL)]
    assert (april.rows_in, april.published, april.quarantined) == (2, 2, 0)
    april_rows = Catalog(spark, settings).read("bronze.market", APRIL).select("city", "median_price", "_source_file")
    assert sorted((r[0], r[1], r[2].rsplit("/", 2)[-2]) for r in april_rows.collect()) == [
        ("austin", 303.0, "2014-05-15"),
        ("boise", 203.0, "2014-04-15"),
    ]


def test_a_month_whose_rows_never_arrived_is_one_sentence_naming_its_arrival_window(spark, settings, deliver):
    deliver("market", D(2014, 2, 15), market_csv(D(2014, 1, 1), {"austin": 300.0}))
    deliver("market", D(2014, 3, 14), market_csv(D(2014, 1, 1), {"boise": 200.0}))  # January again, no February
    with pytest.raises(
        InputError,
        match=r"No market row is dated in 2014-02: the deliveries that arrived from 2014-02-01 to 2014-03-31 hold none",
    ):
        ingest(Context.of(spark, settings, "run-1"), "market", DateRange(D(2014, 1, 1), D(2014, 2, 28)))
    with pytest.raises(InputError, match=r"No market delivery of 2014-04 arrived from 2014-04-01 to 2014-05-31"):
        ingest(Context.of(spark, settings, "run-1"), "market", APRIL)
    assert not Catalog(spark, settings).exists("bronze.market")


def test_a_correction_changes_the_input_of_the_month_it_corrects_not_of_the_month_it_arrived_in(
    spark, settings, deliver
):
    deliver("market", D(2014, 2, 15), market_csv(D(2014, 1, 1), {"austin": 300.0}))
    deliver("market", D(2014, 3, 14), market_csv(D(2014, 2, 1), {"austin": 301.0}))
    deliver("market", D(2014, 4, 15), market_csv(D(2014, 3, 1), {"austin": 302.0}))
    months = [D(2014, 1, 1), D(2014, 2, 1), D(2014, 3, 1), D(2014, 4, 1)]
    before = fingerprints(spark, settings, "market", months)
    assert set(before) == set(months[:3])  # no row of April has arrived
    # February's correction arrives in March: in the windows of February and March, but it holds February's rows
    deliver("market", D(2014, 3, 20), market_csv(D(2014, 2, 1), {"austin": 311.0}))
    after = fingerprints(spark, settings, "market", months)
    assert after[D(2014, 2, 1)] != before[D(2014, 2, 1)]
    assert (after[D(2014, 1, 1)], after[D(2014, 3, 1)]) == (before[D(2014, 1, 1)], before[D(2014, 3, 1)])
    assert D(2014, 4, 1) not in after


def test_the_hint_for_a_folder_named_by_its_arrival_day_leads_to_a_working_layout(spark, make_settings):
    from featurelake import testing

    by_period = make_settings(period_conf("market"))
    testing.deliver(by_period, "market", D(2014, 2, 15), market_csv(D(2014, 1, 1), {"austin": 300.0}))
    with pytest.raises(
        InputError,
        match=r"2014-02-15 is not the first day of a month: .* goes in the folder 2014-02-01; or, if the source's "
        r"folders are named by the day a delivery arrived, set sources.market.folders: arrival and arrives_within",
    ):
        ingest(Context.of(spark, by_period, "run-1"), "market", DateRange(D(2014, 1, 1), D(2014, 2, 28)))
    as_hinted = period_conf("market")
    as_hinted["sources"]["market"] = {
        **as_hinted["sources"]["market"],
        "folders": "arrival",
        "arrives_within": "1 month",
    }
    settings = make_settings(as_hinted)  # the same lake and landing zone, nothing moved
    january = DateRange(D(2014, 1, 1), D(2014, 1, 31))
    assert ingest(Context.of(spark, settings, "run-2"), "market", january).published == 1
    assert rows(spark, settings, "bronze.market", "_run_date", "city", "median_price") == [
        (D(2014, 1, 1), "austin", 300.0)
    ]
