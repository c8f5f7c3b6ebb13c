"""Flavors: how each kind of model is saved to files and loaded back.

Chosen by mlstage from the model object at save time and from its own table
at load time; never from code or names found in a model's files.
"""

from __future__ import annotations

from typing import Any, Protocol

from mlstage.config import Settings
from mlstage.errors import InvalidInput
from mlstage.models.manifest import FlavorName, ModelManifest


class Flavor(Protocol):
    name: FlavorName

    def save(self, model: Any) -> tuple[dict[str, bytes], dict[str, Any] | None]:
        """The model's files, and flavor details for the manifest."""
        ...

    def load(self, files: dict[str, bytes], manifest: ModelManifest, settings: Settings) -> Any:
        """An object with ``predict`` built from verified files."""
        ...


def flavor_for_model(model: Any) -> Flavor:
    from mlstage.models.flavors.python import PythonFlavor, PythonModel

    if isinstance(model, PythonModel):
        return PythonFlavor()
    module = type(model).__module__.split(".")[0]
    if module in ("sklearn", "xgboost", "lightgbm") or _is_sklearn_estimator(model):
        from mlstage.models.flavors.sklearn import SklearnFlavor

        return SklearnFlavor()
    raise InvalidInput(
        f"cannot save a {type(model).__module__}.{type(model).__name__}: mlstage saves "
        "scikit-learn estimators and pipelines (and XGBoost or LightGBM through their "
        "scikit-learn API), or a subclass of mlstage.models.PythonModel for custom code"
    )


def flavor_named(name: str) -> Flavor:
    if name == "sklearn":
        from mlstage.models.flavors.sklearn import SklearnFlavor

        return SklearnFlavor()
    if name == "python":
        from mlstage.models.flavors.python import PythonFlavor

        return PythonFlavor()
    raise InvalidInput(f"unknown model flavor {name!r}; known: sklearn, python")


def _is_sklearn_estimator(model: Any) -> bool:
    try:
        from sklearn.base import BaseEstimator
    except ImportError:
        return False
    return isinstance(model, BaseEstimator)
