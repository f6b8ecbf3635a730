"""Models load only from the configured registry."""

from __future__ import annotations

import pytest

from featurelake import tracking
from featurelake.errors import ConfigError


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
