"""The project's own code that conf refers to: the feature groups and labels of its features package
(``features.package``, default ``features``: the directory of that name beside conf/).

Feature groups are discovered: every module of the package is imported and every object it defines that
declares itself a feature group (``featurelake.featurestore.api.FeatureGroup``) is found, by its name; no other
package is searched, so two projects of one repository, each with its own package, never see each other's groups.
Conf only overrides: ``features.groups.<name>.enabled: false`` switches a group off, ``definition:
<package>.module:attribute`` names one explicitly. Then what conf says of groups is checked against them:
the groups a training set joins, and the ``<group>.*`` a model selects its features by, expanded here to
the group's features of the right kind, so everything downstream sees plain column names.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from typing import Any

from featurelake.core.conf.ml import ModelFeaturesConf
from featurelake.core.conf.project import ProjectConf
from featurelake.core.errors import ConfigError

NUMERIC_TYPES = {"int", "bigint", "double"}
GROUP_SELECTION = ".*"


def import_definition(project_dir: Path, package: str, reference: str, key: str) -> Any:
    """The object a ``<package>.module:attribute`` reference in conf names, in the project's own package only."""
    module_name, attribute = reference.split(":")
    if module_name.split(".")[0] != package:
        raise ConfigError(
            f"{key} names {reference}, which is outside the project's features package {package} "
            f"({project_dir / package}); name a module:attribute of it, e.g. {package}.labels:{attribute}."
        )
    _on_path(project_dir, package)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"{key} names {reference}, but module {exc.name} cannot be found under {project_dir}."
        ) from None
    if not hasattr(module, attribute):
        raise ConfigError(f"{key} names {reference}, but {module_name} has no {attribute}.")
    return getattr(module, attribute)


def is_feature_group(value: Any) -> bool:
    return getattr(type(value), "featurelake_feature_group", False) is True


def discover_feature_groups(project_dir: Path, package: str = "features") -> dict[str, Any]:
    """Every feature group defined in the project's features package, by name, in module order. The package is
    the project directory's ``<package>/``, or the one on the path (a cluster ships it in --py-files)."""
    _on_path(project_dir, package)
    try:
        imported = importlib.import_module(package)
    except ModuleNotFoundError as exc:
        if exc.name != package:
            raise
        return {}
    found: dict[str, Any] = {}
    for module_info in sorted(pkgutil.iter_modules(getattr(imported, "__path__", [])), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{module_info.name}")
        for value in vars(module).values():
            if not is_feature_group(value) or value.module != module.__name__:
                continue  # imported from another module: found there
            if value.name in found:
                raise ConfigError(
                    f"Feature groups of {found[value.name].module} and {value.module} are both named {value.name}; "
                    "give one another name (name= in @feature_group)."
                )
            found[value.name] = value
    return found


def bind_feature_groups(project: ProjectConf, project_dir: Path, where) -> tuple[ProjectConf, dict[str, Any]]:
    """The project's feature groups (discovered, then conf's overrides), and the conf with every model's
    ``<group>.*`` selections expanded. ``where(loc)`` names the conf file a key came from."""
    package = project.features.package
    groups = discover_feature_groups(project_dir, package)
    for name, override in project.features.groups.items():
        key = f"features.groups.{name}"
        if override.definition:
            group = import_definition(project_dir, package, override.definition, f"{key}.definition")
            if not is_feature_group(group):
                raise ConfigError(f"{key}.definition names {override.definition}, which is not a @feature_group.")
            groups[name] = group
        elif name not in groups:
            raise ConfigError(
                f"{where(('features', 'groups', name))}: {key} names no feature group of {project_dir / package}; "
                f"known groups: {', '.join(sorted(groups)) or 'none'}."
            )
        if not override.enabled:
            groups.pop(name)
    for name, training_set in project.training_sets.items():
        for group in training_set.feature_groups:
            if group not in groups:
                raise ConfigError(
                    f"{where(('training_sets', name))}: training_sets.{name}.feature_groups names {group}, which is "
                    f"no enabled feature group of the features package {package}; "
                    f"known: {', '.join(sorted(groups)) or 'none'}."
                )
    models = {
        name: model.model_copy(update={"features": _expanded(name, model.features, groups, where)})
        for name, model in project.models.items()
    }
    return project.model_copy(update={"models": models}), groups


def _expanded(model: str, features: ModelFeaturesConf, groups: dict[str, Any], where) -> ModelFeaturesConf:
    def expand(kind: str, names: list[str]) -> list[str]:
        out: list[str] = []
        for name in names:
            if not name.endswith(GROUP_SELECTION):
                out.append(name)
                continue
            group = name.removesuffix(GROUP_SELECTION)
            if group not in groups:
                raise ConfigError(
                    f"{where(('models', model))}: models.{model}.features.{kind} selects {name}, but there is no "
                    f"enabled feature group {group}; known: {', '.join(sorted(groups)) or 'none'}."
                )
            wanted = (lambda t: t in NUMERIC_TYPES) if kind == "numeric" else (lambda t: t == "string")
            out += [f for f, t in groups[group].feature_types.items() if wanted(t) and f not in out]
        return out

    if not any(n.endswith(GROUP_SELECTION) for n in [*features.categorical, *features.numeric]):
        return features
    return ModelFeaturesConf(
        categorical=expand("categorical", features.categorical), numeric=expand("numeric", features.numeric)
    )


# The project directory _on_path put on sys.path that was not there before (at most one).
_PUT_ON_PATH: set[str] = set()


def _on_path(project_dir: Path, package: str) -> None:
    """The project's directory first on the path, and a package of that name imported from another project's
    directory forgotten: one process may run several projects one after another (tests, notebooks), and each must
    get its own groups. A project without that directory keeps the package on the path (a cluster's --py-files)."""
    own = project_dir / package
    loaded = sys.modules.get(package)
    if loaded is not None and own.is_dir():
        where = {Path(p).resolve() for p in getattr(loaded, "__path__", [])}
        if own.resolve() not in where:
            prefix = f"{package}."
            for name in [m for m in sys.modules if m == package or m.startswith(prefix)]:
                del sys.modules[name]
            importlib.invalidate_caches()
    entry = str(project_dir)
    if sys.path[:1] != [entry]:
        # the directories put on the path for earlier projects leave it (each import not yet made would search
        # them); a directory that was on the path before is only moved to the front
        for earlier in _PUT_ON_PATH - {entry}:
            while earlier in sys.path:
                sys.path.remove(earlier)
        _PUT_ON_PATH.intersection_update({entry})
        if entry in sys.path:
            sys.path.remove(entry)
        else:
            _PUT_ON_PATH.add(entry)
        sys.path.insert(0, entry)
