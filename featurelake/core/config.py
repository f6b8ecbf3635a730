"""The pipeline declared as data: conf/base/*.yaml, overridden per environment by conf/<env>/*.yaml.

Every key is validated here, before Spark starts, so a wrong configuration is one sentence that names the
file and the key. Values may name environment variables as ``${VAR}`` or ``${VAR:default}``; their values
are never echoed in messages, since they may be secrets.
"""

from __future__ import annotations

import copy
import difflib
import functools
import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from featurelake.core.columns import RUN_DATE
from featurelake.core.conf.data import SILENT_LOSS_SETTINGS
from featurelake.core.conf.ml import FeaturesConf
from featurelake.core.conf.project import ProjectConf
from featurelake.core.conf.tables import QualityConf
from featurelake.core.errors import ConfigError
from featurelake.core.project_code import bind_feature_groups
from featurelake.core.settings import Settings, feature_table_name

ENV_VARIABLE = "FEATURELAKE_ENV"
CONF_DIR_VARIABLE = "FEATURELAKE_CONF_DIR"
DEFAULT_ENV = "local"


# ---------------------------------------------------------------------------------------------- loading

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def load_settings(env: str | None = None, conf_dir: str | Path | None = None) -> Settings:
    """Load conf/base and conf/<env>, interpolate environment variables and validate the result."""
    env, conf_path, merged, origins, files = _read_conf(env, conf_dir)
    try:
        project = ProjectConf.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, origins, conf_path)) from None
    project, groups = bind_feature_groups(project, conf_path.parent, lambda loc: _origin(origins, loc))
    _check_references(project, groups, origins, conf_path)
    _refuse_silent_loss(project, origins)
    _check_feature_groups(project, groups, conf_path.parent)
    _check_pinned(project, groups, origins)
    return Settings(project, env, conf_path, files, groups)


def project_directories(conf_dir: str | Path, env: str | None = None) -> dict[str, Path]:
    """The directories of a project besides conf/, as its conf names them (unvalidated: for copying a project):
    its features package and its expectations."""
    _, conf_path, merged, _, _ = _read_conf(env, conf_dir)
    package = (merged.get("features") or {}).get("package", FeaturesConf.model_fields["package"].default)
    default_suites = QualityConf.model_fields["expectations_dir"].default
    expectations = (merged.get("quality") or {}).get("expectations_dir", default_suites)
    return {"features": conf_path.parent / str(package), "expectations": conf_path.parent / str(expectations)}


def _read_conf(env: str | None, conf_dir: str | Path | None) -> tuple[str, Path, dict, dict, list[Path]]:
    """The environment, the conf directory, conf/base merged with conf/<env> (variables interpolated), where each
    key came from, and the files read."""
    env = env or os.environ.get(ENV_VARIABLE) or DEFAULT_ENV
    conf_path = Path(conf_dir or os.environ.get(CONF_DIR_VARIABLE) or "conf").resolve()
    base_dir = conf_path / "base"
    if not base_dir.is_dir():
        raise ConfigError(
            f"No configuration at {base_dir}; run from the project directory or pass --conf-dir "
            f"(or set {CONF_DIR_VARIABLE})."
        )
    env_dir = conf_path / env
    if not env_dir.is_dir():
        known = sorted(p.name for p in conf_path.iterdir() if p.is_dir() and p.name != "base")
        raise ConfigError(f"Unknown environment {env}: there is no {env_dir}; known environments: {', '.join(known)}.")

    merged: dict[str, Any] = {}
    origins: dict[tuple, Path] = {}
    files = sorted(base_dir.glob("*.yaml")) + sorted(env_dir.glob("*.yaml"))
    for file in files:
        document = _read_yaml(file)
        _merge(merged, document, origins, file, (), override=file.parent == env_dir)
    return env, conf_path, _interpolate(merged, origins, ()), origins, files


def _read_yaml(file: Path) -> dict[str, Any]:
    try:
        document = copy.deepcopy(_parsed(file.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{file} is not valid YAML{where}: {getattr(exc, 'problem', exc)}.") from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{file} must hold a mapping of keys at its top level.")
    return document


@functools.lru_cache(maxsize=256)
def _parsed(text: str) -> Any:
    """A YAML document parsed once per content: a process that loads conf many times (the test suite, a notebook)
    parses each file's text once; callers get a deep copy, since merging changes what it is given."""
    return yaml.safe_load(text)


def _merge(target: dict, document: dict, origins: dict, file: Path, path: tuple, override: bool) -> None:
    for key, value in document.items():
        here = (*path, key)
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            origins.setdefault(here, file)
            _merge(target[key], value, origins, file, here, override)
            continue
        if key in target and not override:
            raise ConfigError(
                f"{file} sets {'.'.join(map(str, here))}, which {origins[here]} already sets; "
                "declare each key once in conf/base (override it in conf/<env>)."
            )
        target[key] = value
        for old in [p for p in origins if p[: len(here)] == here]:
            del origins[old]
        _record_origins(value, origins, file, here)


def _record_origins(value: Any, origins: dict, file: Path, path: tuple) -> None:
    origins[path] = file
    if isinstance(value, dict):
        for key, inner in value.items():
            _record_origins(inner, origins, file, (*path, key))


def _interpolate(value: Any, origins: dict, path: tuple) -> Any:
    if isinstance(value, dict):
        return {k: _interpolate(v, origins, (*path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, origins, (*path, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        raise ConfigError(
            f"{_origin(origins, path)}: {'.'.join(map(str, path))} needs the environment variable {name}, "
            f"which is not set; set it or give a default as ${{{name}:value}}."
        )

    return _VARIABLE.sub(substitute, value)


def _origin(origins: dict, loc: tuple) -> Path | str:
    for end in range(len(loc), 0, -1):
        if loc[:end] in origins:
            return origins[loc[:end]]
    return "conf/base"


def _describe(exc: ValidationError, origins: dict, conf_path: Path) -> str:
    """Every problem pydantic found, each naming its file and key: one sentence for one, a list for several."""
    problems = [_problem(error, origins, conf_path) for error in exc.errors(include_url=False, include_input=False)]
    if len(problems) == 1:
        return f"{problems[0]}."
    return f"The configuration has {len(problems)} problems: " + "; ".join(problems) + "."


def _problem(error: dict, origins: dict, conf_path: Path) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc)
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "is not a known key; check its spelling against README.md"
    elif error["type"] == "missing":
        message = "is required but missing"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    origin = _origin(origins, loc)
    if origin == "conf/base" and loc:
        origin = conf_path / "base" / f"{loc[0]}.yaml"
    return f"{origin}: {key} {message}"


def _refuse_silent_loss(project: ProjectConf, origins: dict) -> None:
    """Spark settings that would lose rows or versions without a word are refused, naming the file that sets them."""
    for key, value in project.spark.settings.items():
        refused, why = SILENT_LOSS_SETTINGS.get(key.lower(), (None, ""))
        if refused is not None and value.strip().lower() == refused:
            raise ConfigError(
                f"{_origin(origins, ('spark', 'settings', key))}: spark.settings {key}: {value} {why}; remove it "
                "(a damaged table is reported, and restorable)."
            )


def _check_references(project: ProjectConf, groups: dict[str, Any], origins: dict, conf_path: Path) -> None:
    """Every table named anywhere must be declared in tables (a training set's events may also come from a feature
    group's table, implied by the group); every column a table uses must exist."""

    def missing(loc: tuple, table: str) -> ConfigError:
        return ConfigError(
            f"{_origin(origins, loc)}: {'.'.join(map(str, loc))} names table {table}, which is not declared "
            f"under tables; declare it in {conf_path}/base/tables.yaml."
        )

    columns_of: dict[str, set[str]] = {}
    arriving = set()  # bronze tables of sources whose folders are arrival days
    for name, source in project.sources.items():
        if source.table not in project.tables:
            raise missing(("sources", name, "table"), source.table)
        columns_of[source.table] = set(source.columns) | set(source.allow_evolution.new)
        if source.folders == "arrival":
            arriving.add(source.table)
    for name, table in project.tables.items():
        if table.refine is None:
            continue
        if table.refine.source not in project.tables:
            raise missing(("tables", name, "refine", "source"), table.refine.source)
        available = set(columns_of.get(table.refine.source, set()))
        for i, derivation in enumerate(table.refine.derive):
            for column in derivation.inputs():
                if available and column not in available:
                    raise ConfigError(
                        f"{_origin(origins, ('tables', name))}: tables.{name}.refine.derive[{i}] reads column "
                        f"{column}, which {table.refine.source} does not have."
                    )
            if derivation.arrival_time is not None and table.refine.source not in arriving:
                raise ConfigError(
                    f"{_origin(origins, ('tables', name))}: tables.{name}.refine.derive[{i}] is an arrival_time, "
                    f"but the folders of {table.refine.source}'s source name periods, not arrival days; set the "
                    "source's folders: arrival, or derive the time from the rows' dates (period_time)."
                )
            available.add(derivation.name)
        for key in table.keys:
            if available and key not in available:
                raise ConfigError(
                    f"{_origin(origins, ('tables', name))}: tables.{name}.keys names column {key}, "
                    f"which {name} does not have."
                )
        if not table.keys:
            raise ConfigError(
                f"{_origin(origins, ('tables', name))}: tables.{name} is refined but declares no keys; "
                "list the columns that identify a row under keys."
            )

    if project.pipeline.ledger not in project.tables:
        raise missing(("pipeline", "ledger"), project.pipeline.ledger)
    for name, training_set in project.training_sets.items():
        loc = ("training_sets", name)
        if training_set.table not in project.tables:
            raise missing(loc, training_set.table)
        feature_tables = {feature_table_name(group) for group in groups}
        events = training_set.events.table
        if events not in set(project.tables) | feature_tables:
            raise ConfigError(
                f"{_origin(origins, loc)}: training_sets.{name}.events.table names table {events}, which is neither "
                f"declared under tables in {conf_path}/base/tables.yaml nor the table of an enabled feature group "
                f"({', '.join(sorted(feature_tables)) or 'none'})."
            )
        _check_event_time(project, name, _origin(origins, loc))
    for name, model in project.models.items():
        if model.training_set not in project.training_sets:
            raise ConfigError(
                f"{_origin(origins, ('models', name))}: models.{name}.training_set names {model.training_set}, "
                f"which is not under training_sets; declare it in {conf_path}/base/training_sets.yaml."
            )
        splits = project.training_sets[model.training_set].splits
        chosen = {key: getattr(model, key) for key in ("train_split", "validation_split", "test_split")}
        chosen["monitoring.reference_split"] = model.monitoring.reference_split
        for key, split in chosen.items():
            if split not in splits:
                raise ConfigError(
                    f"{_origin(origins, ('models', name))}: models.{name}.{key} is {split}, which is "
                    f"not a split of training set {model.training_set} ({', '.join(splits)})."
                )
        unknown = [f for f in model.monitoring.report_only if f not in model.features.all]
        if unknown:
            raise ConfigError(
                f"{_origin(origins, ('models', name))}: models.{name}.monitoring.report_only names {unknown[0]}, "
                f"which is not a feature of the model; list features from models.{name}.features."
            )


def _column_types(project: ProjectConf, table: str) -> dict[str, str] | None:
    """The Spark type of every column conf declares for a table (a source's columns, refined columns and their
    derivations), or None when conf does not say (a table written by the engine or a feature group)."""
    for source in project.sources.values():
        if source.table == table:
            return {**source.columns, **dict.fromkeys(source.allow_evolution.new, "string")}
    conf = project.tables.get(table)
    if conf is None or conf.refine is None:
        return None
    upstream = _column_types(project, conf.refine.source)
    return None if upstream is None else {**upstream, **{d.name: "timestamp" for d in conf.refine.derive}}


def _check_event_time(project: ProjectConf, name: str, origin) -> None:
    """A training set predicts at event_time + offset: the event time must be a TIMESTAMP column of its events."""
    events = project.training_sets[name].events
    types = _column_types(project, events.table)
    if types is None:
        return
    key = f"training_sets.{name}.events.event_time"
    found = "date" if events.event_time == RUN_DATE else types.get(events.event_time)
    if found is None:
        raise ConfigError(f"{origin}: {key} names {events.event_time}, which {events.table} does not have.")
    if found != "timestamp":
        raise ConfigError(
            f"{origin}: {key} names {events.event_time}, which is {found} in {events.table}; it must be a timestamp "
            f"to predict at. Derive one in tables.{events.table}.refine.derive and name that: period_time from a "
            "DATE or from (year, month[, day]) or (year, week) in a time zone, at the period's start or end or an "
            "offset (a report known on the 15th of the next month), local_clock from date parts, an HHMM "
            "column and a time zone, or local_time from a date-time without offset and its time zone."
        )


def _check_pinned(project: ProjectConf, groups: dict[str, Any], origins: dict) -> None:
    """Every table vacuum.pinned names is a table of the project (declared, or a feature group's)."""
    known = set(project.tables) | {feature_table_name(name) for name in groups}
    for table in project.vacuum.pinned:
        if table not in known:
            closest = difflib.get_close_matches(table, sorted(known), n=1)
            hint = f" (did you mean {closest[0]}?)" if closest else ""
            raise ConfigError(
                f"{_origin(origins, ('vacuum', 'pinned', table))}: vacuum.pinned names table {table}, which the "
                f"project does not have{hint}; name a table of tables.yaml or a feature group's features.<group>."
            )


def _check_feature_groups(project: ProjectConf, groups: dict[str, Any], project_dir: Path) -> None:
    """Every input of an enabled feature group is a table of source data (one a source writes, or refined from
    one) or another group's feature table, and no group writes a table conf gives to another writer: a mistyped
    input would otherwise leave the group waiting for data that never comes, on every run."""
    writers = {source.table: f"sources.{name}.table" for name, source in project.sources.items()}
    refined = {name: table.refine.source for name, table in project.tables.items() if table.refine is not None}
    writers.update({name: f"tables.{name}.refine" for name in refined})
    writers.update({ts.table: f"training_sets.{name}.table" for name, ts in project.training_sets.items()})
    writers[project.pipeline.ledger] = "pipeline.ledger"
    writers[project.quality.results_table] = "quality.results_table"
    feature_tables = {feature_table_name(name): name for name in groups}
    source_data = {source.table for source in project.sources.values()}
    while any(t not in source_data and s in source_data for t, s in refined.items()):
        source_data |= {t for t, s in refined.items() if s in source_data}
    known = sorted(set(project.tables) | set(feature_tables))
    for name, group in groups.items():
        where = f"{project_dir / (group.module.replace('.', '/') + '.py')}: feature group {name}"
        own = feature_table_name(name)
        if own in writers:
            raise ConfigError(
                f"{where} writes {own}, which {writers[own]} writes too; rename the group (name= in @feature_group) "
                "or that table."
            )
        for parameter, table in group.inputs.items():
            binds = f"{where} binds parameter {parameter} to {table}"
            if table == own:
                raise ConfigError(f"{binds}, its own table; a group reads source data or other groups' tables.")
            if table in source_data or table in feature_tables:
                continue
            if table not in known:
                close = difflib.get_close_matches(table, known, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known tables: {', '.join(known)}."
                raise ConfigError(
                    f"{binds}, which is no table of {project_dir / 'conf'}/base/tables.yaml nor of an enabled "
                    f"feature group; {hint}"
                )
            by = f" ({writers[table]} writes it)" if table in writers else ""
            raise ConfigError(
                f"{binds}, which holds no source data{by}; a group reads a table a source writes or one refined "
                f"from it ({', '.join(sorted(source_data))}), or another group's feature table."
            )
