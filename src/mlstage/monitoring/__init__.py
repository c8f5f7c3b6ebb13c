"""Monitoring: feedback labels, monitors over the request log, results, alerts.

    from mlstage.monitoring import run_check, Monitoring, FeatureDrift

Names are imported on first use: DuckDB, pandas and scikit-learn load only
when a check runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "log_feedback": "mlstage.monitoring.feedback",
    "FeedbackResult": "mlstage.monitoring.feedback",
    "run_check": "mlstage.monitoring.check",
    "CheckReport": "mlstage.monitoring.check",
    "Monitoring": "mlstage.monitoring.definitions",
    "FeatureDrift": "mlstage.monitoring.definitions",
    "PredictionDrift": "mlstage.monitoring.definitions",
    "DataQuality": "mlstage.monitoring.definitions",
    "Performance": "mlstage.monitoring.definitions",
    "ServiceHealth": "mlstage.monitoring.definitions",
    "Staleness": "mlstage.monitoring.definitions",
    "AlertRule": "mlstage.monitoring.definitions",
    "Bound": "mlstage.monitoring.definitions",
    "load_monitoring": "mlstage.monitoring.definitions",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from mlstage.monitoring.check import CheckReport as CheckReport
    from mlstage.monitoring.check import run_check as run_check
    from mlstage.monitoring.definitions import AlertRule as AlertRule
    from mlstage.monitoring.definitions import Bound as Bound
    from mlstage.monitoring.definitions import DataQuality as DataQuality
    from mlstage.monitoring.definitions import FeatureDrift as FeatureDrift
    from mlstage.monitoring.definitions import Monitoring as Monitoring
    from mlstage.monitoring.definitions import Performance as Performance
    from mlstage.monitoring.definitions import PredictionDrift as PredictionDrift
    from mlstage.monitoring.definitions import ServiceHealth as ServiceHealth
    from mlstage.monitoring.definitions import Staleness as Staleness
    from mlstage.monitoring.definitions import load_monitoring as load_monitoring
    from mlstage.monitoring.feedback import FeedbackResult as FeedbackResult
    from mlstage.monitoring.feedback import log_feedback as log_feedback


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlstage.monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
