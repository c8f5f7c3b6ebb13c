"""The request log over the platform server's REST API (``http(s)://host:port``).

Same operations as ``SqlPredictionLogStore``, so ``RequestLogger`` and
``read_prediction_log`` work unchanged against a team server. An upload may
be sent again (the transport retries it like a ``PUT``) because the server
files content under its hash: the same bytes twice are indexed once. Each
download is checked against the sha256 of the listing it was chosen from,
not only against what the download says of itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstage.errors import IntegrityError
from mlstage.http_client import API, HttpApi
from mlstage.models.names import canonical_model_name
from mlstage.serving.request_log_store import (
    PARQUET_MEDIA_TYPE,
    LogFile,
    PredictionLogFile,
    check_file_id,
)

if TYPE_CHECKING:
    from mlstage.serving.request_log_store import PredictionLogStore

PATH = "/prediction-logs"


class HttpPredictionLogStore(HttpApi):
    """``PredictionLogStore`` over HTTP, one pooled ``httpx.Client`` per store."""

    def write_file(self, file: LogFile) -> tuple[PredictionLogFile, bool]:
        """Upload the file; its index entry, and whether this upload created it."""
        response = self._send(
            "POST",
            API + PATH,
            content=file.data,
            params={"model": canonical_model_name(file.model)},
            headers={"Content-Type": PARQUET_MEDIA_TYPE},
            idempotent=True,
        )
        entry = PredictionLogFile.model_validate(response.json())
        if entry.sha256 != file.sha256:
            raise IntegrityError(
                f"the server indexed prediction-log file {file.file_id} under sha256 "
                f"{entry.sha256}, but the file sent hashes to {file.sha256}"
            )
        return entry, response.status_code == 201

    def find_files(
        self, model: str, since_ms: int | None, until_ms: int | None
    ) -> list[PredictionLogFile]:
        """Every file of ``model`` that may hold rows in ``[since, until)``, oldest first."""
        params = {"model": canonical_model_name(model)}
        if since_ms is not None:
            params["since_ms"] = str(int(since_ms))
        if until_ms is not None:
            params["until_ms"] = str(int(until_ms))
        data = self._json("GET", PATH, params=params)
        return [PredictionLogFile.model_validate(f) for f in data["files"]]

    def file_bytes(self, file: PredictionLogFile) -> bytes:
        """The file's bytes; ``IntegrityError`` unless they hash to the listed sha256."""
        file_id = check_file_id(file.file_id)  # it goes into a URL: it must not reshape it
        what = f"prediction-log file {file.file_id} of model {file.model!r}"
        return self._download(f"{API}{PATH}/{file_id}", what, recorded=file.sha256)


if TYPE_CHECKING:
    _conforms: type[PredictionLogStore] = HttpPredictionLogStore
