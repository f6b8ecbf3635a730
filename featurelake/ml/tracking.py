"""MLflow: where runs and models are recorded, and the registry rules (champion by a margin).

By default the tracking and registry store is a SQLite file under the lake root, with artifacts beside it,
so everything works offline and travels with the lake. On a cluster, ``mlflow.tracking_uri`` (usually
$MLFLOW_TRACKING_URI) names a tracking server instead. Tracking URIs may carry credentials, so they are never
printed; messages say "the configured tracking server" instead.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from featurelake.core.errors import ConfigError, EnvironmentProblem, NotReady
from featurelake.core.settings import Settings, confine

CHAMPION = "champion"
ROLE_TAG = "role"
# MLflow would otherwise try to reach its telemetry endpoint; runs here are offline by default.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# Nor draw progress bars of artifact transfers (a tracking server's artifacts) into the command's output.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# A model is downloaded through the tracking server, which holds the artifact store's credentials, not from presigned
# URLs of the store: the driver need not reach the store itself (with a store that checks signatures, moto's S3
# server, a presigned download of the suite's model hung a minute per try).
os.environ.setdefault("MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD", "false")


@dataclass(frozen=True)
class Store:
    tracking_uri: str
    registry_uri: str
    artifact_location: str | None  # for a new experiment; None lets a tracking server choose
    description: str  # safe to print: no credentials ("the SQLite store <file>", "the configured tracking server")


def store(settings: Settings) -> Store:
    conf = settings.project.mlflow
    if conf.tracking_uri:
        return Store(conf.tracking_uri, conf.registry_uri or conf.tracking_uri, None, "the configured tracking server")
    lake_root = settings.lake_root.removeprefix("file://")
    if "://" in lake_root:
        raise ConfigError(
            f"mlflow.tracking_uri is empty and the lake root {settings.lake_root} is not a local directory, where "
            "the default SQLite store cannot live; set MLFLOW_TRACKING_URI to your tracking server."
        )
    database = confine(lake_root, conf.store, "mlflow.store")
    artifacts = confine(lake_root, conf.artifacts, "mlflow.artifacts")
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{database}"
    return Store(uri, conf.registry_uri or uri, Path(artifacts).as_uri(), f"the SQLite store {database}")


HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}


URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def use_store(configured: Store) -> None:
    """Point this process's MLflow at a store. MLflow also writes the URIs into the environment (for its
    subprocesses), where the next project run in this process would read them as its own conf's
    ``${MLFLOW_TRACKING_URI:}``: the environment keeps what the user set."""
    import mlflow

    own = {variable: os.environ.get(variable) for variable in URI_VARIABLES}
    # mlflow.spark says at INFO that a registry URI is no DFS path and is copied: what loading a model always does
    logging.getLogger("mlflow.spark").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(configured.tracking_uri)
    mlflow.set_registry_uri(configured.registry_uri)
    for variable, value in own.items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value


def activate(settings: Settings) -> tuple[Store, str]:
    """Point MLflow at the configured store and return it with the experiment's id."""
    import mlflow

    configured = store(settings)
    # A tracking server that does not answer is one sentence in seconds, not minutes of MLflow's retries.
    for variable, bound in HTTP_BOUNDS.items():
        os.environ.setdefault(variable, bound)
    _forget_a_replaced_store(configured)
    use_store(configured)
    name = settings.experiment
    try:
        experiment = mlflow.get_experiment_by_name(name)
        experiment_id = (
            experiment.experiment_id
            if experiment
            else mlflow.create_experiment(name, artifact_location=configured.artifact_location)
        )
    except Exception as error:  # MLflow's messages repeat the URI, which may hold credentials
        raise ConfigError(
            f"MLflow ({configured.description}) did not answer ({type(error).__name__}); check "
            "MLFLOW_TRACKING_URI, the server and its credentials."
        ) from None
    database = _sqlite_file(configured.tracking_uri)
    if database is not None:
        _SEEN_STORES[configured.tracking_uri] = _file_identity(database)
    return configured, experiment_id


# The SQLite stores this process used, by URI: the identity of the database file it found there. MLflow keeps a
# store, its database connections and the models loaded from it per URI for the life of the process; a lake deleted
# and made again at the same place (a notebook, a test) has a new file there, which those would never see.
_SEEN_STORES: dict[str, tuple[int, int] | None] = {}


def _file_identity(path: str) -> tuple[int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _forget_a_replaced_store(configured: Store) -> None:
    """MLflow's cached store, connections and this process's loaded models of a SQLite store dropped when its
    database file is not the one this process used last (deleted, or made again)."""
    database = _sqlite_file(configured.tracking_uri)
    if database is None or configured.tracking_uri not in _SEEN_STORES:
        return
    if _SEEN_STORES[configured.tracking_uri] == _file_identity(database):
        return
    from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore as RegistryStore
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore as TrackingStore
    from mlflow.tracking._model_registry.registry import ModelRegistryStoreRegistry
    from mlflow.tracking._tracking_service.registry import TrackingStoreRegistry

    TrackingStoreRegistry._get_store_with_resolved_uri.cache_clear()
    ModelRegistryStoreRegistry._get_store_with_resolved_uri.cache_clear()
    for cached in (TrackingStore, RegistryStore):
        for uri in {configured.tracking_uri, configured.registry_uri}:
            engine = cached._engine_map.pop(uri, None)
            if engine is not None:
                engine.dispose()
    for key in [key for key in _LOADED if key[0] == configured.registry_uri]:
        _LOADED.pop(key)
    del _SEEN_STORES[configured.tracking_uri]


LOCK_WAIT_SECONDS = 5.0


def _sqlite_file(uri: str) -> str | None:
    """The database file of a SQLite store's URI (the default store); None for a tracking server."""
    return uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else None


def require_writable(configured: Store) -> None:
    """The default SQLite store can take a write now, or one sentence before any fit: a store another process
    holds locked (or a read-only one) would otherwise let a fit run for minutes and lose it when it is logged.
    A tracking server answers for itself (``activate``)."""
    import contextlib
    import sqlite3

    database = _sqlite_file(configured.tracking_uri)
    if database is None:
        return
    try:
        with contextlib.closing(sqlite3.connect(database, timeout=LOCK_WAIT_SECONDS)) as store_db:
            store_db.execute("BEGIN IMMEDIATE")  # the write lock, taken and given back at once
            store_db.rollback()
    except sqlite3.OperationalError as error:
        raise EnvironmentProblem(
            f"The MLflow store {database} cannot be written ({error}): another process holds it locked, or the "
            f"file or its directory is read-only; nothing was trained. Let that process finish (or make the store "
            "writable), then train again."
        ) from None


@dataclass(frozen=True)
class Promotion:
    version: int
    champion: bool
    previous_version: int | None
    previous_auc: float | None

    def sentence(self, name: str, auc: float, margin: float) -> str:
        if self.previous_version is None:
            return f"{name} v{self.version} is the first version: champion"
        if self.previous_auc is None:
            return f"{name} v{self.version} is the new champion: champion v{self.previous_version} recorded no test AUC"
        if self.champion:
            return (
                f"{name} v{self.version} is the new champion: test AUC {auc:.4f} beats v{self.previous_version}'s "
                f"{self.previous_auc:.4f} by at least {margin}"
            )
        return (
            f"{name} v{self.version} stays a challenger: test AUC {auc:.4f} does not beat champion "
            f"v{self.previous_version}'s {self.previous_auc:.4f} by {margin}"
        )


def decide(name: str, version: int, auc: float, margin: float, metric: str) -> Promotion:
    """Whether ``version`` should become the champion: when there is none, or when its ``metric`` beats the
    champion's by ``margin``. Nothing is changed yet (see ``apply``)."""
    from mlflow import MlflowClient

    current = MlflowClient().get_registered_model(name).aliases.get(CHAMPION)  # no champion is not an error
    previous_auc = None if current is None else version_metrics(name, int(current)).get(metric)
    return Promotion(
        version=version,
        champion=current is None or previous_auc is None or auc >= previous_auc + margin,
        previous_version=None if current is None else int(current),
        previous_auc=previous_auc,
    )


def apply(name: str, promotion: Promotion) -> None:
    """Move the champion alias (last, once everything about the version is recorded) and tag each role."""
    from mlflow import MlflowClient

    client = MlflowClient()
    if promotion.champion:
        client.set_registered_model_alias(name, CHAMPION, str(promotion.version))
        if promotion.previous_version is not None:
            client.set_model_version_tag(name, str(promotion.previous_version), ROLE_TAG, "former champion")
    role = CHAMPION if promotion.champion else "challenger"
    client.set_model_version_tag(name, str(promotion.version), ROLE_TAG, role)


# ---------------------------------------------------------------------------------------------- loading

REGISTERED_MODEL_URI = re.compile(
    r"^models:/(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z_][A-Za-z0-9_-]*))$"
)


@dataclass(frozen=True)
class RegisteredModel:
    name: str
    version: int
    uri: str  # models:/<name>/<version>: the version resolved, so a moved alias cannot change what was loaded
    tags: dict

    @property
    def threshold(self) -> float:
        return float(self.tags["threshold"])

    @property
    def training_set_version(self) -> int:
        return int(self.tags["training_set_version"])


def resolve(settings: Settings, model: str, uri: str | None = None) -> RegisteredModel:
    """The version of ``model`` a ``models:/<model>/<version>`` or ``models:/<model>@<alias>`` URI names in
    the configured registry (default: the champion). Any other URI — a run, a file, a URL, another model —
    is refused: models are loaded only from the registry."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    uri = uri or f"models:/{model}@{CHAMPION}"
    match = REGISTERED_MODEL_URI.match(uri)
    if not match or match["name"] != model:
        raise ConfigError(
            f"Model URI {uri!r} is refused: models load only from the configured registry, as "
            f"models:/{model}/<version> or models:/{model}@<alias>."
        )
    activate(settings)
    client = MlflowClient()
    try:
        found = (
            client.get_model_version(model, match["version"])
            if match["version"]
            else client.get_model_version_by_alias(model, match["alias"])
        )
    except MlflowException:
        kind = NotReady if match["alias"] == CHAMPION else ConfigError
        raise kind(
            f"The registry has no {uri}; train the model first (`featurelake train --model {model}`) or name a "
            "registered version or alias."
        ) from None
    tags = dict(found.tags)
    if "threshold" not in tags:  # versions registered before the tag existed: the run's logged threshold
        tags["threshold"] = str(client.get_run(found.run_id).data.metrics["test_threshold"])
    return RegisteredModel(model, int(found.version), f"models:/{model}/{found.version}", tags)


def champion_version(settings: Settings, model: str) -> int | None:
    """The version the champion alias points at, or None when the model has none (or is not registered)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    activate(settings)
    try:
        current = MlflowClient().get_registered_model(model).aliases.get(CHAMPION)
    except MlflowException:
        return None
    return None if current is None else int(current)


def registered_training_set_versions(settings: Settings, model: str) -> dict[int, int]:
    """{registered version: the training-set version it was trained on} of every version of a model in the
    registry (empty when it has none)."""
    from mlflow import MlflowClient

    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", model):  # a conf identifier: the filter holds nothing else
        raise ConfigError(f"{model!r} is not a model name of conf.")
    database = _sqlite_file(store(settings).registry_uri)
    if database is not None and not Path(database).exists():
        return {}  # the default store of a lake that never trained: nothing registered (and nothing to create)
    activate(settings)
    found = MlflowClient().search_model_versions(filter_string=f"name = '{model}'")
    return {int(v.version): int(v.tags["training_set_version"]) for v in found if "training_set_version" in v.tags}


def version_metrics(name: str, version: int) -> dict[str, float]:
    """The metrics the training run of a model version logged (test_auc_roc, test_log_loss, ...)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    return dict(client.get_run(client.get_model_version(name, str(version)).run_id).data.metrics)


def version_importances(name: str, version: int) -> dict[str, float]:
    """The share of importance of each input the training run of a model version logged (importances.json of
    its run: data, never code); empty for a version logged without it."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    run_id = MlflowClient().get_model_version(name, str(version)).run_id
    try:
        logged = mlflow.artifacts.load_dict(f"runs:/{run_id}/importances.json")
    except (MlflowException, OSError):
        return {}
    return {str(k): float(v) for k, v in logged.get("importances", {}).items()}


# Loaded models by (registry, models:/<name>/<version>, Spark application): a registered version never
# changes, so scoring and monitoring in one `featurelake run` load it once.
_LOADED: dict[tuple[str, str, str], object] = {}


def load_spark_model(registered: RegisteredModel):
    """The registered version's Spark pipeline model, from the registry only (loaded once per process)."""
    import mlflow
    from pyspark import SparkContext

    application = SparkContext.getOrCreate().applicationId  # the process's running context
    key = (mlflow.get_registry_uri(), registered.uri, application)
    if key not in _LOADED:
        if len(_LOADED) >= 4:  # a few models per run; older entries go first
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = mlflow.spark.load_model(registered.uri)
    return _LOADED[key]


def input_schema(registered: RegisteredModel) -> list[tuple[str, str]]:
    """The model's input columns and their types, from its logged signature: what it was trained on."""
    import mlflow

    signature = mlflow.models.get_model_info(registered.uri).signature
    return [(spec.name, spec.type.name) for spec in signature.inputs.inputs]
