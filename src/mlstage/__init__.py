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
    # entities
    "Run": "mlstage.tracking.entities",
    "RunStatus": "mlstage.tracking.entities",
    "Experiment": "mlstage.tracking.entities",
    "Metric": "mlstage.tracking.entities",
    # settings and errors
    "get_settings": "mlstage.config",
    "MlstageError": "mlstage.errors",
    "InvalidInput": "mlstage.errors",
    "NotFound": "mlstage.errors",
    "Conflict": "mlstage.errors",
    "DataLoss": "mlstage.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlstage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:
    from mlstage.config import get_settings
    from mlstage.errors import Conflict, DataLoss, InvalidInput, MlstageError, NotFound
    from mlstage.models.api import log_model, promote, register_model, set_alias
    from mlstage.models.loading import load_model
    from mlstage.models.signature import infer_signature
    from mlstage.tracking.autolog import autolog
    from mlstage.tracking.entities import Experiment, Metric, Run, RunStatus
    from mlstage.tracking.fluent import (
        active_run,
        end_run,
        flush,
        get_metric_history,
        get_run,
        get_tracking_uri,
        log_artifact,
        log_artifacts,
        log_dict,
        log_figure,
        log_input,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        search_runs,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
