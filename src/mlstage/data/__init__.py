"""Data: versioned datasets, statistics, schema, validation, drift and skew.

    from mlstage.data import compute_statistics, infer_schema, validate, compare

Names are imported on first use: DuckDB and pandas load only when data is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "compute_statistics": "mlstage.data.statistics",
    "DatasetStatistics": "mlstage.data.statistics",
    "FeatureStatistics": "mlstage.data.statistics",
    "infer_schema": "mlstage.data.schema",
    "load_schema": "mlstage.data.schema",
    "save_schema": "mlstage.data.schema",
    "Schema": "mlstage.data.schema",
    "FeatureSchema": "mlstage.data.schema",
    "validate": "mlstage.data.validation",
    "ValidationReport": "mlstage.data.validation",
    "Anomaly": "mlstage.data.validation",
    "detect_pii": "mlstage.data.pii",
    "compare": "mlstage.data.drift",
    "skew": "mlstage.data.drift",
    "DriftReport": "mlstage.data.drift",
    "serving_inputs": "mlstage.data.serving",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from mlstage.data.drift import DriftReport as DriftReport
    from mlstage.data.drift import compare as compare
    from mlstage.data.drift import skew as skew
    from mlstage.data.pii import detect_pii as detect_pii
    from mlstage.data.schema import FeatureSchema as FeatureSchema
    from mlstage.data.schema import Schema as Schema
    from mlstage.data.schema import infer_schema as infer_schema
    from mlstage.data.schema import load_schema as load_schema
    from mlstage.data.schema import save_schema as save_schema
    from mlstage.data.serving import serving_inputs as serving_inputs
    from mlstage.data.statistics import DatasetStatistics as DatasetStatistics
    from mlstage.data.statistics import FeatureStatistics as FeatureStatistics
    from mlstage.data.statistics import compute_statistics as compute_statistics
    from mlstage.data.validation import Anomaly as Anomaly
    from mlstage.data.validation import ValidationReport as ValidationReport
    from mlstage.data.validation import validate as validate


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlstage.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
