"""The runner's calendar arithmetic (batches, spans of due dates across declared gaps) and its exit code."""

import datetime as dt

from featurelake.core.dates import DateRange
from featurelake.core.errors import EXIT_OK, EXIT_RETRAIN_RECOMMENDED
from featurelake.core.schedule import batches, contiguous
from featurelake.core.summary import StageSummary
from featurelake.lake.stage import CommandResult, Context


def day(n: int) -> dt.date:
    return dt.date(2013, 1, 1) + dt.timedelta(days=n - 1)


def test_due_dates_run_as_the_fewest_spans_and_a_span_runs_on_across_declared_gaps():
    assert contiguous([day(1), day(2), day(4)]) == [DateRange(day(1), day(2)), DateRange.single(day(4))]
    gaps = frozenset({day(3), day(5)})
    assert contiguous([day(1), day(2), day(4), day(6), day(9)], gaps=gaps) == [
        DateRange(day(1), day(6)),
        DateRange.single(day(9)),
    ]
    assert contiguous([]) == []


def test_a_range_is_cut_into_batches_of_the_configured_size():
    assert list(batches(DateRange(day(1), day(7)), 3)) == [
        DateRange(day(1), day(3)),
        DateRange(day(4), day(6)),
        DateRange.single(day(7)),
    ]
    assert list(batches(DateRange(day(1), day(7)), 3660)) == [DateRange(day(1), day(7))]


def test_a_snapshot_history_runs_as_one_job_and_is_recorded_per_delivery(settings):
    """The ingest and refine steps of a snapshot source are one job over all its deliveries in a batch."""
    from featurelake.ops.runner import _spans, plan

    steps = {s.key: s for s in plan(Context.of(None, settings, ""))}
    planes, flights = steps["refine:silver.planes"], steps["refine:silver.flights"]
    assert (steps["ingest:planes"].jobs, planes.jobs, flights.jobs) == ("one_job", "one_job", "per_stretch")
    deliveries = [day(1), day(32), day(60)]
    assert _spans(planes, deliveries) == [DateRange(day(1), day(60))]
    assert _spans(flights, [day(1), day(2), day(4)]) == [DateRange(day(1), day(2)), DateRange.single(day(4))]


def test_run_exits_3_on_a_retrain_verdict_only_when_asked_to():
    """`featurelake run` prints every verdict and exits 0; --fail-on-retrain makes a verdict that asks for action
    exit 3, as `featurelake monitor` does (tests/integration/test_monitoring.py runs it on a real verdict)."""

    def monitored(alarm: bool) -> StageSummary:
        return StageSummary("monitor", "monitoring.m", "2013-01-18", 10, 10, verdict="v", alarm=alarm)

    ingested = StageSummary("ingest", "bronze.flights", "2013-01-18", 10, 10)
    assert CommandResult.of_run([ingested, monitored(True)], fail_on_retrain=False).exit_code == EXIT_OK
    assert CommandResult.of_run([ingested, monitored(True)], fail_on_retrain=True).exit_code == EXIT_RETRAIN_RECOMMENDED
    assert CommandResult.of_run([ingested, monitored(False)], fail_on_retrain=True).exit_code == EXIT_OK
    assert CommandResult.of_run([], fail_on_retrain=True).exit_code == EXIT_OK


def test_steps_of_a_stage_run_in_waves_and_a_group_reading_another_group_waits_for_it(settings):
    """With pipeline.parallelism > 1 the independent steps of one stage form one wave; a step reading a table a
    step of the current wave writes starts the next; with 1, every step is its own wave (today's order)."""
    from dataclasses import replace

    from featurelake.ops.runner import plan, waves

    steps = plan(Context.of(None, settings, ""))
    one_at_a_time = waves(steps, 1)
    assert [len(w) for w in one_at_a_time] == [1] * len(steps)
    assert [w[0] for w in one_at_a_time] == steps
    by_stage = waves(steps, 2)
    assert [[s.key for s in w] for w in by_stage][:3] == [
        [f"ingest:{source}" for source in settings.sources],
        [f"refine:{table}" for table in settings.refined_tables()],
        [f"features:{group}" for group in settings.feature_groups],
    ]
    # a second-order group: reads the first group's table, so the wave is cut before it
    features = [s for s in steps if s.stage == "features"]
    derived = replace(features[0], target="derived", output="features.derived", reads_tables={features[1].output})
    cut = waves([*features[:2], derived, *features[2:]], 2)
    assert [[s.target for s in w] for w in cut] == [
        [features[0].target, features[1].target],
        ["derived", *[s.target for s in features[2:]]],
    ]


def test_a_wave_runs_its_steps_at_once_on_the_command_s_spark_properties_and_the_first_failure_is_raised(spark):
    """at_once: the items run side by side (they meet at a barrier no single thread could pass), each sees the
    Spark local properties of the thread that started them, the results come back in the items' order; when one
    fails, its error is raised and the items not started yet never run."""
    import threading
    import time

    import pytest

    from featurelake.ops.runner import Work, at_once

    meet = threading.Barrier(2, timeout=30)
    spark.sparkContext.setLocalProperty("featurelake.test", "the command's")
    seen: dict[str, str] = {}

    def side_by_side(item: Work) -> str:
        meet.wait()
        seen[item.step] = spark.sparkContext.getLocalProperty("featurelake.test")
        return f"{item.step} done"

    work = [Work(name, DateRange.single(day(1)), [day(1)], {}) for name in ("a", "b")]
    assert at_once(spark, work, 2, side_by_side) == [(work[0], "a done"), (work[1], "b done")]
    assert seen == {"a": "the command's", "b": "the command's"}

    started: list[str] = []

    def failing(item: Work) -> str:
        started.append(item.step)
        if item.step == "a":
            raise ValueError("a broke")
        time.sleep(0.3)  # the others take a while: the failure is seen before the last ones could start
        return f"{item.step} done"

    many = [Work(name, DateRange.single(day(1)), [day(1)], {}) for name in ("a", "b", "c", "d", "e")]
    with pytest.raises(ValueError, match="a broke"):
        at_once(spark, many, 1, failing)
    assert started == ["a"]
    started.clear()
    with pytest.raises(ValueError, match="a broke"):
        at_once(spark, many, 2, failing)
    assert "a" in started and "e" not in started, started
    spark.sparkContext.setLocalProperty("featurelake.test", None)


def test_a_corrected_delivery_re_runs_what_reads_its_source_and_nothing_else(settings):
    """A weather day delivered again and re-ingested makes due again exactly what reads it, step after step:
    silver.weather of that day, the weather features of the days whose look-back holds it, then the training set
    whose window holds them; the flights, planes and calendar steps stay finished."""
    from featurelake.lake.ledger import Finished
    from featurelake.ops.runner import is_due, plan

    steps = plan(Context.of(None, settings, ""))
    by_key = {s.key: s for s in steps}
    days = [day(n) for n in range(1, 41)]
    first_run = dt.datetime(2013, 3, 1)
    finished = {(s.stage, s.target, d): Finished("first", first_run) for s in steps for d in days}
    window_end = by_key["training_set:flight_delay"].reads(days[0]).end
    finished[("training_set", "flight_delay", window_end)] = Finished("first", first_run)
    corrected = day(10)

    def due(key: str) -> list[dt.date]:
        dates = [window_end] if key.startswith("training_set:") else days
        return [d for d in dates if is_due(by_key[key], d, steps, finished)]

    def finish_again(stage: str, target: str, *dates: dt.date) -> None:
        later = max(f.finished_at for f in finished.values()) + dt.timedelta(minutes=1)
        finished.update({(stage, target, d): Finished("second", later) for d in dates})

    finish_again("ingest", "weather", corrected)
    assert due("refine:silver.weather") == [corrected]
    for untouched in (
        "refine:silver.flights",
        "refine:silver.planes",
        "features:origin_weather",
        "training_set:flight_delay",
    ):
        assert due(untouched) == [], untouched

    finish_again("refine", "silver.weather", corrected)
    lookback = by_key["features:origin_weather"].reads
    assert due("features:origin_weather") == [d for d in days if lookback(d).start <= corrected <= d]
    assert corrected in due("features:origin_weather") and day(9) not in due("features:origin_weather")
    for untouched in (
        "features:carrier_performance",
        "features:route_performance",
        "features:calendar",
        "features:aircraft",
    ):
        assert due(untouched) == [], untouched
    assert due("training_set:flight_delay") == []

    recomputed = due("features:origin_weather")
    finish_again("features", "origin_weather", *recomputed)
    assert due("training_set:flight_delay") == [window_end]
    assert due("score:flight_delay") == recomputed  # predictions of those days read the recomputed features
    assert due("refine:silver.flights") == [] and due("features:carrier_performance") == []


def test_a_training_set_whose_label_looks_ahead_is_built_again_when_its_labels_land_and_the_model_retrained(
    make_settings,
):
    """Built on its window's end with the labels landed by then, and again on the run date its last events'
    labels land (the horizon after the end): a run month by month brings the late labels in. A batch that holds
    both dates builds and trains once; a label of the same day (the demo's) is built once on the window's end."""
    from featurelake.core.schedule import training_window
    from featurelake.ops.runner import _spans, plan

    def steps_of(settings) -> dict:
        return {s.key: s for s in plan(Context.of(None, settings, ""))}

    same_day = make_settings()
    end = training_window(same_day, "flight_delay").end
    for key in ("training_set:flight_delay", "train:flight_delay"):
        assert steps_of(same_day)[key].due(DateRange(day(1), dt.date(2013, 12, 31)), None) == [end]

    next_day = make_settings({"training_sets": {"flight_delay": {"label": {"horizon": "1 day"}}}})
    landed = end + dt.timedelta(days=1)
    for key in ("training_set:flight_delay", "train:flight_delay"):
        step = steps_of(next_day)[key]
        assert step.due(DateRange(day(1), dt.date(2013, 12, 31)), None) == [end, landed]
        assert step.due(DateRange(day(1), end), None) == [end]  # run up to the window's end
        assert step.due(DateRange.single(landed), None) == [landed]  # the next run date: built again
        assert _spans(step, [end, landed]) == [DateRange(end, landed)]  # one build when a batch holds both
    assert steps_of(next_day)["training_set:flight_delay"].reads(landed) == DateRange(
        training_window(next_day, "flight_delay").start, landed
    )
