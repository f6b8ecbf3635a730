"""Great Expectations gates: quarantine == GX's unexpected rows, the three policies, history, bad suites."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import time
from pathlib import Path

import great_expectations as gx
import pytest
import yaml
from pyspark.sql import functions as F

from featurelake.core.columns import REASONS, RUN_DATE
from featurelake.core.config import load_settings
from featurelake.core.dates import DateRange
from featurelake.core.errors import GateFailed, SuiteError
from featurelake.ingest.bronze import ingest
from featurelake.ingest.refine import refine
from featurelake.lake.catalog import Catalog
from featurelake.lake.stage import Context
from featurelake.quality.gate import record_committed, run_gate
from featurelake.quality.suites import load_suite
from featurelake.testing import frame_of
from featurelake.testing.plugin import copy_project
from tests.conftest import PROJECT
from tests.integration.browser import dump_dom, require_chromium

pytestmark = pytest.mark.integration

ROWS = [
    # id, x, code, word, a, b
    (1, 5.0, "EWR", "N123AA", 3, 1),
    (2, -1.0, "JFK", "N9", 3, 3),
    (3, None, "XXX", "bad", None, 2),
    (4, 10.0, None, None, None, None),
    (5, 0.0, "LGA", "N77", 1, 5),
    (6, 10.0, "LGA", "n77", 1, None),
]
SCHEMA = "id int, x double, code string, word string, a int, b int"
EXPECTATIONS = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "code", "mostly": 0.5}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0, "max_value": 10}},
    {
        "type": "expect_column_values_to_be_between",
        "kwargs": {"column": "b", "min_value": 1, "max_value": 5, "strict_min": True, "strict_max": True},
    },
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "a", "max_value": 2, "mostly": 0.4}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "code", "value_set": ["EWR", "JFK", "LGA"]}},
    {"type": "expect_column_values_to_not_be_in_set", "kwargs": {"column": "code", "value_set": ["JFK"]}},
    {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "word", "regex": "^N[0-9A-Z]+$"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["code", "a"]}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b", "kwargs": {"column_A": "a", "column_B": "b"}},
    {
        "type": "expect_column_pair_values_a_to_be_greater_than_b",
        "kwargs": {"column_A": "a", "column_B": "b", "or_equal": True},
    },
]


def write_suite(settings, table: str, expectations: list[dict]) -> Path:
    path = settings.expectations_dir / f"{table}.json"
    path.write_text(json.dumps({"name": table, "expectations": expectations}))
    return path


def gx_unexpected_ids(frame, expectations: list) -> list[tuple[str, set[int], int]]:
    """Per expectation, in the order given: its type, the ids GX itself reports as unexpected and GX's
    unexpected count (one validation, COMPLETE format, on tiny data). GX returns results in its own order,
    so they are matched to the suite's expectations by id."""
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_spark(name="exact", persist=False)
        .add_dataframe_asset(name="rows")
        .add_batch_definition_whole_dataframe("all")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="all", expectations=expectations))
    definition = context.validation_definitions.add(gx.ValidationDefinition(name="all", data=batch, suite=suite))
    results = definition.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["id"]},
    ).results
    by_id = {r.expectation_config.id: r for r in results}
    by_position = {i: by_id[expectation.id] for i, expectation in enumerate(suite.expectations)}
    return [
        (
            by_position[i].expectation_config.type,
            {entry["id"] for entry in by_position[i].result.get("unexpected_index_list", [])},
            by_position[i].result["unexpected_count"],
        )
        for i in range(len(expectations))
    ]


def test_flagged_rows_are_exactly_gx_unexpected_rows(spark, gated_settings):
    """Every supported expectation type, each case built to break it: the rows our rule flags are exactly
    the rows GX reports as unexpected."""
    write_suite(gated_settings, "silver.test", EXPECTATIONS)
    frame = frame_of(spark, ROWS, SCHEMA)
    suite = load_suite(gated_settings, "silver.test", frame.columns)
    assert len(suite.rules) == len(EXPECTATIONS)
    flags = frame.select("id", *[rule.unexpected().alias(f"rule_{i}") for i, rule in enumerate(suite.rules)]).collect()
    implementations = [gx.expectations.registry.get_expectation_impl(e["type"])(**e["kwargs"]) for e in EXPECTATIONS]
    theirs = gx_unexpected_ids(frame, implementations)
    for i, expectation in enumerate(EXPECTATIONS):
        ours = {r["id"] for r in flags if r[f"rule_{i}"]}
        kind, unexpected, count = theirs[i]
        assert kind == expectation["type"]
        assert (ours, len(ours)) == (unexpected, count), expectation
        assert ours, f"case {i} is built to break {expectation}"


def test_quarantine_holds_every_failing_rule_name_in_one_pass(spark, gated_settings):
    write_suite(gated_settings, "silver.test", EXPECTATIONS[:4])
    frame = frame_of(spark, ROWS, SCHEMA).withColumn(RUN_DATE, F.lit(dt.date(2013, 1, 1)))
    suite = load_suite(gated_settings, "silver.test", frame.columns)
    flagged, report = run_gate(
        frame, Context.of(spark, gated_settings, "t"), "silver.test", suite, DateRange.single(dt.date(2013, 1, 1))
    )
    reasons = {r["id"]: r[REASONS] for r in flagged.collect()}
    assert reasons == {
        1: ["expect_column_values_to_be_between(b)"],
        2: ["expect_column_values_to_be_between(x)"],
        3: ["expect_column_values_to_not_be_null(x)"],
        4: [],
        5: ["expect_column_values_to_be_between(b)"],
        6: [],
    }
    # code not null with mostly=0.5: 1 of 6 missing passes, and its row is not quarantined (statistical rule)
    by_name = {o.expectation: o for o in report.outcomes}
    assert by_name["expect_column_values_to_not_be_null(code)"].success
    assert by_name["expect_column_values_to_not_be_null(code)"].unexpected_count == 1
    assert report.quarantined == 4 and report.candidates == 6


BROKEN_DAY = "2013-03-09"


def deliver_broken_day(settings, demo_landing, keep_fraction: float = 1.0) -> None:
    """The real 9 March 2013, with three wrong carrier codes and one negative distance (or most rows missing)."""
    source = demo_landing / "flights" / BROKEN_DAY / f"flights_{BROKEN_DAY}.csv"
    header, *rows = source.read_text().splitlines()
    rows = rows[: int(len(rows) * keep_fraction)]
    columns = header.split(",")
    carrier, distance = columns.index("carrier"), columns.index("distance")
    broken = []
    for i, row in enumerate(rows):
        values = row.split(",")
        if keep_fraction == 1.0 and i in (10, 20, 30):
            values[carrier] = "ZZ"
        if keep_fraction == 1.0 and i == 40:
            values[distance] = "-5"
        broken.append(",".join(values))
    target = Path(settings.landing_path("flights")) / BROKEN_DAY / source.name
    target.parent.mkdir(parents=True)
    target.write_text("\n".join([header, *broken]) + "\n")


def silver_day(spark, settings, table="silver.flights"):
    return spark.read.format("delta").load(settings.table_path(table))


def results(spark, settings):
    return spark.read.format("delta").load(settings.table_path("quality.results"))


def test_quarantine_policy_on_a_broken_real_day(spark, settings, demo_landing):
    deliver_broken_day(settings, demo_landing)
    day = DateRange.single(dt.date(2013, 3, 9))
    bronze = ingest(Context.of(spark, settings, "run-1"), "flights", day)
    assert bronze.quarantined == 0 and bronze.gate.policy == "warn"  # bronze keeps what arrived, and says so
    assert {o.expectation for o in bronze.gate.failed} == {
        "expect_column_values_to_be_in_set(carrier)",
        "expect_column_values_to_be_between(distance)",
    }
    [silver] = refine(Context.of(spark, settings, "run-1"), "silver.flights", day)
    assert (silver.rows_in, silver.quarantined, silver.published) == (bronze.rows_in, 4, bronze.rows_in - 4)
    quarantined = spark.read.format("delta").load(settings.table_path("quarantine.silver_flights"))
    reasons = sorted(tuple(r[REASONS]) for r in quarantined.collect())
    assert (
        reasons
        == [("expect_column_values_to_be_between(distance)",)] + [("expect_column_values_to_be_in_set(carrier)",)] * 3
    )
    assert all('"carrier":"ZZ"' in r["_raw"] or '"distance":-5.0' in r["_raw"] for r in quarantined.collect())
    published = silver_day(spark, settings)
    assert published.where((F.col("carrier") == "ZZ") | (F.col("distance") <= 0)).count() == 0
    history = results(spark, settings)
    carrier_rows = history.where(F.col("expectation") == "expect_column_values_to_be_in_set(carrier)").collect()
    # recorded with the commit each judged
    recorded = [
        (r["table"], r["success"], r["unexpected_count"], r["committed"], r["table_version"]) for r in carrier_rows
    ]
    assert sorted(recorded) == [
        ("bronze.flights", False, 3, True, bronze.delta_version),
        ("silver.flights", False, 3, True, silver.delta_version),
    ]
    row_count = history.where(
        (F.col("table") == "silver.flights") & (F.col("expectation_type") == "expect_table_row_count_to_be_between")
    ).first()
    assert (row_count["success"], row_count["observed_value"], row_count["run_date_from"]) == (
        True,
        str(bronze.rows_in),
        dt.date(2013, 3, 9),
    )
    # a rerun appends its own validation to the history and changes nothing in the tables
    refine(Context.of(spark, settings, "run-2"), "silver.flights", day)
    assert history.where(F.col("table") == "silver.flights").select("run_id").distinct().count() == 2
    assert silver_day(spark, settings).count() == silver.published


# The policy tests below are about silver.flights' gate; bronze's (warn) is tested above and skipped here.
NO_BRONZE_GATE = {"bronze.flights": {"gate": None}}


@pytest.fixture(scope="module")
def broken_bronze(spark, demo_landing, tmp_path_factory) -> Path:
    """bronze.flights holding the broken real day, ingested once (without its gate) for the policy tests,
    each of which refines a copy of it under its own policy."""
    root = tmp_path_factory.mktemp("broken_bronze")
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURELAKE_LAKE_ROOT", str(root / "lake"))
    try:
        conf = copy_project(PROJECT, root)
        (conf / "local" / "zz_test.yaml").write_text(yaml.safe_dump({"tables": NO_BRONZE_GATE}))
        settings = load_settings("local", conf)
    finally:
        patch.undo()
    deliver_broken_day(settings, demo_landing)
    ingest(Context.of(spark, settings, "run-1"), "flights", DateRange.single(dt.date(2013, 3, 9)))
    return Path(settings.table_path("bronze.flights"))


def with_broken_bronze(make_settings, broken_bronze, silver_gate: dict):
    """A fresh lake whose bronze.flights is the broken day, and silver.flights' gate as given."""
    settings = make_settings({"tables": {"silver.flights": {"gate": silver_gate}, **NO_BRONZE_GATE}})
    shutil.copytree(broken_bronze, settings.table_path("bronze.flights"))
    return settings


def test_a_day_with_a_tenth_of_its_rows_fails_the_gate(spark, make_settings, demo_landing):
    settings = make_settings({"tables": NO_BRONZE_GATE})
    deliver_broken_day(settings, demo_landing, keep_fraction=0.1)
    day = DateRange.single(dt.date(2013, 3, 9))
    ingest(Context.of(spark, settings, "run-1"), "flights", day)
    with pytest.raises(GateFailed) as failure:
        refine(Context.of(spark, settings, "run-1"), "silver.flights", day)
    message = str(failure.value)
    assert message.startswith("The gate of silver.flights failed 1 expectation(s): ")
    assert re.search(r"expect_table_row_count_to_be_between on 2013-03-09 \(observed \d\d\)", message)
    assert message.endswith("nothing was published.")

    assert not Catalog(spark, settings).exists("silver.flights")


def test_fail_policy_publishes_nothing_and_names_what_failed(spark, make_settings, broken_bronze):
    settings = with_broken_bronze(make_settings, broken_bronze, {"policy": "fail"})
    day = DateRange.single(dt.date(2013, 3, 9))
    with pytest.raises(GateFailed) as failure:
        refine(Context.of(spark, settings, "run-1"), "silver.flights", day)
    assert "expect_column_values_to_be_in_set(carrier) (observed 3 unexpected rows)" in str(failure.value)
    assert "expect_column_values_to_be_between(distance) (observed 1 unexpected rows)" in str(failure.value)

    assert not Catalog(spark, settings).exists("silver.flights")
    assert results(spark, settings).where(F.col("table") == "silver.flights").count() > 0


def test_warn_policy_publishes_everything(spark, make_settings, broken_bronze):
    settings = with_broken_bronze(make_settings, broken_bronze, {"policy": "warn"})
    day = DateRange.single(dt.date(2013, 3, 9))
    [silver] = refine(Context.of(spark, settings, "run-1"), "silver.flights", day)
    assert silver.quarantined == 0 and len(silver.gate.failed) == 2
    assert silver_day(spark, settings).where(F.col("carrier") == "ZZ").count() == 3


def test_quarantine_over_the_allowed_fraction_fails(spark, make_settings, broken_bronze):
    gate = {"policy": "quarantine", "max_quarantine_fraction": 0.001}
    settings = with_broken_bronze(make_settings, broken_bronze, gate)
    day = DateRange.single(dt.date(2013, 3, 9))
    with pytest.raises(
        GateFailed,
        match=r"would quarantine 4 of \d+ rows .* more than "
        r"tables.silver.flights.gate.max_quarantine_fraction \(0.10%\)",
    ):
        refine(Context.of(spark, settings, "run-1"), "silver.flights", day)


def test_duplicated_key_is_caught_by_the_uniqueness_expectation(spark, gated_settings):
    write_suite(
        gated_settings,
        "silver.test",
        [{"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["code", "a"]}}],
    )
    rows = [(1, "EWR", 1), (2, "EWR", 1), (3, "JFK", 1)]
    frame = frame_of(spark, rows, "id int, code string, a int").withColumn(RUN_DATE, F.lit(dt.date(2013, 1, 1)))
    suite = load_suite(gated_settings, "silver.test", frame.columns)
    flagged, report = run_gate(
        frame, Context.of(spark, gated_settings, "t"), "silver.test", suite, DateRange.single(dt.date(2013, 1, 1))
    )
    assert sorted(r["id"] for r in flagged.where(F.size(REASONS) > 0).collect()) == [1, 2]
    assert report.outcomes[0].unexpected_count == 2 and not report.outcomes[0].success


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", r"silver.weather.json is not valid JSON \(line 1, column 2"),
        (
            json.dumps({"expectations": [{"type": "expect_column_values_to_be_purple", "kwargs": {"column": "temp"}}]}),
            r"silver.weather.json: expectation 1 has type expect_column_values_to_be_purple, which is not a GX "
            r"expectation type\.",
        ),
        (
            json.dumps(
                {
                    "expectations": [
                        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "temp"}},
                        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "tmp"}},
                    ]
                }
            ),
            r"silver.weather.json: expectation 2 \(expect_column_values_to_not_be_null\(tmp\)\) names column tmp, "
            r"which silver.weather does not have\.",
        ),
        (
            json.dumps(
                {"expectations": [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "temp"}}]}
            ),
            r"expectation 1 \(expect_column_values_to_be_between\(temp\)\) has invalid arguments: .*min_value and "
            r"max_value cannot both be None",
        ),
    ],
    ids=["invalid-json", "unknown-type", "missing-column", "invalid-kwargs"],
)
def test_bad_suite_is_one_sentence_before_any_data_is_read(spark, settings, content, message):
    (settings.expectations_dir / "silver.weather.json").write_text(content)
    with pytest.raises(SuiteError, match=message):
        # nothing was ingested: the suite is checked before the missing bronze table is noticed
        refine(Context.of(spark, settings, "run-1"), "silver.weather", DateRange.single(dt.date(2013, 1, 1)))


def days_of_rows(spark, counts: dict[int, int]):
    rows = [(i, float(i), dt.date(2013, 1, day)) for day, n in counts.items() for i in range(n)]
    return frame_of(spark, rows, f"id int, x double, {RUN_DATE} date")


def test_collapsed_day_is_flagged_against_the_trailing_history(spark, make_settings):
    settings = make_settings({"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "quarantine"}}}})
    write_suite(settings, "silver.test", [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}])
    suite = load_suite(settings, "silver.test", ["id", "x", RUN_DATE])
    normal = {day: 100 + day % 3 for day in range(1, 11)}
    _, first = run_gate(
        days_of_rows(spark, normal),
        Context.of(spark, settings, "history"),
        "silver.test",
        suite,
        DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 10)),
    )
    assert first.anomalies == []
    record_committed(Context.of(spark, settings, "test"), first, 0)  # as the stage does once it committed the rows
    # the next day arrives with a tenth of its rows: flagged from the history in quality.results
    _, report = run_gate(
        days_of_rows(spark, {11: 10}),
        Context.of(spark, settings, "collapsed"),
        "silver.test",
        suite,
        DateRange.single(dt.date(2013, 1, 11)),
    )
    record_committed(Context.of(spark, settings, "test"), report, 1)
    [anomaly] = report.anomalies
    assert (anomaly.expectation, anomaly.run_date) == ("anomaly: row_count", dt.date(2013, 1, 11))
    assert anomaly.observed_value.startswith("10 against a trailing mean of 101")
    assert "1 anomalies (worst on 2013-01-11: anomaly: row_count = 10 against a trailing mean" in report.line()
    flagged = results(spark, settings).where(F.col("expectation_type") == "featurelake.anomaly").collect()
    assert [(r["run_id"], r["success"]) for r in flagged] == [("collapsed", False)]
    metrics = results(spark, settings).where(F.col("expectation_type") == "featurelake.daily_metric")
    assert metrics.where(F.col("expectation") == "null_fraction(x)").count() == 11
    # under the fail policy the same day stops the table
    settings = make_settings({"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "fail"}}}})
    with pytest.raises(GateFailed, match=r"anomaly: row_count on 2013-01-11 \(observed 10 against a trailing mean"):
        run_gate(
            days_of_rows(spark, {11: 10}),
            Context.of(spark, settings, "again"),
            "silver.test",
            suite,
            DateRange.single(dt.date(2013, 1, 11)),
        )


@pytest.mark.process
def test_data_docs_show_the_suites_and_a_failing_validation_in_a_browser(spark, settings, demo_landing, tmp_path):
    require_chromium("Data Docs")
    from featurelake.quality.docs import build_docs

    deliver_broken_day(settings, demo_landing)
    day = DateRange.single(dt.date(2013, 3, 9))
    ingest(Context.of(spark, settings, "run-1"), "flights", day)
    refine(Context.of(spark, settings, "run-1"), "silver.flights", day)
    index = build_docs(settings)
    assert index == f"file://{settings.lake_root}/quality/docs/index.html"
    visible = visible_text(dump_dom(index, tmp_path / "chromium"))
    assert "Expectation suites (2)" in visible and "bronze.flights" in visible and "silver.flights" in visible
    assert re.search(r"silver\.flights at [0-9-]+ [0-9:]+ UTC ?: FAILED", visible)
    assert re.search(r"bronze\.flights at [0-9-]+ [0-9:]+ UTC ?: FAILED", visible)
    validation_pages = sorted((Path(settings.lake_root) / "quality" / "docs" / "validations").rglob("*.html"))
    assert len(validation_pages) == 2
    silver = next(p for p in validation_pages if "silver" in p.parts)
    page = visible_text(dump_dom(silver.as_uri(), tmp_path / "chromium", *OFFLINE))
    assert "Status: Failed" in page or "Status:Failed" in page.replace(" ", "")
    assert "Data asset: silver.flights" in page and "Run Name run-1" in page  # the run id names the validation
    assert silver.stem == "silver.flights-2013-03-09-2013-03-09"  # the batch: the table and its run dates
    style = computed_style(silver, tmp_path)
    assert style["body"].startswith("-apple-system")  # Bootstrap's font stack, from the packaged CSS
    assert style["alert"] == "rgb(226, 227, 229)"  # Bootstrap's .alert-secondary on the page's header
    assert "Font Awesome 6 Free" in style["icon"] and style["icon_font_loaded"]  # the packaged webfont


# No network at all: every host resolves to nothing, as on a machine without internet access.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND",)
PROBE = """<script>
function report(fontLoaded) {
  const icon = document.querySelector('.fas, .fa');
  const out = document.createElement('pre');
  out.id = 'probe';
  out.textContent = JSON.stringify({
    body: getComputedStyle(document.body).fontFamily,
    alert: getComputedStyle(document.querySelector('.alert-secondary')).backgroundColor,
    icon: icon ? getComputedStyle(icon).fontFamily : '',
    icon_font_loaded: fontLoaded,
  });
  document.body.appendChild(out);
}
document.fonts.load('900 16px "Font Awesome 6 Free"').then(
  function (faces) { report(faces.length > 0 && faces.every(function (f) { return f.status === 'loaded'; })); },
  function () { report(false); });
</script>"""


def computed_style(page: Path, tmp_path: Path) -> dict:
    """Styles as Chromium computes them on the page, offline: a copy of it beside it (same relative links)
    that writes them into its own DOM once loaded."""
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    try:
        dom = dump_dom(probe.as_uri(), tmp_path / "chromium", *OFFLINE)
    finally:
        probe.unlink()
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


def visible_text(dom: str) -> str:
    """The text a reader sees: everything outside script and style elements."""
    from html.parser import HTMLParser

    class Text(HTMLParser):
        def __init__(self):
            super().__init__()
            self.hidden, self.parts = 0, []

        def handle_starttag(self, tag, attrs):
            self.hidden += tag in ("script", "style")

        def handle_endtag(self, tag):
            self.hidden -= tag in ("script", "style")

        def handle_data(self, data):
            if not self.hidden:
                self.parts.append(data)

    parser = Text()
    parser.feed(dom)
    return " ".join(" ".join(parser.parts).split())


def test_data_docs_render_only_what_was_stored_since_the_last_build(spark, gated_settings):
    """The first build renders every validation; a later one only the new validation's page (and the index),
    and a build with nothing new stored writes nothing: a command's cost does not grow with the history."""
    from featurelake.quality.docs import build_docs

    write_suite(gated_settings, "silver.test", EXPECTATIONS[:4])
    frame = frame_of(spark, ROWS, SCHEMA)
    docs = Path(gated_settings.lake_root) / "quality" / "docs"

    def gate(day: dt.date) -> None:
        dated = frame.withColumn(RUN_DATE, F.lit(day))
        suite = load_suite(gated_settings, "silver.test", dated.columns)
        run_gate(
            dated, Context.of(spark, gated_settings, f"run-{day.day}"), "silver.test", suite, DateRange.single(day)
        )

    gate(dt.date(2013, 1, 1))
    index = build_docs(gated_settings)
    assert index == (docs / "index.html").as_uri()
    [first] = sorted((docs / "validations").rglob("*.html"))
    written = {p: p.stat().st_mtime_ns for p in docs.rglob("*.html")}
    time.sleep(0.05)
    assert build_docs(gated_settings) == index  # nothing new: nothing written
    assert {p: p.stat().st_mtime_ns for p in docs.rglob("*.html")} == written
    gate(dt.date(2013, 1, 2))
    build_docs(gated_settings)
    pages = sorted((docs / "validations").rglob("*.html"))
    assert len(pages) == 2 and first in pages
    assert first.stat().st_mtime_ns == written[first]  # the earlier page was not rendered again
    overview = (docs / "index.html").read_text(encoding="utf-8")
    assert overview.count("silver.test at ") == 2 and "cdn.jsdelivr" not in overview


def test_quality_history_holds_committed_validations_only(spark, make_settings):
    """A validation is recorded with the version it judged once the rows are committed; an attempt killed after
    its gate records nothing, a failed gate records its outcomes as not committed, and the history anomaly
    checks learn from reads committed ones only: once per run, so the next run sees what another process
    committed meanwhile."""
    from featurelake.quality import anomalies

    settings = make_settings({"tables": {"silver.test": {"keys": ["id"], "gate": {"policy": "fail"}}}})
    write_suite(settings, "silver.test", [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}])
    suite = load_suite(settings, "silver.test", ["id", "x", RUN_DATE])
    days = DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 10))
    _, report = run_gate(
        days_of_rows(spark, {d: 100 for d in range(1, 11)}),
        Context.of(spark, settings, "ok"),
        "silver.test",
        suite,
        days,
    )
    record_committed(Context.of(spark, settings, "test"), report, 4)
    eleventh = DateRange.single(dt.date(2013, 1, 11))
    run_gate(
        days_of_rows(spark, {11: 100}), Context.of(spark, settings, "killed"), "silver.test", suite, eleventh
    )  # then killed
    broken = days_of_rows(spark, {11: 7}).withColumn("x", F.lit(None).cast("int"))
    with pytest.raises(GateFailed):
        run_gate(broken, Context.of(spark, settings, "failed"), "silver.test", suite, eleventh)
    rows = results(spark, settings).where(F.col("expectation") == "row_count").collect()
    recorded = {
        (r["run_id"], r["run_date_from"].day, r["committed"], r["table_version"], r["observed_value"]) for r in rows
    }
    assert {(run, c, v, value) for run, _, c, v, value in recorded} == {
        ("ok", True, 4, "100.0"),
        ("failed", False, None, "7.0"),
    }
    assert {day for run, day, *_ in recorded if run == "ok"} == set(range(1, 11))

    first_ten = {dt.date(2013, 1, d): 100.0 for d in range(1, 11)}
    reading = Context.of(spark, settings, "reading")  # a run reads the history once (its Context's cache) ...
    history = anomalies._history(reading, dt.date(2013, 1, 1), dt.date(2013, 1, 14))
    assert history[("silver.test", "row_count")] == first_ten
    other = Context.of(spark, settings, "other")  # another run, as another process would
    twelfth = DateRange.single(dt.date(2013, 1, 12))
    _, report = run_gate(days_of_rows(spark, {12: 90}), other, "silver.test", suite, twelfth)
    record_committed(other, report, 5)
    again = anomalies._history(reading, dt.date(2013, 1, 1), dt.date(2013, 1, 14))
    assert again[("silver.test", "row_count")] == first_ten  # ... and keeps it while it runs
    # the next run, in this process too, reads what the other one committed
    history = anomalies._history(Context.of(spark, settings, "next"), dt.date(2013, 1, 1), dt.date(2013, 1, 14))
    assert history[("silver.test", "row_count")] == {**first_ten, dt.date(2013, 1, 12): 90.0}
