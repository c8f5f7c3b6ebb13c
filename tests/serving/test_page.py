"""The prediction page: generated from the signature, served by the real prediction service.

The browser tests drive headless Chromium against ``create_serving_app`` on
a real socket, on the SQLite backend only (they are the slow ones, and the
page talks to the service, never to the database). Each keeps a screenshot
in test-artifacts/.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

import mlstage
from mlstage import config
from mlstage.models.loading import load_model
from mlstage.models.signature import ColumnSpec, Signature
from mlstage.server.auth import is_protected, live_routes
from mlstage.server.testing import start_server
from mlstage.serving.app import create_serving_app
from mlstage.serving.page import CONTENT_SECURITY_POLICY, form_fields
from tests.browser import open_page, screenshot

PAYLOAD = "<img src=x onerror=alert(1)>"
IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
CONTRACTS = ["month-to-month", "one year", "two year"]
PAGE_PATHS = {"/", "/static/page.js", "/static/page.css"}
sqlite_only = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


# -- models and the service ------------------------------------------------------------


def customers(payload: str | None = None, rows: int = 240) -> tuple[pd.DataFrame, np.ndarray]:
    """A churn table with one column of every signature type; ``payload`` goes into names.

    With a payload, it names the float column, is one of the contracts and
    is the label of churning customers: text a page must show, never run.
    """
    rng = np.random.default_rng(3)
    charges = payload or "monthly_charges"
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(0, 72, rows),
            charges: rng.uniform(18.25, 118.75, rows).round(2),
            "contract": rng.choice([*CONTRACTS, *([payload] if payload else [])], rows),
            "paperless": rng.choice([True, False], rows),
            "signed_up": pd.Timestamp("2023-01-01")
            + pd.to_timedelta(rng.integers(0, 700, rows), unit="D"),
            "customer_id": [f"c{i:05d}" for i in range(rows)],
            "support_calls": np.where(rng.random(rows) < 0.1, np.nan, rng.integers(0, 9, rows)),
        }
    )
    churns = (frame["tenure"] < 20) & (frame["contract"] != "two year")
    return frame, np.where(churns, payload or "yes", "no")


def customer_model(frame: pd.DataFrame, labels: np.ndarray) -> Any:
    """A pipeline on tenure, charges, contract and the flag; the other columns ride along."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    prepare = ColumnTransformer(
        [
            ("contract", OneHotEncoder(handle_unknown="ignore"), ["contract"]),
            ("numbers", "passthrough", list(frame.columns[:2])),
            ("flags", "passthrough", ["paperless"]),
        ]
    )
    return make_pipeline(prepare, LogisticRegression(max_iter=2000)).fit(frame, labels)


def register(name: str, model: Any, example: pd.DataFrame) -> str:
    with mlstage.start_run():
        uri = mlstage.log_model(model, "model", input_example=example).model_uri
    return f"{name}/{mlstage.register_model(uri, name).version}"


@pytest.fixture
def serve(project: Path) -> Iterator[Callable[[str], str]]:
    """``serve("churn/1")``: the real prediction service on a real socket; its base URL."""
    stops: list[Callable[[], None]] = []

    def start(target: str) -> str:
        settings = config.load_settings(start=project)
        app = create_serving_app(target, settings)
        base_url, stop = start_server(settings, app=app)
        stops.extend([app.state.service.close, stop])
        return base_url

    yield start
    for stop in reversed(stops):
        stop()


@pytest.fixture
def iris_frame(iris: tuple[pd.DataFrame, pd.Series]) -> pd.DataFrame:
    return iris[0]


@pytest.fixture
def churn_url(churn_versions: list[int], serve: Callable[[str], str]) -> str:
    return serve(f"churn/{churn_versions[0]}")


@pytest.fixture
def customers_target(backend: str) -> tuple[str, pd.DataFrame]:
    frame, labels = customers()
    return register("customers", customer_model(frame, labels), frame), frame


@pytest.fixture
def hostile_target(backend: str) -> tuple[str, pd.DataFrame]:
    frame, labels = customers(PAYLOAD)
    return register("hostile", customer_model(frame, labels), frame), frame


# -- page helpers ----------------------------------------------------------------------


def load(page: Any, url: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("body[data-ready=true]")


def control(page: Any, column: str) -> Any:
    """The form control of ``column``: model text is compared in the page, never put in a selector."""
    index = page.eval_on_selector_all(
        "#predict-form [data-column]",
        "(els, name) => els.findIndex(e => e.dataset.column === name)",
        column,
    )
    assert index >= 0, f"no field for column {column!r}"
    return page.locator(f"#field-{index}")


def fill_record(page: Any, record: dict[str, Any]) -> None:
    for column, value in record.items():
        field = control(page, column)
        if isinstance(value, bool):
            field.set_checked(value)
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill("" if value is None else str(value))


def predict(page: Any) -> None:
    page.click("#predict-button")
    page.wait_for_selector("#result:not([hidden]), #form-error:not([hidden])")


def shown_prediction(page: Any) -> str:
    return str(page.locator("#prediction .value").text_content())


def service_error(url: str, body: bytes, content_type: str) -> str:
    """The message the service itself gives for this body (the page must show the same)."""
    response = httpx.post(f"{url}/predict", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 422, response.text
    return str(response.json()["error"]["message"])


def assert_clean(watch: Any) -> None:
    assert watch.csp_violations() == []
    assert watch.console_errors == []
    assert watch.page_errors == []
    assert watch.dialogs == []


# -- without a browser -----------------------------------------------------------------


def test_form_fields_follow_each_column_type() -> None:
    signature = Signature(
        inputs=[
            ColumnSpec(name="n", type="integer", min=0.0, max=71.0),
            ColumnSpec(name="x", type="float", min=-2.421833014859781, max=118.24, nullable=True),
            ColumnSpec(name="s", type="string", categories=["a", "b"]),
            ColumnSpec(name="b", type="boolean"),
            ColumnSpec(name="t", type="datetime"),
            ColumnSpec(name="free", type="string", nullable=True),
        ]
    )
    n, x, s, b, t, free = form_fields(signature)
    assert (n.widget, n.step, n.min, n.max, n.hint) == (
        "number",
        "1",
        "0",
        "71",
        "training range 0 to 71",
    )
    # exact bounds for the range check, rounded ones for people
    assert (x.step, x.min, x.max) == ("any", "-2.421833014859781", "118.24")
    assert x.hint == "training range -2.42183 to 118.24; may be left empty"
    assert (s.widget, s.categories, s.hint) == ("select", ("a", "b"), None)
    assert (b.widget, t.widget, t.step) == ("checkbox", "datetime", "1")
    assert (free.widget, free.hint) == ("text", "may be left empty")
    assert form_fields(None) == []


@sqlite_only
def test_page_headers_and_static_files(churn_url: str) -> None:
    with httpx.Client(base_url=churn_url) as client:
        page = client.get("/")
        script = client.get("/static/page.js")
        style = client.get("/static/page.css")
        again = client.get("/static/page.js", headers={"If-None-Match": script.headers["etag"]})
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert re.findall(r"<script(?![^>]*\ssrc=)", page.text) == []  # no inline script
    assert re.findall(r"\son[a-z]+=", page.text) == []  # no inline event handler
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    assert script.headers["x-content-type-options"] == "nosniff"
    assert again.status_code == 304


@sqlite_only
def test_page_routes_ask_for_the_caller(churn_versions: list[int], project: Path) -> None:
    app = create_serving_app(f"churn/{churn_versions[0]}", config.load_settings(start=project))
    try:
        routes = [r for r in live_routes(app) if getattr(r, "path", None) in PAGE_PATHS]
        assert {r.path for r in routes} == PAGE_PATHS
        assert all(is_protected(r) for r in routes)
    finally:
        app.state.service.close()


@sqlite_only
def test_model_text_is_escaped_in_the_html(
    hostile_target: tuple[str, pd.DataFrame], serve: Callable[[str], str]
) -> None:
    html = httpx.get(serve(hostile_target[0]) + "/").text
    assert PAYLOAD not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


# -- in Chromium -----------------------------------------------------------------------


@pytest.mark.browser
@sqlite_only
def test_form_has_a_field_per_column(
    browser: Any,
    customers_target: tuple[str, pd.DataFrame],
    serve: Callable[[str], str],
    tmp_path: Path,
) -> None:
    target, frame = customers_target
    url = serve(target)
    with open_page(browser) as watch:
        page = watch.page
        load(page, url)
        kinds = page.eval_on_selector_all(
            "#predict-form [data-column]",
            "els => els.map(e => [e.dataset.column, e.tagName, e.type,"
            " e.getAttribute('min'), e.getAttribute('max'), e.getAttribute('step')])",
        )
        charges = kinds.pop(1)
        assert charges[:3] == ["monthly_charges", "INPUT", "number"]
        assert float(charges[3]) == frame["monthly_charges"].min()
        assert float(charges[4]) == frame["monthly_charges"].max()
        assert charges[5] == "any"
        top_tenure, top_calls = int(frame["tenure"].max()), int(frame["support_calls"].max())
        assert kinds == [
            ["tenure", "INPUT", "number", "0", str(top_tenure), "1"],
            ["contract", "SELECT", "select-one", None, None, None],
            ["paperless", "INPUT", "checkbox", None, None, None],
            ["signed_up", "INPUT", "datetime-local", None, None, "1"],
            ["customer_id", "INPUT", "text", None, None, None],
            ["support_calls", "INPUT", "number", "0", str(top_calls), "any"],
        ]
        options = control(page, "contract").locator("option").all_text_contents()
        assert options == CONTRACTS
        assert page.locator("#field-0-hint").text_content() == f"training range 0 to {top_tenure}"

        record = {
            "tenure": 500,  # allowed, but flagged
            "monthly_charges": 70.5,
            "contract": "month-to-month",
            "paperless": True,
            "signed_up": "2024-03-01T10:30:00",
            "customer_id": "c-new",
            "support_calls": None,
        }
        fill_record(page, record)
        assert page.locator("#field-0-flag").is_visible()
        assert not page.locator("#field-1-flag").is_visible()
        predict(page)
        expected = load_model(f"models:/{target}").predict(pd.DataFrame([record]))[0]
        assert shown_prediction(page) == str(expected)
        assert "Outside the training range: tenure" in str(
            page.locator("#result-warning").text_content()
        )
        screenshot(page, tmp_path, "prediction-page-fields")
        assert_clean(watch)


@pytest.mark.browser
@sqlite_only
def test_form_gives_the_model_prediction_and_probabilities(
    browser: Any,
    churn_url: str,
    churn_versions: list[int],
    iris_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    row = iris_frame.iloc[[77]]
    model = load_model(f"models:/churn/{churn_versions[0]}")
    with open_page(browser) as watch:
        page = watch.page
        load(page, churn_url)
        assert page.title() == f"churn v{churn_versions[0]}"
        fill_record(page, row.iloc[0].to_dict())
        predict(page)
        assert shown_prediction(page) == str(model.predict(row)[0])
        bars = page.locator("#probabilities li")
        assert bars.count() == 3
        names = bars.locator(".bar-name").all_text_contents()
        values = bars.locator(".bar-value").all_text_contents()
        probabilities = dict(zip(names, values, strict=True))
        for label, p in zip(model.model.classes_, model.predict_proba(row)[0], strict=True):
            assert probabilities[str(label)] == f"{100 * p:.1f}%"
        assert bars.first.locator(".bar-name").text_content() == shown_prediction(page)
        assert page.locator("#form-error").is_hidden()
        screenshot(page, tmp_path, "prediction-page-result")
        assert_clean(watch)


@pytest.mark.browser
@sqlite_only
def test_bad_values_show_the_service_message(
    browser: Any, churn_url: str, iris_frame: pd.DataFrame, tmp_path: Path
) -> None:
    record: dict[str, Any] = {**iris_frame.iloc[0].to_dict(), "sepal_width": None}
    expected = service_error(
        churn_url, json.dumps({"records": [record]}).encode(), "application/json"
    )
    assert "sepal_width" in expected and "row 0" in expected
    missing_column = tmp_path / "no-petals.csv"
    iris_frame.drop(columns=["petal_width"]).head(5).to_csv(missing_column, index=False)
    expected_csv = service_error(churn_url, missing_column.read_bytes(), "text/csv")
    with open_page(browser) as watch:
        page = watch.page
        load(page, churn_url)
        fill_record(page, record)
        predict(page)
        assert page.locator("#form-error").text_content() == expected
        assert page.locator("#result").is_hidden()
        page.set_input_files("#csv-file", str(missing_column))
        page.click("#csv-button")
        page.wait_for_selector("#csv-error:not([hidden])")
        assert page.locator("#csv-error").text_content() == expected_csv
        screenshot(page, tmp_path, "prediction-page-error")
        assert watch.dialogs == [] and watch.page_errors == [] and watch.csp_violations() == []


@pytest.mark.browser
@sqlite_only
def test_csv_upload_shows_a_table_and_downloads_every_row(
    browser: Any,
    churn_url: str,
    churn_versions: list[int],
    iris_frame: pd.DataFrame,
    tmp_path: Path,
) -> None:
    upload = tmp_path / "iris.csv"
    iris_frame.to_csv(upload, index=False)
    model = load_model(f"models:/churn/{churn_versions[0]}")
    with open_page(browser) as watch:
        page = watch.page
        load(page, churn_url)
        page.set_input_files("#csv-file", str(upload))
        page.click("#csv-button")
        page.wait_for_selector("#csv-result:not([hidden])")
        assert page.locator("#csv-summary").text_content() == (
            "150 rows scored; the first 100 are shown."
        )
        assert page.locator("#csv-table tbody tr").count() == 100
        header = page.locator("#csv-table thead th").all_text_contents()
        assert header[:5] == [*IRIS, "prediction"]
        with page.expect_download() as download:
            page.click("#csv-download")
        assert download.value.suggested_filename == "iris-scored.csv"
        scored = pd.read_csv(download.value.path())
        assert len(scored) == 150
        assert scored["prediction"].tolist() == model.predict(iris_frame).tolist()
        assert scored["prediction_id"].nunique() == 150
        screenshot(page, tmp_path, "prediction-page-csv")
        assert_clean(watch)


@pytest.mark.browser
@sqlite_only
def test_model_text_never_runs_as_script(
    browser: Any,
    hostile_target: tuple[str, pd.DataFrame],
    serve: Callable[[str], str],
    tmp_path: Path,
) -> None:
    target, frame = hostile_target
    url = serve(target)
    upload = tmp_path / "hostile.csv"
    frame.head(3).to_csv(upload, index=False)
    with open_page(browser) as watch:
        page = watch.page
        load(page, url)
        label = control(page, PAYLOAD).evaluate("e => e.labels[0].firstChild.textContent")
        assert label.strip() == PAYLOAD  # the column name, as a label
        assert PAYLOAD in control(page, "contract").locator("option").all_text_contents()
        churner = {
            "tenure": 3,
            PAYLOAD: None,
            "contract": PAYLOAD,
            "paperless": True,
            "signed_up": "2024-01-01T00:00:00",
            "customer_id": "x",
            "support_calls": 1,
        }
        fill_record(page, churner)
        predict(page)
        assert PAYLOAD in str(page.locator("#form-error").text_content())  # in the error
        fill_record(page, {PAYLOAD: 99.5})
        predict(page)
        assert shown_prediction(page) == PAYLOAD  # the class label, as text
        assert PAYLOAD in page.locator("#probabilities .bar-name").all_text_contents()
        page.set_input_files("#csv-file", str(upload))
        page.click("#csv-button")
        page.wait_for_selector("#csv-result:not([hidden])")
        assert PAYLOAD in page.locator("#csv-table thead th").all_text_contents()
        screenshot(page, tmp_path, "prediction-page-xss")
        assert page.evaluate("document.querySelectorAll('img, [onerror]').length") == 0
        assert watch.dialogs == []
        assert watch.page_errors == []
        assert watch.csp_violations() == []
