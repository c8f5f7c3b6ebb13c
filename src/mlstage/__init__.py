"""mlstage: one package for the MLOps maturity stages.

    import mlstage
    mlstage.set_experiment("churn")
    with mlstage.start_run(name="rf-baseline"):
        mlstage.log_params({"n_estimators": 100})
        mlstage.log_metric("auc", 0.91)

Everything below is imported on first use, so ``import mlstage`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    # tracking
    "set_tracking_uri": "mlstage.tracking.fluent",
    "get_tracking_uri": "mlstage.tracking.fluent",
    "set_experiment": "mlstage.tracking.fluent",
    "start_run": "mlstage.tracking.fluent",
    "end_run": "mlstage.tracking.fluent",
    "active_run": "mlstage.tracking.fluent",
    "log_param": "mlstage.tracking.fluent",
    "log_params": "mlstage.tracking.fluent",
    "log_metric": "mlstage.tracking.fluent",
    "log_metrics": "mlstage.tracking.fluent",
    "set_tag": "mlstage.tracking.fluent",
    "set_tags": "mlstage.tracking.fluent",
    "log_artifact": "mlstage.tracking.fluent",
    "log_artifacts": "mlstage.tracking.fluent",
    "log_text": "mlstage.tracking.fluent",
    "log_dict": "mlstage.tracking.fluent",
    "log_figure": "mlstage.tracking.fluent",
    "log_input": "mlstage.tracking.fluent",
    "flush": "mlstage.tracking.fluent",
    "search_runs": "mlstage.tracking.fluent",
    "get_run": "mlstage.tracking.fluent",
    "get_metric_history": "mlstage.tracking.fluent",
    "autolog": "mlstage.tracking.autolog",
    # models
    "log_model": "mlstage.models.api",
    "register_model": "mlstage.models.api",
    "set_alias": "mlstage.models.api",
    "promote": "mlstage.models.api",
    "load_model": "mlstage.models.loading",
    "infer_signature": "mlstage.models.signature",
    "evaluate": "mlstage.models.evaluation",
    "EvaluationResult": "mlstage.models.evaluation",
    "validate_candidate": "mlstage.models.validation",
    "Verdict": "mlstage.models.validation",
    "build_card": "mlstage.models.cards",
    "save_card": "mlstage.models.cards",
    "ModelCard": "mlstage.models.cards",
    # data: a module, so that mlstage.datasets.register(...) reads as a sentence
    "datasets": "mlstage.data.datasets",
    # pipelines
    "step": "mlstage.pipelines.dsl",
    "pipeline": "mlstage.pipelines.dsl",
    "resume_pipeline": "mlstage.pipelines.runner",
    # entities
    "Run": "mlstage.tracking.entities",
    "RunStatus": "mlstage.tracking.entities",
    "Experiment": "mlstage.tracking.entities",
    "Metric": "mlstage.tracking.entities",
    # settings and errors
    # feature store
    "feature_store": "mlstage.features.store",
    "FeatureStore": "mlstage.features.store",
    "get_settings": "mlstage.config",
    "MlstageError": "mlstage.errors",
    "InvalidInput": "mlstage.errors",
    "NotFound": "mlstage.errors",
    "Conflict": "mlstage.errors",
    "DataLoss": "mlstage.errors",
    # monitoring
    "log_feedback": "mlstage.monitoring.feedback",
}

__all__ = sorted(_EXPORTS)


_MODULE_EXPORTS = frozenset({"datasets"})
"""Exports that are modules themselves (``mlstage.datasets.register(...)``)."""


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlstage' has no attribute {name!r}")
    imported = importlib.import_module(module)
    value = imported if name in _MODULE_EXPORTS else getattr(imported, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from mlstage.config import get_settings as get_settings
    from mlstage.data import datasets as datasets
    from mlstage.errors import (
        Conflict as Conflict,
    )
    from mlstage.errors import (
        DataLoss as DataLoss,
    )
    from mlstage.errors import (
        InvalidInput as InvalidInput,
    )
    from mlstage.errors import (
        MlstageError as MlstageError,
    )
    from mlstage.errors import (
        NotFound as NotFound,
    )
    from mlstage.features.store import FeatureStore as FeatureStore
    from mlstage.features.store import feature_store as feature_store
    from mlstage.models.api import (
        log_model as log_model,
    )
    from mlstage.models.api import (
        promote as promote,
    )
    from mlstage.models.api import (
        register_model as register_model,
    )
    from mlstage.models.api import (
        set_alias as set_alias,
    )
    from mlstage.models.cards import ModelCard as ModelCard
    from mlstage.models.cards import build_card as build_card
    from mlstage.models.cards import save_card as save_card
    from mlstage.models.evaluation import EvaluationResult as EvaluationResult
    from mlstage.models.evaluation import evaluate as evaluate
    from mlstage.models.loading import load_model as load_model
    from mlstage.models.signature import infer_signature as infer_signature
    from mlstage.models.validation import Verdict as Verdict
    from mlstage.models.validation import validate_candidate as validate_candidate
    from mlstage.monitoring.feedback import log_feedback as log_feedback
    from mlstage.pipelines.dsl import pipeline as pipeline
    from mlstage.pipelines.dsl import step as step
    from mlstage.pipelines.runner import resume_pipeline as resume_pipeline
    from mlstage.tracking.autolog import autolog as autolog
    from mlstage.tracking.entities import (
        Experiment as Experiment,
    )
    from mlstage.tracking.entities import (
        Metric as Metric,
    )
    from mlstage.tracking.entities import (
        Run as Run,
    )
    from mlstage.tracking.entities import (
        RunStatus as RunStatus,
    )
    from mlstage.tracking.fluent import (
        active_run as active_run,
    )
    from mlstage.tracking.fluent import (
        end_run as end_run,
    )
    from mlstage.tracking.fluent import (
        flush as flush,
    )
    from mlstage.tracking.fluent import (
        get_metric_history as get_metric_history,
    )
    from mlstage.tracking.fluent import (
        get_run as get_run,
    )
    from mlstage.tracking.fluent import (
        get_tracking_uri as get_tracking_uri,
    )
    from mlstage.tracking.fluent import (
        log_artifact as log_artifact,
    )
    from mlstage.tracking.fluent import (
        log_artifacts as log_artifacts,
    )
    from mlstage.tracking.fluent import (
        log_dict as log_dict,
    )
    from mlstage.tracking.fluent import (
        log_figure as log_figure,
    )
    from mlstage.tracking.fluent import (
        log_input as log_input,
    )
    from mlstage.tracking.fluent import (
        log_metric as log_metric,
    )
    from mlstage.tracking.fluent import (
        log_metrics as log_metrics,
    )
    from mlstage.tracking.fluent import (
        log_param as log_param,
    )
    from mlstage.tracking.fluent import (
        log_params as log_params,
    )
    from mlstage.tracking.fluent import (
        log_text as log_text,
    )
    from mlstage.tracking.fluent import (
        search_runs as search_runs,
    )
    from mlstage.tracking.fluent import (
        set_experiment as set_experiment,
    )
    from mlstage.tracking.fluent import (
        set_tag as set_tag,
    )
    from mlstage.tracking.fluent import (
        set_tags as set_tags,
    )
    from mlstage.tracking.fluent import (
        set_tracking_uri as set_tracking_uri,
    )
    from mlstage.tracking.fluent import (
        start_run as start_run,
    )
