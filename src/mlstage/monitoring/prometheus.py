"""Totals of a prediction service's prediction requests and their failures, from ``/metrics``.

Only prediction endpoints count (``/predict`` and the v2 ``infer`` routes):
probes and scrapes would dilute the rate. A failure is an answer of 500 or
above; refused input (4xx) is the caller's error and is counted apart.
"""

from __future__ import annotations

import math
import re

REQUESTS = "mlstage_serving_requests_total"
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def _is_prediction(endpoint: str) -> bool:
    return endpoint == "/predict" or endpoint.endswith("/infer")


def scrape_totals(text: str) -> dict[str, float]:
    """``{"requests", "errors", "client_errors"}`` summed over replicas' label sets.

    ``ValueError`` when the text has no request counter (not a prediction service).
    """
    totals = {"requests": 0.0, "errors": 0.0, "client_errors": 0.0}
    seen = False
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match.group(1) != REQUESTS:
            continue
        seen = True
        labels = dict(_LABEL.findall(match.group(2) or ""))
        value = float(match.group(3))
        if not math.isfinite(value) or not _is_prediction(labels.get("endpoint", "")):
            continue
        totals["requests"] += value
        status = labels.get("status", "")
        if status.startswith("5"):
            totals["errors"] += value
        elif status.startswith("4"):
            totals["client_errors"] += value
    if not seen:
        raise ValueError(f"no {REQUESTS} counter in the answer: is this a prediction service?")
    return totals
