"""The pytest plugin every project gets by installing featurelake (entry point ``pytest11: featurelake``).

Fixtures (a project's conftest.py may override any of them):

- ``spark``: one SparkSession for the whole test session, local[2] with Delta, UTC and ANSI, one shuffle
  partition (``TEST_SHUFFLE_PARTITIONS``, also what ``make_settings`` gives a project's conf), expressions
  interpreted rather than compiled (``TEST_SESSION_SETTINGS``); built from the project's conf so it
  resolves Delta the way the project does;
- ``make_settings(overrides=None)``: the project's conf/, expectations and features package copied under the
  test's temporary directory, with a fresh lake there; ``overrides`` is merged over conf like an environment;
- ``settings``: ``make_settings()``;
- ``deliver(source, day, text, name=None)``: a file in that lake's landing zone, as a source system delivers it.

The project is the pytest root directory (where pytest.ini or pyproject.toml is), or the ini option
``featurelake_project``.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
import yaml

IGNORED = shutil.ignore_patterns("__pycache__")

# Tests run many small queries, each planned once: compiling each plan to Java (whole-stage code generation,
# Janino) costs more than interpreting it over a few hundred rows. Interpreted, featurelake's own suite ran
# about a fifth faster (tests/integration refine, scoring, training-set and gate files: 227-241 s against
# 301-303 s, either order). Results are the same: Spark's own suites run every query both ways.
# One shuffle partition: a test's few hundred rows gain nothing from splitting a shuffle, and each partition is a
# task to schedule, serialize and run (five days of the demo through every stage, warm, two steps at a time: 31.0
# and 33.8 s with one, 33.6 and 35.1 s with two, 35.9 and 44.2 s with four, alternating).
TEST_SHUFFLE_PARTITIONS = 1
TEST_SESSION_SETTINGS = {
    "spark.sql.shuffle.partitions": str(TEST_SHUFFLE_PARTITIONS),
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def pytest_addoption(parser) -> None:
    parser.addini("featurelake_project", "the featurelake project directory (holding conf/); default the rootdir")
    parser.addini(
        "featurelake_spark_packages",
        "Maven coordinates the test session resolves beside conf's spark.packages (an object store's connector)",
        type="linelist",
        default=[],
    )


def project_dir(config) -> Path:
    configured = config.getini("featurelake_project")
    return (config.rootpath / configured).resolve() if configured else config.rootpath


@pytest.fixture(scope="session")
def spark(pytestconfig):
    from featurelake.core.config import load_settings
    from featurelake.core.spark import build_session

    settings = load_settings("local", project_dir(pytestconfig) / "conf")
    settings.spark.packages.extend(
        p for p in pytestconfig.getini("featurelake_spark_packages") if p not in settings.spark.packages
    )
    session = build_session(settings)
    for key, value in TEST_SESSION_SETTINGS.items():
        session.conf.set(key, value)
    yield session
    session.stop()


def copy_project(source: Path, target: Path) -> Path:
    """The project's conf/, its expectations and its features package (where its conf says they are) under
    ``target``; returns the copied conf/."""
    from featurelake.core.config import project_directories

    directories = [source / "conf", *project_directories(source / "conf").values()]
    for directory in directories:
        copied = target / directory.relative_to(source)
        if directory.is_dir() and not copied.exists():
            shutil.copytree(directory, copied, ignore=IGNORED)
    return target / "conf"


def write_test_conf(conf: Path, overrides: dict | None = None) -> None:
    """A test's files in a copied project's conf/local, read after the project's own: the test session's shuffle
    width (a command run on that conf sizes its shuffles as the session does), then ``overrides`` over it."""
    session = {"spark": {"shuffle_partitions": TEST_SHUFFLE_PARTITIONS}}
    (conf / "local" / "zy_test_session.yaml").write_text(yaml.safe_dump(session))
    (conf / "local" / "zz_test.yaml").write_text(yaml.safe_dump(overrides or {}, sort_keys=False))


@pytest.fixture
def make_settings(tmp_path, monkeypatch, pytestconfig):
    """Settings for a fresh lake under tmp_path; ``overrides`` is merged over conf/ like an environment (over
    the test session's shuffle width: a command run on that conf sizes its shuffles as the session does)."""
    from featurelake.core.config import load_settings

    def factory(overrides: dict | None = None):
        conf = copy_project(project_dir(pytestconfig), tmp_path)
        write_test_conf(conf, overrides)
        monkeypatch.setenv("FEATURELAKE_LAKE_ROOT", str(tmp_path / "lake"))
        return load_settings("local", conf)

    return factory


@pytest.fixture
def settings(make_settings):
    return make_settings()


@pytest.fixture
def deliver(settings):
    """``deliver(source, day, text, name=None)``: one hand-made file in the test lake's landing zone, as a source
    system would deliver it (featurelake.testing.deliver bound to ``settings``)."""
    from featurelake import testing

    return functools.partial(testing.deliver, settings)
