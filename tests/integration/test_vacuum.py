"""`featurelake vacuum` on real Delta tables whose versions were committed ten days ago: it deletes the files
only old versions held, except those of the versions something recorded still reads (pinned here; manifests and
registered models in the January lake), and a version whose files are gone is one sentence naming the table,
the versions and the oldest one that can still be read."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import yaml

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK
from featurelake.lake.catalog import Catalog
from featurelake.lake.damage import unreadable_table
from featurelake.ops.vacuum import Kept, kept_versions
from tests.integration.conftest import in_process

pytestmark = pytest.mark.integration

TABLE = "bronze.airlines"
DAY1, DAY2 = dt.date(2013, 1, 1), dt.date(2013, 1, 2)
SCHEMA = "carrier string, name string, _run_date date"
AGE = dt.timedelta(days=10)


def age_table(spark, root: Path, age: dt.timedelta) -> None:
    """Make every commit of a Delta table ``age`` older, as if it had been written then: the commit files'
    times (the table's history), their commit and removal timestamps (VACUUM's clock) and the data files'."""
    shift_ms = int(age.total_seconds() * 1000)
    for commit in sorted((root / "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines() if line]
        for action in actions:
            for kind, field in (("remove", "deletionTimestamp"), ("commitInfo", "timestamp")):
                if field in action.get(kind, {}):
                    action[kind][field] -= shift_ms
            if "inCommitTimestamp" in action.get("commitInfo", {}):
                action["commitInfo"]["inCommitTimestamp"] -= shift_ms
        commit.write_text("".join(json.dumps(a) + "\n" for a in actions))
    for file in root.rglob("*"):
        if file.is_file():
            if file.name.endswith(".crc"):
                file.unlink()  # checksums of the rewritten commits: optional, Delta reads the JSON without them
            else:
                moment = file.stat().st_mtime - age.total_seconds()
                os.utime(file, (moment, moment))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # as a new process reads the log


def three_versions(spark, settings) -> list[list[tuple]]:
    """Version 0 holds two days of the table, versions 1 and 2 each replace the first day; the rows of each."""
    catalog = Catalog(spark, settings)
    versions = [
        [("AA", "American", DAY1), ("UA", "United", DAY2)],
        [("AA", "American Airlines", DAY1), ("UA", "United", DAY2)],
        [("AA", "American Airlines Inc.", DAY1), ("UA", "United", DAY2)],
    ]
    catalog.replace_slice(catalog.frame_of(versions[0], SCHEMA), TABLE, DateRange(DAY1, DAY2))
    for rows in versions[1:]:
        catalog.replace_slice(catalog.frame_of(rows[:1], SCHEMA), TABLE, DateRange.single(DAY1))
    age_table(spark, Path(settings.table_path(TABLE)), AGE)
    return versions


def rows_of(spark, settings, version: int) -> set:
    frame = Catalog(spark, settings).read_version(TABLE, version)
    return {tuple(row) for row in frame.select("carrier", "name", "_run_date").collect()}


def test_vacuum_keeps_a_pinned_version_and_deletes_what_only_older_versions_held(spark, settings):
    versions = three_versions(spark, settings)
    conf = Path(settings.conf_dir)
    pin = conf / "local" / "zz_pin.yaml"
    pin.write_text(yaml.safe_dump({"vacuum": {"pinned": {TABLE: [1]}}}))
    argv = ["vacuum", "--table", TABLE, "--conf-dir", str(conf)]
    code, output = in_process(argv, Path(settings.lake_root))
    # version 1 was committed ten days ago: everything since it stays, with an hour to spare
    kept = f"vacuum {TABLE}: 0 files deleted, retention 242 h; kept from version 1 on (vacuum.pinned)"
    assert (code, output.strip()) == (EXIT_OK, kept)
    assert [rows_of(spark, settings, v) for v in (0, 1, 2)] == [set(rows) for rows in versions]

    pin.unlink()
    code, output = in_process(argv, Path(settings.lake_root))
    # the first day's files of versions 0 and 1, which versions 1 and 2 removed ten days ago
    assert (code, output.strip()) == (EXIT_OK, f"vacuum {TABLE}: 2 files deleted, retention 168 h")
    assert rows_of(spark, settings, 2) == set(versions[2]), "the latest version is whole"
    catalog = Catalog(spark, settings)
    with pytest.raises(Exception) as failed:
        catalog.read_version(TABLE, 1).collect()
    sentence = str(unreadable_table(failed.value, catalog))
    assert sentence.startswith(f"{TABLE} cannot be read as of versions 1 to 1: their data file ")
    assert sentence.endswith(
        "was deleted after version 2 removed it (a VACUUM); the oldest version that can still be read is 2. Read "
        "version 2 or later, or build again what needed the older one (featurelake vacuum keeps the versions that "
        "manifests, registered models and vacuum.pinned need)."
    )
    named = Path(sentence.split("their data file ")[1].split(" was deleted")[0])
    assert named.parent.name == f"_run_date={DAY1}" and not named.exists()


def test_the_january_lake_keeps_its_manifest_inputs_and_its_registered_model_training_set(spark, january):
    settings, _ = january
    kept = set(kept_versions(spark, settings))
    manifest = "manifest training_sets.flight_delay v0"
    expected = {
        Kept("training_sets.flight_delay", 0, manifest),
        Kept("silver.flights", 0, manifest),
        *(Kept(settings.feature_table(group), 0, manifest) for group in settings.feature_groups),
        Kept("training_sets.flight_delay", 0, "models:/flight_delay/1"),
    }
    assert expected <= kept
