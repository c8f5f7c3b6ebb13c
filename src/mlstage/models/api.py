"""The public model API: ``log_model``, ``register_model``, ``set_alias``, ``load_model``."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstage.config import get_settings
from mlstage.errors import Conflict, InvalidInput
from mlstage.models.entities import ModelVersion, VersionStatus
from mlstage.models.flavors import flavor_for_model
from mlstage.models.flavors.python import ARTIFACTS_DIR
from mlstage.models.manifest import MANIFEST_FILE, DatasetRef, ModelManifest, dump_manifest
from mlstage.models.names import check_alias
from mlstage.models.safety import check_not_pickle
from mlstage.models.signature import Signature, infer_signature
from mlstage.models.store import RegistryStore
from mlstage.models.uri import RegistryRef, parse_model_uri

REQUIREMENT_PACKAGES = ("mlstage", "scikit-learn", "skops", "numpy", "pandas", "scipy")


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` wrote: use ``model_uri`` to register or load it."""

    run_id: str
    artifact_path: str
    model_uri: str
    manifest: ModelManifest


def get_registry_store(uri: str | None = None) -> RegistryStore:
    settings = get_settings()
    uri = uri or settings.tracking_uri
    if uri.split(":", 1)[0].lower() in ("http", "https"):
        from mlstage.models.http_store import HttpRegistryStore

        return HttpRegistryStore.shared(uri, settings)
    from mlstage.models.sql_store import SqlRegistryStore

    return SqlRegistryStore.shared(uri, settings)


def log_model(
    model: Any,
    name: str = "model",
    *,
    input_example: Any = None,
    signature: Signature | None = None,
    artifacts: Mapping[str, str | Path] | None = None,
    run_id: str | None = None,
) -> ModelInfo:
    """Save ``model`` into the run's artifacts as ``<name>/``: manifest, model file, signature.

    The signature is inferred from ``input_example`` (its columns, types and
    ranges, and the model's output on it) unless one is given.
    """
    from mlstage.tracking import fluent

    rid, store = fluent._require_run(run_id)
    flavor = flavor_for_model(model)
    files, details = flavor.save(model)
    for artifact_name, local in (artifacts or {}).items():
        path = Path(local)
        if not path.is_file():
            raise InvalidInput(f"artifact {artifact_name!r}: {str(local)!r} is not a file")
        files[f"{ARTIFACTS_DIR}/{artifact_name}/{path.name}"] = path.read_bytes()
    settings = get_settings()
    for path_name, data in files.items():
        check_not_pickle(path_name, data, allowed=settings.allow_pickle_models)
    if signature is None and input_example is not None:
        signature = infer_signature(input_example, _predict_quietly(model, input_example))
    fluent.flush()
    run = store.get_run(rid)
    packages = run.context.packages
    manifest = ModelManifest(
        flavor=flavor.name,
        model_class=f"{type(model).__module__}.{type(model).__qualname__}",
        signature=signature,
        python_version=run.context.python_version,
        packages=packages,
        requirements=[f"{p}=={packages[p]}" for p in REQUIREMENT_PACKAGES if p in packages]
        + _flavor_requirements(flavor.name)
        + _library_requirements(model),
        run_id=rid,
        artifact_path=name,
        datasets=[
            DatasetRef(name=i.dataset.name, digest=i.dataset.digest, context=i.context)
            for i in run.inputs
        ],
        metrics=dict(run.metrics),
        created_at=time.time_ns() // 1_000_000,
        python_model=details,
    )
    files[MANIFEST_FILE] = dump_manifest(manifest)
    for relative, data in sorted(files.items()):
        store.log_artifact(rid, f"{name}/{relative}", data)
    return ModelInfo(rid, name, f"runs:/{rid}/{name}", manifest)


def _predict_quietly(model: Any, example: Any) -> Any:
    try:
        return model.predict(example)
    except Exception:  # an example the model cannot score still describes its inputs
        return None


def _flavor_requirements(flavor: str) -> list[str]:
    from importlib import metadata

    if flavor != "sklearn":
        return []
    try:
        return [f"skops=={metadata.version('skops')}"]
    except metadata.PackageNotFoundError:
        return []


MODEL_LIBRARIES = ("xgboost", "lightgbm")
"""Libraries outside scikit-learn whose estimators the sklearn flavor saves (by module name)."""


def _library_requirements(model: Any) -> list[str]:
    """Pins of the libraries the model's estimators (nested ones too) come from.

    A pipeline ending in an XGBoost classifier needs ``xgboost`` (or its CPU
    build, ``xgboost-cpu``) wherever it is loaded, e.g. in a built image.
    """
    from importlib import metadata

    roots = {type(model).__module__.split(".", 1)[0]}
    get_params = getattr(model, "get_params", None)
    if callable(get_params):
        try:
            nested = get_params(deep=True).values()
        except Exception:  # a foreign estimator's get_params failing: pin what we know
            nested = []
        roots |= {type(v).__module__.split(".", 1)[0] for v in nested}
    libraries = sorted(roots & set(MODEL_LIBRARIES))
    if not libraries:
        return []
    found = []
    distributions = metadata.packages_distributions()
    for root in libraries:
        for dist in sorted(set(distributions.get(root, []))):
            found.append(f"{dist}=={metadata.version(dist)}")
    return found


def register_model(
    model_uri: str,
    name: str,
    *,
    description: str = "",
    tags: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register the model at ``model_uri`` (``runs:/<id>/<path>``) as the next version."""
    from mlstage.tracking.context import collect_context

    return get_registry_store().create_model_version(
        name, model_uri, description=description, created_by=collect_context().user, tags=tags
    )


def set_alias(name: str, alias: str, version: int, *, reason: str = "") -> None:
    """Point ``name@alias`` at ``version`` (recorded in the model's history)."""
    from mlstage.tracking.context import collect_context

    get_registry_store().set_alias(name, alias, version, collect_context().user, reason)


def promote(
    model: str, alias: str = "champion", *, force: bool = False, reason: str = ""
) -> ModelVersion:
    """Move ``alias`` to a version, which must have passed the validation gate.

    ``force=True`` skips the gate but needs a ``reason``, recorded in the history.
    """
    from mlstage.tracking.context import collect_context

    ref = parse_model_uri(model if model.startswith("models:/") else f"models:/{model}")
    if not isinstance(ref, RegistryRef):
        raise InvalidInput(f"promote takes a registered model version, got {model!r}")
    check_alias(alias)
    registry = get_registry_store()
    version = registry.resolve(ref)
    if version.status is not VersionStatus.VALIDATED:
        if not force:
            raise Conflict(
                f"version {version.version} of {version.name!r} is {version.status.value}, not "
                "VALIDATED: run the validation gate (mlstage models validate) first, or force "
                "the promotion with a reason"
            )
        if not reason.strip():
            raise InvalidInput("a forced promotion needs a reason; it is kept in the history")
        reason = f"forced: {reason}"
    registry.set_alias(version.name, alias, version.version, collect_context().user, reason)
    return registry.get_model_version(version.name, version.version)
