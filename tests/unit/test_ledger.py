"""The ledger's fingerprints of what a step read, and how two of them differ in words."""

from featurelake.lake.ledger import changes, fingerprint


def test_a_fingerprint_lists_each_input_once_in_name_order_and_two_differ_in_words():
    recorded = fingerprint({"b.csv": "10 bytes, 1", "a.csv": "5 bytes, 1", "gone.csv": "1 bytes, 1"})
    assert recorded == '{"a.csv":"5 bytes, 1","b.csv":"10 bytes, 1","gone.csv":"1 bytes, 1"}'
    current = fingerprint({"a.csv": "5 bytes, 1", "b.csv": "12 bytes, 2", "new.csv": "3 bytes, 2"})
    assert changes(recorded, current) == "b.csv replaced, new.csv added, gone.csv removed"
    assert changes(recorded, recorded) == ""


def test_another_runs_commit_skips_this_step_only_when_it_covers_all_its_run_dates():
    import datetime as dt

    from featurelake.core.dates import DateRange
    from featurelake.lake.commits import StepContext

    ours = StepContext("refine:silver.flights", DateRange(dt.date(2013, 1, 1), dt.date(2013, 1, 10)), "run-a")

    def commit(start: str, end: str, run_id: str = "run-b", step: str = "refine:silver.flights") -> str:
        return StepContext(step, DateRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end)), run_id).metadata()

    assert ours.covered_by(commit("2012-12-25", "2013-01-31")) == "run-b"  # all of ours: nothing left to do
    assert ours.covered_by(commit("2013-01-05", "2013-01-31")) is None  # 1-4 January are still ours to write
    assert ours.covered_by(commit("2013-01-01", "2013-01-10", run_id="run-a")) is None  # our own commit
    assert ours.covered_by(commit("2013-01-01", "2013-01-10", step="ingest:flights")) is None
