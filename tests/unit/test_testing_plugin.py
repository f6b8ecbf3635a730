"""The fixtures every project gets from the pytest plugin: a lake under the test's temporary directory."""

from __future__ import annotations

from pathlib import Path


def test_the_deliver_fixture_writes_into_the_test_lake_s_landing_zone(deliver, settings, tmp_path):
    path = deliver("airlines", "2013-01-01", "carrier,name\nAA,American Airlines Inc.\n")
    assert path == Path(settings.landing_path("airlines")) / "2013-01-01" / "airlines_2013-01-01.csv"
    assert path.read_text() == "carrier,name\nAA,American Airlines Inc.\n"
    assert settings.lake_root == str((tmp_path / "lake").resolve())
    jsonl = deliver("weather", "2013-01-02", '{"origin": "EWR"}\n', name="part-0.jsonl")
    assert jsonl.name == "part-0.jsonl" and jsonl.parent.name == "2013-01-02"
