"""Models load only from the configured registry."""

from __future__ import annotations

import pytest

from featurelake.core.errors import ConfigError
from featurelake.lake.catalog import Catalog
from featurelake.ml import tracking
from featurelake.testing import frame_of


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/0123456789abcdef/model",
        "file:///tmp/model",
        "/tmp/model",
        "s3://bucket/models/flight_delay",
        "https://example.com/models:/flight_delay/1",
        "models:/other_model/1",
        "models:/flight_delay",
        "models:/flight_delay/1/../../2",
    ],
)
def test_a_model_from_outside_the_registry_is_refused(settings, uri):
    with pytest.raises(
        ConfigError,
        match=r"is refused: models load only from the configured registry, as "
        r"models:/flight_delay/<version> or models:/flight_delay@<alias>\.$",
    ):
        tracking.resolve(settings, "flight_delay", uri)


@pytest.mark.parametrize("uri", ["models:/flight_delay/3", "models:/flight_delay@champion", None])
def test_registry_uris_are_accepted(uri):
    match = tracking.REGISTERED_MODEL_URI.match(uri or "models:/flight_delay@champion")
    assert match and match["name"] == "flight_delay"


def test_a_predictions_table_from_before_the_inputs_column_takes_it_on_the_next_run_date(spark, settings):
    import datetime as dt

    from featurelake.core.dates import DateRange

    table, old_day, new_day = "predictions.flight_delay", dt.date(2013, 12, 1), dt.date(2013, 12, 2)
    before = frame_of(spark, [("UA", 0.2, old_day)], "carrier string, probability double, _run_date date")
    Catalog(spark, settings).replace_slice(before, table, DateRange.single(old_day))
    after = frame_of(
        spark,
        [("AA", 0.7, (12.5, "JFK"), new_day)],
        "carrier string, probability double, inputs struct<weather_temp: double, origin: string>, _run_date date",
    )
    Catalog(spark, settings).replace_slice(after, table, DateRange.single(new_day), merge_schema=True)
    rows = {r["carrier"]: r for r in Catalog(spark, settings).read(table).collect()}
    assert rows["UA"]["inputs"] is None and rows["UA"]["probability"] == 0.2
    assert rows["AA"]["inputs"]["weather_temp"] == 12.5 and rows["AA"]["inputs"]["origin"] == "JFK"
