"""A training set built before a corrected re-delivery of a period inside its span is stale, and so are the models
trained on it: found from its latest manifest and the run ledger's fingerprints of what each ingest read."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from featurelake.core.dates import DateRange
from featurelake.lake import ledger
from featurelake.lake.catalog import Catalog
from featurelake.lake.tables import manifest_dir
from featurelake.ops.staleness import stale_builds
from tests.unit.manifests import on_disk_manifest

D = dt.date


def ingested(catalog: Catalog, source: str, day: dt.date, files: str) -> None:
    fingerprint = ledger.fingerprint({f"{day}/{source}.csv": files})
    ledger.record(catalog, "ingest", source, DateRange.single(day), "run", [], 1.0, None, {day: fingerprint})


def test_a_build_before_a_corrected_delivery_in_its_span_is_stale_with_its_models(spark, make_settings):
    settings = make_settings()
    catalog = Catalog(spark, settings)
    for source, day in [("flights", D(2013, 1, 5)), ("flights", D(2013, 1, 20)), ("weather", D(2013, 1, 6))]:
        ingested(catalog, source, day, "100,1")
    built = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=1)
    manifest = {**on_disk_manifest(), "created_at": built.isoformat()}  # spans 2013-01-01..2013-01-14, version 4
    folder = Path(manifest_dir(settings, "training_sets.flight_delay"))
    folder.mkdir(parents=True)
    (folder / "v4.json").write_text(json.dumps(manifest))
    assert stale_builds(spark, settings) == []  # nothing delivered again since

    time.sleep(max(0.0, (built - dt.datetime.now(dt.UTC)).total_seconds()) + 0.01)  # the re-deliveries come after
    ingested(catalog, "flights", D(2013, 1, 5), "120,2")  # corrected: inside the span
    ingested(catalog, "flights", D(2013, 1, 20), "120,2")  # corrected: after the span, read by no build
    ingested(catalog, "weather", D(2013, 1, 6), "100,1")  # ingested again, the same files: no change
    [stale] = stale_builds(spark, settings)
    assert (stale.table, stale.version, stale.redelivered, stale.models) == (
        "training_sets.flight_delay",
        4,
        {"flights": [D(2013, 1, 5)]},
        ["flight_delay"],
    )
    assert stale.line() == (
        f"stale: training_sets.flight_delay v4 (built {built.isoformat()}) read data re-delivered since: 1 period(s) "
        "of flights (2013-01-05); models trained on it: flight_delay. Build it again (featurelake training-set) and "
        "retrain."
    )
    assert stale_builds(spark, settings, {"weather"}) == []  # only the sources asked about
