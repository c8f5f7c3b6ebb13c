"""Load a model by URI: every file checked against recorded hashes, no pickle, signature enforced.

Registry versions are checked against the hashes recorded at registration;
a run's model against the hashes its artifact records hold. Code-bearing
python-flavor models load only from a registry version.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from mlstage.config import get_settings
from mlstage.errors import InvalidInput
from mlstage.models.flavors import flavor_named
from mlstage.models.flavors.sklearn import SklearnFlavor
from mlstage.models.forest import FlatForest, walkable
from mlstage.models.manifest import MANIFEST_FILE, ModelManifest, load_manifest
from mlstage.models.safety import check_not_pickle
from mlstage.models.signature import enforce
from mlstage.models.sqlite_lookup import find_version
from mlstage.models.uri import RegistryRef, RunRef, parse_model_uri
from mlstage.tracking.entities import bulk_build


class LoadedModel:
    """A model ready to predict; inputs are checked against its signature first.

    A forest logged with its flat arrays (``models.forest``) predicts from them,
    bit for bit scikit-learn's answers, and ``model`` (the scikit-learn object,
    with scikit-learn's imports) is rebuilt from its checked files the first
    time it is asked for, or an input needs it: a batch over 128 rows, a NaN.
    """

    def __init__(
        self,
        uri: str,
        manifest: ModelManifest,
        model: Any,
        version: Any = None,
        *,
        build: Callable[[], Any] | None = None,
        forest: FlatForest | None = None,
    ):
        self.uri = uri
        self.manifest = manifest
        self._model = model
        self._build = build
        self._building = threading.Lock()
        self.forest = forest
        """The forest's flat arrays when it was logged with them, else None."""
        self.version = version
        """The registry ModelVersion it was loaded from, if any."""

    @property
    def model(self) -> Any:
        """The underlying object: a scikit-learn estimator or a PythonModel."""
        if self._build is not None:
            with self._building:
                if self._build is not None:
                    self._model, self._build = self._build(), None
        return self._model

    @model.setter
    def model(self, value: Any) -> None:
        self._model, self._build = value, None

    @property
    def signature(self) -> Any:
        return self.manifest.signature

    def predict(self, data: Any) -> Any:
        data = self._checked(data)
        if self.forest is not None and (x := walkable(self.forest, data)) is not None:
            return self.forest.labels(x)
        return self.model.predict(data)

    def predict_proba(self, data: Any) -> Any:
        forest = self.forest
        gives = forest.classifier if forest is not None else hasattr(self.model, "predict_proba")
        if not gives:
            raise InvalidInput(f"model {self.uri} gives no probabilities")
        data = self._checked(data)
        if self.forest is not None and (x := walkable(self.forest, data)) is not None:
            return self.forest.predict(x)
        return self.model.predict_proba(data)

    def _checked(self, data: Any) -> Any:
        signature = self.manifest.signature
        return data if signature is None else enforce(signature, data)

    def __repr__(self) -> str:
        return f"LoadedModel({self.uri!r}, flavor={self.manifest.flavor!r})"


def load_model(uri: str, *, check_environment: bool = True) -> LoadedModel:
    """Load ``models:/name@alias``, ``models:/name/3`` or ``runs:/<run id>/<path>``.

    In an environment (the ``environment`` setting), a model whose classification
    is above the environment's maximum is refused, and the refusal audited.
    A prediction service passes ``check_environment=False``: it checks against
    its deployment's environment instead (``governance.policy.guard_loader``).
    """
    # The first load imports the model's library (scikit-learn: thousands of objects) and
    # rebuilds the model: the cyclic collector would walk the heap again and again meanwhile.
    with bulk_build():
        return _load_model(uri, check_environment)


def _load_model(uri: str, check_environment: bool) -> LoadedModel:
    settings = get_settings()
    ref = parse_model_uri(uri)
    version = None
    if isinstance(ref, RegistryRef):
        version = find_version(settings, ref)  # local SQLite, no policy: without SQLAlchemy
        if version is not None:
            from mlstage.artifacts.store import get_artifact_store

            blobs = get_artifact_store(settings.artifact_root, settings.s3_endpoint_url)
            files = {p: blobs.get_bytes(sha) for p, sha in version.files.items()}
        else:
            files, version = _registry_files(ref, check_environment and bool(settings.environment))
    else:
        assert isinstance(ref, RunRef)
        from mlstage.tracking.store import get_tracking_store

        if check_environment and settings.environment:
            from mlstage.governance.policy import enforce_here

            run_id = ref.run_id
            enforce_here(lambda c: c.run_artifacts(run_id))
        tracking = get_tracking_store()
        listed = _run_files(tracking, ref)
        if MANIFEST_FILE not in listed:
            raise InvalidInput(f"{uri} holds no {MANIFEST_FILE}: it is not a logged model")
        files = {p: tracking.read_artifact(ref.run_id, f"{ref.path}/{p}") for p in listed}
    for path, data in files.items():
        check_not_pickle(path, data, allowed=settings.allow_pickle_models)
    manifest = load_manifest(files[MANIFEST_FILE])
    if manifest.flavor == "python" and version is None:
        raise InvalidInput(
            f"{uri} is a python-flavor model, which runs its own code: register it and load it "
            "from the registry (models:/<name>/<version>), where its files' hashes are recorded"
        )
    flavor = flavor_named(manifest.flavor)
    forest = None
    if isinstance(flavor, SklearnFlavor):
        forest = flavor.logged_forest(files, manifest, settings)
    if forest is not None:
        build = functools.partial(flavor.load, files, manifest, settings)
        return LoadedModel(str(ref), manifest, None, version, build=build, forest=forest)
    model = flavor.load(files, manifest, settings)
    return LoadedModel(str(ref), manifest, model, version)


def _registry_files(ref: RegistryRef, check_environment: bool) -> tuple[dict[str, bytes], Any]:
    """The version's files (each checked against its recorded hash) through the registry store."""
    from mlstage.models.api import get_registry_store

    registry = get_registry_store()
    version = registry.resolve(ref)
    if check_environment:
        from mlstage.governance.policy import enforce_here

        enforce_here(lambda c: c.model_version(version.name, version.version))
    files = {p: registry.read_version_file(version.name, version.version, p) for p in version.files}
    return files, version


def _run_files(tracking: Any, ref: RunRef) -> list[str]:
    """Paths of every file below the run's model folder, relative to it."""
    if hasattr(tracking, "artifact_files"):
        return list(tracking.artifact_files(ref.run_id, ref.path))
    found: list[str] = []
    pending = [ref.path]
    while pending:
        folder = pending.pop()
        for item in tracking.list_artifacts(ref.run_id, folder):
            if item.is_dir:
                pending.append(item.path)
            else:
                found.append(item.path[len(ref.path) + 1 :])
    return found
