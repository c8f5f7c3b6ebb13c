"""``mlstage.autolog()``: record scikit-learn ``fit`` calls without changing the training code.

Each estimator class's ``fit`` is wrapped. The outermost ``fit`` (not the
inner fits of a Pipeline or a grid search) logs the estimator's parameters,
training metrics computed on the data it was fitted on, and the duration,
into the active run, or into a run of its own when none is active.
"""

from __future__ import annotations

import functools
import inspect
import threading
import time
from typing import Any

_state = threading.local()
_patched: dict[type, Any] = {}
_lock = threading.Lock()


def autolog(disable: bool = False) -> None:
    """Turn scikit-learn autologging on (or off with ``disable=True``)."""
    with _lock:
        if disable:
            for cls, original in _patched.items():
                setattr(cls, "fit", original)  # noqa: B010
            _patched.clear()
            return
        if _patched:
            return
        from sklearn.utils import all_estimators

        for _name, cls in all_estimators():
            original = cls.__dict__.get("fit")
            if original is not None and cls not in _patched:
                wrapped = _wrap(original)
                if wrapped is not original:
                    _patched[cls] = original
                    setattr(cls, "fit", wrapped)  # noqa: B010


def _wrap(original: Any) -> Any:
    names = list(inspect.signature(original).parameters)[1:3]
    if not names or names[0] != "X":
        return original  # fit(y) of label encoders and the like: nothing to learn from

    @functools.wraps(original)
    def fit(self: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(_state, "depth", 0) > 0:
            return original(self, *args, **kwargs)
        _state.depth = 1
        try:
            return _logged_fit(original, self, args, kwargs)
        finally:
            _state.depth = 0

    return fit


def _logged_fit(original: Any, estimator: Any, args: Any, kwargs: Any) -> Any:
    from mlstage.tracking import fluent

    X = args[0] if args else kwargs.get("X")
    y = args[1] if len(args) > 1 else kwargs.get("y")
    own_run = fluent.active_run() is None
    if own_run:
        fluent.start_run(name=f"{type(estimator).__name__}-autolog")
    try:
        started = time.perf_counter()
        result = original(estimator, *args, **kwargs)
        duration = time.perf_counter() - started
        fluent.log_params(_params(estimator))
        fluent.set_tags(
            {
                "estimator_class": f"{type(estimator).__module__}.{type(estimator).__name__}",
                "estimator_name": type(estimator).__name__,
                "mlstage.autolog": "sklearn",
            }
        )
        metrics = {"training_duration_s": duration, **_training_metrics(estimator, X, y)}
        fluent.log_metrics(metrics)
    except BaseException:
        if own_run:
            fluent.end_run("FAILED")
        raise
    if own_run:
        fluent.end_run("FINISHED")
    return result


def _params(estimator: Any) -> dict[str, str]:
    from mlstage.tracking import validation as v

    params = {}
    for key, value in estimator.get_params(deep=True).items():
        text = repr(value) if hasattr(value, "get_params") else str(value)
        try:
            params[v.check_key(key, "param key")] = text[: v.MAX_PARAM_VALUE_LENGTH]
        except ValueError:
            continue  # a key we cannot store is skipped rather than failing the fit
    return params


def _training_metrics(estimator: Any, X: Any, y: Any) -> dict[str, float]:
    if y is None:
        return {}
    from sklearn import base, metrics

    found: dict[str, float] = {}
    try:
        if base.is_classifier(estimator):
            predicted = estimator.predict(X)
            found["training_accuracy_score"] = metrics.accuracy_score(y, predicted)
            found["training_f1_score"] = metrics.f1_score(y, predicted, average="weighted")
            found["training_precision_score"] = metrics.precision_score(
                y, predicted, average="weighted", zero_division=0
            )
            found["training_recall_score"] = metrics.recall_score(
                y, predicted, average="weighted", zero_division=0
            )
            if hasattr(estimator, "predict_proba"):
                proba = estimator.predict_proba(X)
                found["training_log_loss"] = metrics.log_loss(y, proba, labels=estimator.classes_)
                if proba.shape[1] == 2:
                    found["training_roc_auc"] = metrics.roc_auc_score(y, proba[:, 1])
        elif base.is_regressor(estimator):
            predicted = estimator.predict(X)
            mse = metrics.mean_squared_error(y, predicted)
            found["training_mse"] = mse
            found["training_rmse"] = mse**0.5
            found["training_mae"] = metrics.mean_absolute_error(y, predicted)
            found["training_r2_score"] = metrics.r2_score(y, predicted)
    except (ValueError, TypeError, AttributeError):
        pass  # metrics are a bonus; a fit never fails because of them
    return {k: float(x) for k, x in found.items()}
