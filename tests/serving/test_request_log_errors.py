"""Rows the model failed to score reach the request log with the error: canaries are judged on it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import mlstage
from mlstage.serving.deployments import get_deployment_store
from mlstage.serving.request_log import read_prediction_log
from tests.serving import test_service
from tests.serving.test_service_swap import ROW, wait_for

serve = test_service.serve  # the fixture
Serve = test_service.Serve


def _broken_version() -> int:
    from tests.serving.model_code import Broken

    with mlstage.start_run():
        uri = mlstage.log_model(Broken(), "model", input_example=pd.DataFrame([ROW])).model_uri
    return mlstage.register_model(uri, "churn").version


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_failed_shadow_and_canary_rows_are_logged_with_their_error(
    backend: str, churn_versions: list[int], serve: Serve
) -> None:
    broken = _broken_version()
    store = get_deployment_store()
    store.deploy("churn-prod", "churn", "prod", 1, candidate_version=broken, strategy="shadow")
    client = serve("deployment:churn-prod", log_requests=True)
    answer = client.post("/predict", json={"records": [ROW, ROW], "key": "user-1"})
    assert answer.status_code == 200  # the shadow's failure never reaches the caller
    errors = f'mlstage_serving_shadow_errors_total{{model="churn",version="{broken}"}} 1.0'
    wait_for(lambda: errors in client.get("/metrics").text)

    store.deploy("churn-prod", "churn", "prod", 1, candidate_version=broken, strategy="canary",
                 weight=50)  # fmt: skip
    service: Any = client.app.state.service  # type: ignore[attr-defined]
    service.pool.refresh()
    codes = {
        client.post("/predict", json={"records": [ROW], "key": f"k{i}"}).status_code
        for i in range(40)
    }
    assert codes == {200, 500}, codes  # both arms answered; the broken one failed
    service.close()  # flushes the log

    logged = read_prediction_log("churn")
    failed = logged[logged["error"].notna()]
    assert set(failed["route"]) == {"shadow", "candidate"}
    assert set(failed["version"]) == {broken}
    assert set(failed["error"]) == {"RuntimeError: the feature table is gone"}
    assert failed["output"].isna().all()
    answered = logged[logged["error"].isna()]
    assert set(answered["version"]) == {1} and answered["output"].notna().all()
    shadow = logged[logged["route"] == "shadow"]
    assert sorted(shadow["prediction_id"]) == sorted(answer.json()["prediction_ids"])
