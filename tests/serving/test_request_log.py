"""The request log: written off the request path in batches, read back by model and time window.

The storage tests run on each backend: SQLite, PostgreSQL, and ``http``, a
real platform server over the project's SQLite store that the logger
uploads to and the reader downloads from.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlstage import config, http_client
from mlstage.artifacts.store import ArtifactStore
from mlstage.config import Settings
from mlstage.errors import IntegrityError, InvalidInput, Unavailable
from mlstage.server.app import create_app
from mlstage.server.testing import start_server
from mlstage.serving.request_log import PredictionRecord, RequestLogger, read_prediction_log
from mlstage.serving.request_log_store import LogFile, SqlPredictionLogStore, read_window
from mlstage.store import tables as t
from mlstage.store.database import get_database

LOGGER = "mlstage.serving.request_log"
DAY_MS = 86_400_000
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z


@pytest.fixture
def settings(backend: str) -> Settings:
    """Settings of a fresh project, its metadata on each backend (``http``: through a server)."""
    return config.get_settings()


@pytest.fixture
def database_uri(backend: str, project: Path, settings: Settings) -> str:
    """The database the index lives in: for ``http``, the server's (the project's SQLite)."""
    if backend == "http":
        return config.load_settings(start=project).tracking_uri
    return settings.tracking_uri


def record(
    i: int, *, ts: int | None = None, inputs: dict[str, Any] | None = None, model: str = "churn"
) -> PredictionRecord:
    return PredictionRecord(
        prediction_id=uuid.uuid4().hex,
        timestamp_ms=T0 + i if ts is None else ts,
        model=model,
        version=1 + i % 3,
        deployment="churn-prod" if i % 2 else None,
        route=("primary", "candidate", "shadow")[i % 3],
        request_key=f"customer-{i}" if i % 4 else None,
        inputs={"sepal_length": 5.0 + i % 7, "petal_width": 0.1 * (i % 5)}
        if inputs is None
        else inputs,
        output=i % 3,
        probabilities=[0.2, 0.3, 0.5],
        latency_ms=1.25,
    )


def index_rows(database_uri: str) -> list[Any]:
    db = get_database(database_uri)
    with db.read() as conn:
        return list(
            conn.execute(t.prediction_logs.select().order_by(t.prediction_logs.c.min_timestamp))
        )


def test_records_from_eight_threads_read_back_exactly_while_a_reader_reads(
    settings: Settings, database_uri: str
) -> None:
    logger = RequestLogger(settings, model="churn", flush_interval=0.05, batch_rows=700)
    logged: dict[str, PredictionRecord] = {}
    lock = threading.Lock()
    done = threading.Event()
    seen_counts: list[int] = []
    reader_errors: list[BaseException] = []

    def write(worker: int) -> None:
        for n in range(1250):
            i = worker * 1250 + n
            # Half the threads send an extra column, the other half another one.
            extra = {"region": f"r{worker}"} if worker % 2 else {"tenure": worker * 10 + n}
            rec = record(i, inputs={"sepal_length": float(i), **extra})
            with lock:
                logged[rec.prediction_id] = rec
            logger.log(rec)

    def read() -> None:
        while not done.is_set():
            try:
                seen_counts.append(len(read_prediction_log("churn", settings=settings)))
            except BaseException as exc:
                reader_errors.append(exc)
                return
            time.sleep(0.02)

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(w,)) for w in range(8)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    logger.flush()
    done.set()
    reader.join()
    logger.close()

    assert reader_errors == []
    assert seen_counts == sorted(seen_counts)  # readers see whole files, never a partial one
    assert (logger.written, logger.dropped, logger.failed_batches) == (10_000, 0, 0)
    frame = read_prediction_log("churn", settings=settings)
    assert len(frame) == 10_000
    assert set(frame["prediction_id"]) == set(logged)
    columns = list(frame.columns)
    assert columns[:7] == [
        "prediction_id",
        "timestamp",
        "model",
        "version",
        "deployment",
        "route",
        "request_key",
    ]
    assert set(columns[7:-4]) == {"input.sepal_length", "input.region", "input.tenure"}
    assert columns[-4:] == ["output", "probabilities", "latency_ms", "error"]
    assert frame["error"].isna().all()
    assert frame["timestamp"].is_monotonic_increasing
    by_id = frame.set_index("prediction_id")
    for rec in list(logged.values())[::997]:
        row = by_id.loc[rec.prediction_id]
        assert row["timestamp"] == rec.timestamp_ms
        assert row["version"] == rec.version
        assert row["route"] == rec.route
        assert row["input.sepal_length"] == rec.inputs["sepal_length"]
        assert list(row["probabilities"]) == rec.probabilities
        if "region" in rec.inputs:
            assert row["input.region"] == rec.inputs["region"]
            assert row["input.tenure"] != row["input.tenure"]  # NaN: that row had no tenure
        else:
            assert row["input.tenure"] == rec.inputs["tenure"]
    assert sum(r.rows for r in index_rows(database_uri)) == 10_000


def test_a_full_queue_drops_records_and_never_blocks(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = SqlPredictionLogStore.write_file

    def slow_write(self: SqlPredictionLogStore, file: Any) -> Any:
        time.sleep(0.3)  # on the http backend, the server's store is the slow one
        return original(self, file)

    monkeypatch.setattr(SqlPredictionLogStore, "write_file", slow_write)
    logger = RequestLogger(settings, model="churn", flush_interval=0.01, max_queue=20)
    durations = []
    for i in range(2_000):
        started = time.perf_counter()
        logger.log(record(i))
        durations.append(time.perf_counter() - started)
    assert max(durations) < 0.05  # the writer sleeps 0.3 s a file: no call waited for it
    assert sum(durations) < 0.5
    assert logger.dropped > 0
    logger.close()
    assert logger.written + logger.dropped == 2_000
    assert logger.failed_batches == 0
    assert len(read_prediction_log("churn", settings=settings)) == logger.written


def test_a_failing_artifact_store_is_retried_then_counted(
    settings: Settings,
    backend: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = {"n": 0}
    failures = {"left": 2}
    original = ArtifactStore.put_bytes

    def flaky(self: ArtifactStore, data: bytes) -> tuple[str, int]:
        calls["n"] += 1
        if failures["left"]:
            failures["left"] -= 1
            raise OSError("object store is down")
        return original(self, data)

    monkeypatch.setattr(ArtifactStore, "put_bytes", flaky)
    logger = RequestLogger(settings, model="churn", retries=2, retry_delay=0.01)

    # Two failures, then success: retried, nothing lost.
    for i in range(50):
        logger.log(record(i))
    logger.flush()
    assert (logger.written, logger.failed_batches, calls["n"]) == (50, 0, 3)

    # Always failing: three attempts, then counted and logged as an error.
    failures["left"] = 10**9
    calls["n"] = 0
    caplog.set_level(logging.WARNING, logger="mlstage.serving.request_log")
    for i in range(30):
        logger.log(record(100 + i))
    logger.flush()
    logger.close()
    assert calls["n"] == 3
    assert (logger.written, logger.failed_batches, logger.failed_records) == (50, 1, 30)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == LOGGER]
    assert len(errors) == 1
    assert "30 prediction(s)" in errors[0].getMessage()
    # The server keeps the cause to its own log and answers a bare 500.
    cause = "internal server error" if backend == "http" else "object store is down"
    assert cause in errors[0].getMessage()
    assert len(read_prediction_log("churn", settings=settings)) == 50


def test_window_filters_by_timestamp_and_files_are_per_day(
    settings: Settings, database_uri: str
) -> None:
    logger = RequestLogger(settings, model="churn")
    stamps = [T0 - 1000, T0, T0 + 5, T0 + DAY_MS - 1, T0 + DAY_MS, T0 + 2 * DAY_MS + 7]
    for i, ts in enumerate(stamps):
        logger.log(record(i, ts=ts))
    logger.close()

    assert [(r.day, r.rows) for r in index_rows(database_uri)] == [
        ("2025-12-31", 1),
        ("2026-01-01", 3),
        ("2026-01-02", 1),
        ("2026-01-03", 1),
    ]

    def window(since: int | None, until: int | None) -> list[int]:
        frame = read_prediction_log("churn", since_ms=since, until_ms=until, settings=settings)
        return [int(x) for x in frame["timestamp"]]

    assert window(None, None) == stamps
    assert window(T0, T0 + DAY_MS) == [T0, T0 + 5, T0 + DAY_MS - 1]  # since inclusive, until not
    assert window(T0 + 6, None) == stamps[3:]
    assert window(None, T0 + 1) == stamps[:2]
    assert window(T0 + 3 * DAY_MS, None) == []
    assert read_prediction_log("CHURN", settings=settings).shape[0] == 6  # names are canonical
    assert read_prediction_log("other", settings=settings).empty
    with pytest.raises(InvalidInput, match="before since_ms"):
        read_prediction_log("churn", since_ms=10, until_ms=5, settings=settings)


def test_inputs_whose_types_differ_between_files_read_back_together(settings: Settings) -> None:
    logger = RequestLogger(settings, model="churn")
    logger.log(record(0, inputs={"plan": 3, "age": 30}))
    logger.flush()
    logger.log(record(1, inputs={"plan": "gold"}))
    logger.flush()
    logger.log(record(2, inputs={"plan": [1, 2], "age": 41.5}))
    logger.close()

    frame = read_prediction_log("churn", settings=settings)
    assert list(frame["input.plan"]) == ["3", "gold", "[1, 2]"]  # clashing types become text
    assert list(frame["input.age"][[0, 2]]) == [30.0, 41.5]
    assert frame["input.age"].isna().tolist() == [False, True, False]


def test_reading_checks_each_file_against_its_hash(
    settings: Settings, database_uri: str, project: Path
) -> None:
    logger = RequestLogger(settings, model="churn")
    logger.log(record(0))
    logger.close()
    (row,) = index_rows(database_uri)
    root = config.load_settings(start=project).artifact_root  # the server's, for http
    blob = Path(root) / "sha256" / row.sha256[:2] / row.sha256[2:4] / row.sha256
    blob.write_bytes(blob.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(IntegrityError, match="corrupt"):
        read_prediction_log("churn", settings=settings)


@pytest.mark.services
def test_files_go_to_an_s3_artifact_root(project: Path, s3_server: str, s3_root: str) -> None:
    import fsspec

    settings = config.load_settings(start=project, artifact_root=s3_root, s3_endpoint_url=s3_server)
    logger = RequestLogger(settings, model="churn", batch_rows=40)
    for i in range(100):
        logger.log(record(i))
    logger.close()
    assert (logger.written, logger.failed_batches) == (100, 0)
    shas = [r.sha256 for r in index_rows(settings.tracking_uri)]
    assert len(shas) == 3  # 40 + 40 + 20
    fs = fsspec.filesystem("s3", client_kwargs={"endpoint_url": s3_server})
    for sha in shas:
        assert fs.exists(f"{s3_root}/sha256/{sha[:2]}/{sha[2:4]}/{sha}")
    frame = read_prediction_log("churn", settings=settings)
    assert len(frame) == 100
    assert frame["input.sepal_length"].notna().all()


def test_an_unreachable_server_counts_each_batch_once_and_reading_says_so(
    project: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(http_client, "_jitter", lambda delay: 0.0)  # no waiting between retries
    settings = config.load_settings(start=project, tracking_uri="http://127.0.0.1:9")
    logger = RequestLogger(settings, model="churn", retries=1, retry_delay=0.0)
    for batch in range(2):
        logger.log(record(batch))
        logger.flush()
    logger.close()
    assert (logger.written, logger.failed_batches, logger.failed_records) == (0, 2, 2)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == LOGGER]
    assert len(errors) == 2
    assert "did not answer POST /api/v1/prediction-logs" in errors[0].getMessage()
    with pytest.raises(Unavailable, match="did not answer GET /api/v1/prediction-logs"):
        read_prediction_log("churn", settings=settings)


def test_a_file_over_the_servers_body_limit_is_split_until_it_fits(project: Path) -> None:
    server_settings = config.load_settings(start=project)
    base_url, stop = start_server(
        server_settings,
        app=create_app(server_settings, max_body_bytes=12_000, max_upload_bytes=12_000),
    )
    try:
        settings = config.load_settings(start=project, tracking_uri=base_url)
        logger = RequestLogger(settings, model="churn", batch_rows=1_000)
        logged = [record(i) for i in range(400)]
        for rec in logged:
            logger.log(rec)
        logger.close()
        assert (logger.written, logger.failed_batches) == (400, 0)
        frame = read_prediction_log("churn", settings=settings)
    finally:
        stop()
    assert list(frame["prediction_id"]) == [r.prediction_id for r in logged]
    rows = index_rows(server_settings.tracking_uri)
    assert len(rows) > 1
    assert sum(r.rows for r in rows) == 400


def test_one_record_over_the_servers_limit_is_counted_as_failed(
    project: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server_settings = config.load_settings(start=project)
    base_url, stop = start_server(
        server_settings,
        app=create_app(server_settings, max_body_bytes=8_000, max_upload_bytes=8_000),
    )
    try:
        settings = config.load_settings(start=project, tracking_uri=base_url)
        logger = RequestLogger(settings, model="churn")
        logger.log(record(0, inputs={"text": os.urandom(10_000).hex()}))  # ~10 kB compressed
        logger.log(record(1))
        logger.close()
    finally:
        stop()
    assert (logger.written, logger.failed_batches, logger.failed_records) == (1, 1, 1)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == LOGGER]
    assert "over the limit of 8000 bytes" in errors[0].getMessage()


def test_an_upload_whose_answer_was_lost_is_sent_again_and_indexed_once(project: Path) -> None:
    from mlstage.serving.http_request_log import HttpPredictionLogStore
    from mlstage.serving.request_log_store import prepare_file

    server_settings = config.load_settings(start=project)
    base_url, stop = start_server(server_settings)
    sent: list[str] = []

    class AnswerLostOnce(httpx.HTTPTransport):
        """Delivers every request; the first upload's answer never comes back."""

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = super().handle_request(request)
            sent.append(request.method)
            if request.method == "POST" and sent.count("POST") == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset while reading the answer")
            return response

    settings = config.load_settings(start=project, tracking_uri=base_url)
    store = HttpPredictionLogStore(
        base_url, settings, client=httpx.Client(transport=AnswerLostOnce()), retry_delays=[0.0]
    )
    try:
        records = [record(i) for i in range(5)]
        file: LogFile = prepare_file("churn", "2026-01-01", records)
        entry, created = store.write_file(file)
        again, created_again = store.write_file(file)
        frame = read_window(store, "churn", None, None)
    finally:
        store.close()
        stop()
    assert sent[:2] == ["POST", "POST"]  # the same upload twice over the wire
    assert (created, created_again) == (False, False)  # the first attempt had created it
    assert entry == again
    assert entry.sha256 == file.sha256
    (row,) = index_rows(server_settings.tracking_uri)
    assert (row.file_id, row.rows) == (file.file_id, 5)
    assert list(frame["prediction_id"]) == [r.prediction_id for r in records]


def test_closed_logger_drops_and_close_is_idempotent(settings: Settings) -> None:
    logger = RequestLogger(settings, model="churn")
    logger.log(record(0))
    logger.close()
    logger.close()
    logger.log(record(1))
    assert (logger.written, logger.dropped) == (1, 1)
    assert not logger._thread.is_alive()


def test_bad_settings_are_refused(project: Path) -> None:
    settings = config.load_settings(start=project)
    with pytest.raises(InvalidInput, match="max_queue"):
        RequestLogger(settings, model="churn", max_queue=0)
    with pytest.raises(InvalidInput, match="model name"):
        RequestLogger(settings, model="no spaces")
