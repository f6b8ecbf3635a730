"""Table handles (featurelake.lake.tables): a logical name resolved once per catalog into what conf says of it,
and the names and paths the lake derives for models and training sets, from the catalog only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from featurelake.core.columns import RUN_DATE
from featurelake.core.periods import DAILY
from featurelake.lake.catalog import Catalog


def test_a_declared_table_is_resolved_once_with_what_conf_says_of_it(settings):
    catalog = Catalog(None, settings)  # resolving needs no session
    flights = catalog.table("silver.flights")
    assert catalog.table("silver.flights") is flights, "resolved once, the same handle after"
    lake = Path(settings.lake_root)
    assert (flights.name, Path(flights.path), flights.declared) == ("silver.flights", lake / "silver" / "flights", True)
    assert (flights.cadence, flights.grain, flights.partition_by) == ("daily", DAILY, (RUN_DATE,))
    assert flights.keys == ("year", "month", "day", "carrier", "flight", "origin")
    assert (flights.gate.policy, flights.gate.max_quarantine_fraction) == ("quarantine", 0.01)
    assert flights.quarantine == "quarantine.silver_flights"
    # the weather source declares the last day of 2013 empty: the tables it feeds know it
    assert catalog.table("bronze.weather").gaps == catalog.table("silver.weather").gaps == {dt.date(2013, 12, 31)}
    planes = catalog.table("silver.planes")
    assert (planes.cadence, planes.keys, planes.gate.policy, planes.gaps) == ("snapshot", ("tailnum",), "fail", set())
    # a feature group's table is implied by the group, with its inputs' cadence
    carriers = catalog.table("features.carrier_performance")
    assert carriers.declared and carriers.cadence == "daily" and carriers.gate.policy == "fail"
    assert Path(carriers.path) == lake / "features" / "carrier_performance"


def test_an_engine_table_conf_does_not_declare_takes_the_defaults(settings):
    ledger = Catalog(None, settings).table("quarantine.silver_flights")
    assert not ledger.declared and Path(ledger.path) == Path(settings.lake_root) / "quarantine" / "silver_flights"
    assert (ledger.cadence, ledger.grain, ledger.keys, ledger.gate, ledger.gaps) == ("daily", DAILY, (), None, set())
    assert ledger.partition_by == (RUN_DATE,)


def test_the_catalog_names_what_the_lake_derives_for_models_and_training_sets(settings):
    catalog, lake = Catalog(None, settings), Path(settings.lake_root)
    assert catalog.predictions_table("flight_delay") == "predictions.flight_delay"
    assert catalog.monitoring_table("flight_delay") == "monitoring.flight_delay"
    assert Path(catalog.model_dir("flight_delay", 3)) == lake / "models" / "flight_delay" / "v3"
    assert (
        Path(catalog.manifest_dir("training_sets.flight_delay"))
        == lake / "training_sets" / "_manifests" / "flight_delay"
    )
