"""Serving inputs for training-serving skew: what a prediction service logged, as features.

The request log (``mlstage.serving.request_log``) keeps every scored row with
its inputs as ``input.<column>``; ``skew(training, serving_inputs("churn"))``
compares them with the training data. Shadow predictions repeat a request
another route already scored, so they are left out unless asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstage.errors import NotFound

if TYPE_CHECKING:
    import pandas as pd

INPUT_PREFIX = "input."


def serving_inputs(
    model: str,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    include_shadow: bool = False,
) -> pd.DataFrame:
    """The inputs logged for ``model`` in ``[since_ms, until_ms)``: one column per feature."""
    from mlstage.serving.request_log import read_prediction_log

    log = read_prediction_log(model, since_ms=since_ms, until_ms=until_ms)
    if not include_shadow and len(log):
        log = log[log["route"] != "shadow"]
    columns = [c for c in log.columns if str(c).startswith(INPUT_PREFIX)]
    if not len(log) or not columns:
        window = "" if since_ms is None and until_ms is None else " in that window"
        raise NotFound(f"no logged serving inputs for model {model!r}{window}")
    inputs = log[columns].reset_index(drop=True)
    return inputs.rename(columns=lambda c: str(c).removeprefix(INPUT_PREFIX))
