"""Personal data masked or hashed in the request log files written and in the UI's pages.

The request log is read back from the Parquet blobs the logger stored; the
pages are rendered by the platform app in process, over the same project.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import string
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlstage import config
from mlstage.artifacts.store import ArtifactStore
from mlstage.config import Settings
from mlstage.data.pii import is_nric
from mlstage.errors import InvalidInput
from mlstage.governance.pii_masking import Masker, raw_values_allowed
from mlstage.server import create_app
from mlstage.serving.request_log import PredictionRecord, RequestLogger
from mlstage.store import tables as t
from mlstage.store.database import get_database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
CARDS = ["4111111111111111", "5500005555555559", "4012888888881881", "378282246310005"]


def nric(n: int) -> str:
    """A valid NRIC: seven digits and the check letter that makes them one."""
    digits = f"{1234567 + n * 7919:07d}"[-7:]
    return next(f"S{digits}{c}" for c in string.ascii_uppercase if is_nric(f"S{digits}{c}"))


def email(n: int) -> str:
    return f"person.{n}@example.com"


def inputs(n: int) -> dict[str, Any]:
    return {
        "email": email(n),
        "nric": nric(n),
        "card": CARDS[n % len(CARDS)],
        "customer_name": f"Tan Ah {n}",
        "age": 20 + n,
        "plan": ["basic", "pro"][n % 2],
    }


def logged_rows(settings: Settings, model: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Log ``rows`` as predictions of ``model``; the Parquet files written, read back as one."""
    logger = RequestLogger(settings, model=model, flush_interval=60)
    for i, row in enumerate(rows):
        logger.log(
            PredictionRecord(
                uuid.uuid4().hex, T0 + i, model, 1, None, "primary", None, row, 1, None, 1.0
            )
        )
    logger.close()
    db = get_database(settings.tracking_uri)
    with db.read() as conn:
        shas = [
            r.sha256
            for r in conn.execute(
                t.prediction_logs.select().where(t.prediction_logs.c.model == model)
            )
        ]
    blobs = ArtifactStore(settings.artifact_root)
    frames = [pq.read_table(io.BytesIO(blobs.get_bytes(sha))).to_pandas() for sha in shas]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def keyed(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]


# -- the request log ------------------------------------------------------------------------


def test_request_log_files_hold_emails_nric_and_cards_masked(project: Path) -> None:
    settings = config.get_settings()
    frame = logged_rows(settings, "churn", [inputs(n) for n in range(20)])
    assert len(frame) == 20
    assert set(frame["input.email"]) == {"***"}
    assert set(frame["input.nric"]) == {"***"}
    assert list(frame["input.card"]) == ["****" + CARDS[n % 4][-4:] for n in range(20)]
    # not flagged, not declared: untouched
    assert list(frame["input.age"]) == [20 + n for n in range(20)]
    assert list(frame["input.plan"]) == [["basic", "pro"][n % 2] for n in range(20)]
    assert list(frame["input.customer_name"]) == [f"Tan Ah {n}" for n in range(20)]


def test_declared_columns_are_masked_in_their_model_only(project: Path) -> None:
    settings = config.get_settings().with_overrides(pii_columns=("churn:customer_name", "Plan"))
    churn = logged_rows(settings, "churn", [inputs(n) for n in range(6)])
    other = logged_rows(settings, "fraud", [inputs(n) for n in range(6)])
    assert set(churn["input.customer_name"]) == {"***"}
    assert list(other["input.customer_name"]) == [f"Tan Ah {n}" for n in range(6)]
    assert set(churn["input.plan"]) == set(other["input.plan"]) == {"***"}  # declared everywhere
    assert list(churn["input.age"]) == [20 + n for n in range(6)]


def test_hashes_are_stable_keyed_and_join_across_files(project: Path) -> None:
    settings = config.get_settings().with_overrides(pii_mode="hash", pii_hash_key="k-one")
    first = logged_rows(settings, "churn", [inputs(n) for n in range(8)])
    shouted = [{**inputs(n), "email": email(n).upper()} for n in range(8)]
    again = logged_rows(settings, "fraud", shouted)
    assert list(first["input.email"]) == [keyed("k-one", email(n)) for n in range(8)]
    assert list(again["input.email"]) == list(first["input.email"])  # normalised: joins work
    assert list(first["input.nric"]) == [keyed("k-one", nric(n)) for n in range(8)]
    card = Masker(settings).value("4111 1111 1111 1111", "card_number")
    assert card == keyed("k-one", "4111111111111111") == first["input.card"][0]
    other_key = Masker(settings.with_overrides(pii_hash_key="k-two")).value(email(0), "email")
    assert other_key != first["input.email"][0] and len(other_key) == 32
    assert list(first["input.plan"]) == [["basic", "pro"][n % 2] for n in range(8)]


def test_hash_mode_without_a_key_writes_nothing_rather_than_raw_values(project: Path) -> None:
    settings = config.get_settings().with_overrides(pii_mode="hash")
    logger = RequestLogger(settings, model="churn", flush_interval=60)
    logger.log(
        PredictionRecord("p1", T0, "churn", 1, None, "primary", None, inputs(1), 1, None, 1.0)
    )
    logger.close()
    assert (logger.written, logger.failed_records) == (0, 1)
    with get_database(settings.tracking_uri).read() as conn:
        assert conn.execute(t.prediction_logs.select()).first() is None
    with pytest.raises(InvalidInput, match="'pii_hash_key' is empty"):
        Masker(settings)
    with pytest.raises(InvalidInput, match="'pii_mode' must be mask or hash, got 'blur'"):
        Masker(settings.with_overrides(pii_mode="blur"))


def test_raw_values_stay_only_where_the_classification_allows(project: Path) -> None:
    settings = config.get_settings()
    assert not raw_values_allowed(settings, "public")  # default: always masked
    allow = settings.with_overrides(pii_raw_max_classification="internal")
    assert raw_values_allowed(allow, "public") and raw_values_allowed(allow, None)
    assert not raw_values_allowed(allow, "confidential")
    raw = logged_rows(allow, "churn", [inputs(n) for n in range(4)])
    assert list(raw["input.email"]) == [email(n) for n in range(4)]
    with pytest.raises(InvalidInput, match="'pii_raw_max_classification' must be one of"):
        raw_values_allowed(settings.with_overrides(pii_raw_max_classification="secret"))


# -- the UI ---------------------------------------------------------------------------------


def customers(rows: int, shift: int = 0) -> pd.DataFrame:
    return pd.DataFrame([inputs(n + shift) for n in range(rows)])


@pytest.fixture
def ui(project: Path) -> Iterator[TestClient]:
    import mlstage

    mlstage.datasets.register("customers", customers(30))
    mlstage.datasets.register("customers", customers(30, shift=5))
    settings = config.get_settings().with_overrides(
        pii_columns=("customers:customer_name",), allowed_hosts=("testserver",)
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def assert_masked(page: str, names: bool = True) -> None:
    for n in range(35):
        assert email(n) not in page
        assert nric(n) not in page
        assert not names or f"Tan Ah {n}<" not in page
    for card in CARDS:
        assert card not in page


def test_dataset_pages_show_statistics_of_personal_data_masked(ui: TestClient) -> None:
    page = ui.get("/datasets/customers")
    assert page.status_code == 200, page.text[:300]
    assert_masked(page.text)
    assert "***" in page.text and "****1111" in page.text
    assert "basic" in page.text and "pro" in page.text  # not personal data: shown as it is
    drift = ui.get("/datasets/customers/drift", params={"base": "1", "current": "2"})
    assert drift.status_code == 200, drift.text[:300]
    assert_masked(drift.text)
    report = ui.get("/datasets/customers/drift/report.html", params={"base": "1", "current": "2"})
    assert report.status_code == 200
    assert_masked(report.text)


def test_artifact_previews_mask_csv_and_parquet_tables(ui: TestClient) -> None:
    from mlstage.tracking.store import get_tracking_store

    store = get_tracking_store()
    experiment = store.create_experiment("pii-previews")
    run_id = store.create_run(experiment.experiment_id, "r").run_id
    buffer = io.BytesIO()
    customers(10).to_parquet(buffer)
    store.log_artifact(run_id, "rows.parquet", buffer.getvalue())
    store.log_artifact(run_id, "rows.csv", customers(10).to_csv(index=False).encode())
    for path in ("rows.parquet", "rows.csv"):
        page = ui.get(f"/runs/{run_id}/preview", params={"path": path})
        assert page.status_code == 200, page.text[:300]
        assert_masked(page.text, names=False)  # declared for the dataset "customers" only
        assert "Tan Ah 0<" in page.text
        assert "****1111" in page.text and ">basic<" in page.text and ">***<" in page.text


# -- monitoring snapshots ---------------------------------------------------------------------


def test_drift_results_keep_no_raw_values_of_personal_data(project: Path) -> None:
    from mlstage.monitoring.check import run_check
    from mlstage.monitoring.definitions import FeatureDrift, Monitoring

    settings = config.get_settings()
    customers(40).to_parquet(project / "reference.parquet")  # raw e-mails in the reference
    logged_rows(settings, "churn", [inputs(n) for n in range(40)])
    monitoring = Monitoring(
        model="churn",
        monitors=[
            FeatureDrift(reference="reference.parquet", features=["email", "plan"], min_rows=10)
        ],
        base=project,
    )
    report = run_check("churn", monitoring=monitoring, settings=settings, now_ms=T0 + 86_400_000)
    bins = {r.metric: r.details.get("bins") for r in report.results}
    assert bins["drift_score[plan]"] == ["basic", "pro"]
    assert bins["drift_score[email]"] and all("@" not in b for b in bins["drift_score[email]"])
    with get_database(settings.tracking_uri).read() as conn:
        stored = " ".join(
            conn.execute(
                t.monitor_results.select().with_only_columns(t.monitor_results.c.details)
            ).scalars()
        )
    assert "example.com" not in stored and "basic" in stored


def test_dataset_show_exports_statistics_masked(project: Path) -> None:
    import json

    from typer.testing import CliRunner

    import mlstage
    from mlstage.cli.main import app

    mlstage.datasets.register("customers", customers(30))
    shown = CliRunner().invoke(app, ["datasets", "show", "customers@1", "--json"])
    assert shown.exit_code == 0, shown.output
    assert_masked(shown.output, names=False)
    top = json.loads(shown.output)["statistics"]["features"]
    assert top["email"]["top_values"][0]["value"] == "***"
    assert {v["value"] for v in top["plan"]["top_values"]} == {"basic", "pro"}
