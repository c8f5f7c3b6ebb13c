"""The versions a service has loaded, and the hot swap that replaces them without a restart.

A ``Snapshot`` is immutable: the deployment record it serves and a loaded
version for each version that record needs. A request reads the current
snapshot once and keeps it, so it is answered by versions that stay loaded
until it is done, whatever swap happens meanwhile. The poller loads a new
revision's versions beside the old ones and only then replaces the
snapshot, in one assignment; if loading fails, the old snapshot keeps
serving and the error is reported on the deployment.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from mlstage.errors import InvalidInput, MlstageError
from mlstage.models.forest import compile_forest
from mlstage.models.loading import LoadedModel, load_model
from mlstage.models.signature import Signature
from mlstage.models.uri import RegistryRef, parse_model_uri
from mlstage.serving.batcher import Batcher, BatchObserver, Scored
from mlstage.serving.deployments import Deployment, DeploymentStore, check_deployment_name
from mlstage.serving.options import ServingOptions
from mlstage.serving.routing import Route, route
from mlstage.serving.validation import Checker, checker_for

log = logging.getLogger(__name__)

DEPLOYMENT_PREFIX = "deployment:"
INLINE_BELOW = 0.010
"""A version whose model calls take under this (seconds) is called on the event loop."""
# Estimators whose own ``predict`` is the argmax of ``predict_proba`` (scikit-learn's code
# says so): one model call gives both answers, instead of walking every tree twice.
_PREDICT_IS_ARGMAX = frozenset(
    {
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.ensemble._forest.ExtraTreesClassifier",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._classes.ExtraTreeClassifier",
    }
)


def parse_target(text: str) -> tuple[RegistryRef | None, str]:
    """``churn@champion``, ``churn/3``, ``models:/...`` or ``deployment:<name>``."""
    if text.startswith(DEPLOYMENT_PREFIX):
        return None, check_deployment_name(text.removeprefix(DEPLOYMENT_PREFIX))
    ref = parse_model_uri(text if text.startswith(("models:/", "runs:/")) else f"models:/{text}")
    if not isinstance(ref, RegistryRef):
        raise InvalidInput(
            f"serve a registered model version (churn@champion, churn/3), not {text!r}: "
            "register it first with mlstage.register_model"
        )
    return ref, ""


def check_target(text: str) -> str:
    """Resolve ``text`` without loading anything; its title, e.g. ``churn v3``."""
    ref, deployment_name = parse_target(text)
    if ref is None:
        from mlstage.serving.deployments import get_deployment_store

        found = get_deployment_store().get_deployment(deployment_name)
        return f"{found.model} v{found.primary_version} ({found.name})"
    from mlstage.models.api import get_registry_store

    resolved = get_registry_store().resolve(ref)
    return f"{resolved.name} v{resolved.version}"


def _class_name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _as_list(output: Any) -> list[Any]:
    if hasattr(output, "columns") and hasattr(output, "to_dict"):  # a DataFrame
        if len(output.columns) == 1:
            return list(output.iloc[:, 0].tolist())
        return list(output.to_dict(orient="records"))
    if hasattr(output, "tolist"):
        return list(output.tolist())
    return list(output)


_NAMELESS_INPUT = "X does not have valid feature names"


def takes_matrix(model: Any, checker: Checker) -> bool:
    """Whether the model may get a batch as a bare NumPy matrix instead of a DataFrame.

    A scikit-learn estimator (not a pipeline, whose steps may pick columns by
    name) fitted on a DataFrame uses the column names only to check them
    against ``feature_names_in_``; one fitted on an array reads a DataFrame by
    position. When every column is a number and the names are the
    signature's columns in order (or the model has none and as many
    columns), the service has already checked each row by name; the
    DataFrame and scikit-learn's check of it (about a tenth of a one-row
    forest's predict) add nothing. The warning scikit-learn gives for an
    unnamed input to a named model is then silenced in this process, for
    that message only.
    """
    signature = getattr(checker, "signature", None)
    if (
        signature is None
        or not getattr(checker, "numeric", False)
        or hasattr(model, "steps")
        or not type(model).__module__.startswith("sklearn.")
    ):
        return False
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        # Fitted on an array: a DataFrame would be read by position anyway (and warned
        # about on every call); the matrix is what the model was fitted with.
        return bool(getattr(model, "n_features_in_", None) == len(signature.inputs))
    if list(names) != [spec.name for spec in signature.inputs]:
        return False
    warnings.filterwarnings("ignore", message=_NAMELESS_INPUT, category=UserWarning)
    return True


def freeze_heap() -> None:
    """Move every object alive now (the loaded models above all) out of the collector's sight.

    A full collection walks every tracked object; with a forest's thousands of
    objects in the heap, that walk lands on random requests as a p99 spike of
    tens of milliseconds. Objects loaded once and kept are never garbage, so
    they are frozen after start-up and after each swap (``gc.freeze``); a swap
    unfreezes first, so the versions it replaced can be collected.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class LoadedVersion:
    """One registered version, ready: its model, its row checker and its batch queue.

    Its model calls run on a thread of its own (unless an executor is given),
    always the same one: a version runs one batch at a time anyway, and a
    model called from whichever thread of a shared pool is free next (the
    pool's idle threads take the calls in turn) runs slower than one called
    from the same thread every time, whose core keeps the model's objects in
    its caches. A random forest's one-row ``predict_proba`` measured a
    quarter slower from two threads taking turns than from one. Once its
    calls are known to take under ``INLINE_BELOW``, they run on the event
    loop instead, without a hand-off at all (see ``Batcher``).
    """

    def __init__(
        self,
        loaded: LoadedModel,
        options: ServingOptions,
        executor: Executor | None = None,
        observe: BatchObserver | None = None,
    ) -> None:
        self.loaded = loaded
        self.name: str = loaded.version.name if loaded.version is not None else loaded.uri
        self.version: int = loaded.version.version if loaded.version is not None else 0
        self.signature: Signature | None = loaded.manifest.signature
        self.checker: Checker = checker_for(self.signature)
        model = loaded.model
        self.has_proba = callable(getattr(model, "predict_proba", None))
        classes = getattr(model, "classes_", None) if self.has_proba else None
        self.classes: list[Any] | None = None if classes is None else list(classes.tolist())
        final = model.steps[-1][1] if hasattr(model, "steps") else model
        self._argmax = (
            self.has_proba and classes is not None and _class_name(final) in (_PREDICT_IS_ARGMAX)
        )
        # How a batch of checked rows becomes the model's input, and which call answers
        # it, decided once: a forest fed matrices is walked flat (``models.forest``).
        matrix = takes_matrix(model, self.checker)
        self._features: Callable[[list[Any]], Any] = (
            self.checker.matrix  # type: ignore[union-attr]
            if matrix
            else self.checker.build
        )
        flat = compile_forest(model, loaded.forest) if matrix else None
        self.flat = flat is not None
        # The model's own answer for a batch: probabilities for a classifier, else predictions.
        self.model_call: Callable[[Any], Any] = flat or (
            model.predict_proba if self.has_proba else model.predict
        )
        self._own_executor = executor is None
        self.executor: Executor = executor or ThreadPoolExecutor(
            options.predict_threads, thread_name_prefix=f"mlstage-model-{self.name}-v{self.version}"
        )
        self.batcher = Batcher(
            self.score,
            self.executor,
            max_rows=options.max_batch_rows,
            max_wait=options.max_batch_wait_ms / 1000,
            max_queued_rows=options.max_queued_rows,
            observe=observe,
            label=f"{self.name} v{self.version}",
            inline_below=INLINE_BELOW,
        )

    def score(self, rows: list[Any]) -> Scored:
        """One model call (two without a shortcut) for a batch of checked rows."""
        features = self._features(rows)
        if not self.has_proba:
            return Scored(_as_list(self.model_call(features)), None)
        proba = self.model_call(features)
        if self._argmax and getattr(proba, "ndim", 0) == 2:
            predictions = self.loaded.model.classes_.take(proba.argmax(axis=1), axis=0)
        else:
            predictions = self.loaded.model.predict(features)
        return Scored(_as_list(predictions), _as_list(proba))

    def close(self) -> None:
        """Stop the model thread (if this version owns it); for a service shutting down."""
        if self._own_executor:
            self.executor.shutdown(wait=False, cancel_futures=True)

    def __repr__(self) -> str:
        return f"LoadedVersion({self.name!r}, {self.version})"


@dataclass(frozen=True)
class Snapshot:
    """What serves right now; replaced whole, never changed."""

    model: str
    primary: int
    versions: Mapping[int, LoadedVersion]
    deployment: Deployment | None = None
    loaded_at: float = field(default_factory=time.time)

    def route(self, key: str) -> Route:
        if self.deployment is None:
            return Route(self.primary, "primary")
        return route(self.deployment, key)

    @property
    def revision(self) -> int:
        return self.deployment.revision if self.deployment is not None else 0


Loader = Callable[[str, int], LoadedVersion]
SwapListener = Callable[[Snapshot], None]


class VersionPool:
    """Loads the target's versions, and for a deployment follows its record (hot swap)."""

    def __init__(
        self,
        target: str,
        options: ServingOptions,
        load: Loader,
        *,
        store: Callable[[], DeploymentStore] | None = None,
        on_swap: SwapListener | None = None,
    ) -> None:
        self.options = options
        self._load = load
        self._store_factory = store
        self._on_swap = on_swap
        self.last_error = ""
        self._failed: tuple[int, float] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        ref, self.deployment_name = parse_target(target)
        if ref is not None:
            from mlstage.models.api import get_registry_store

            resolved = get_registry_store().resolve(ref)
            loaded = load(resolved.name, resolved.version)
            self._current = Snapshot(resolved.name, resolved.version, {resolved.version: loaded})
        else:
            deployment = self.store().get_deployment(self.deployment_name)
            self._current = self._build(deployment, {})
        if on_swap is not None:
            on_swap(self._current)

    @property
    def current(self) -> Snapshot:
        return self._current

    def store(self) -> DeploymentStore:
        if self._store_factory is not None:
            return self._store_factory()
        from mlstage.serving.deployments import get_deployment_store

        return get_deployment_store()

    def _build(self, deployment: Deployment, have: Mapping[int, LoadedVersion]) -> Snapshot:
        versions = {
            v: have[v] if v in have else self._load(deployment.model, v)
            for v in deployment.versions
        }
        return Snapshot(deployment.model, deployment.primary_version, versions, deployment)

    def refresh(self) -> bool:
        """Read the deployment once; load and swap in a new revision. True if it swapped."""
        if not self.deployment_name:
            return False
        current = self._current
        deployment = self.store().get_deployment(self.deployment_name)
        if deployment.revision == current.revision:
            return False
        failed = self._failed
        if failed is not None and failed[0] == deployment.revision and time.monotonic() < failed[1]:
            return False  # it failed to load: retry it now and then, not on every poll
        try:
            fresh = self._build(deployment, current.versions)
        except Exception as exc:
            self._report(deployment, exc)
            return False
        self._current = fresh  # the swap: one assignment, so every request sees old or new
        self._failed = None
        self.last_error = ""
        log.info(
            "deployment %s: now serving revision %d (versions %s)",
            deployment.name,
            deployment.revision,
            sorted(fresh.versions),
        )
        if self._on_swap is not None:
            self._on_swap(fresh)
        freeze_heap()
        return True

    def _report(self, deployment: Deployment, exc: Exception) -> None:
        detail = exc.message if isinstance(exc, MlstageError) else f"{type(exc).__name__}: {exc}"
        message = (
            f"revision {deployment.revision} could not be loaded ({detail}); "
            f"still serving revision {self._current.revision}"
        )
        self.last_error = message
        retry = max(30.0, 10 * self.options.poll_interval)
        self._failed = (deployment.revision, time.monotonic() + retry)
        log.error("deployment %s: %s", deployment.name, message)
        try:
            self.store().report_error(deployment.name, deployment.revision, message)
        except Exception:
            log.exception("deployment %s: could not report the load failure", deployment.name)

    def start(self) -> None:
        """Poll the deployment record in a background thread (no-op for a single version)."""
        if not self.deployment_name or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._poll, name=f"mlstage-poll-{self.deployment_name}", daemon=True
        )
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.options.poll_interval):
            try:
                self.refresh()
            except Exception as exc:  # the store is down: keep serving, try again next time
                log.warning("deployment %s: cannot read the record: %s", self.deployment_name, exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def load_version(options: ServingOptions, observe: Callable[[str, int], BatchObserver]) -> Loader:
    """The loader services use: ``load_model`` (hash-checked) of ``models:/name/version``.

    Each version gets its own model thread; one a swap replaced stops once the
    last request holding it is done and it is collected.
    """

    def load(model: str, version: int) -> LoadedVersion:
        # the deployment's environment was checked before this (policy.guard_loader)
        loaded = load_model(f"models:/{model}/{version}", check_environment=False)
        return LoadedVersion(loaded, options, None, observe(model, version))

    return load
