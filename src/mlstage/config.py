"""Settings: one typed object, resolved lazily.

Order of precedence, highest first: explicit overrides (CLI flags, keyword
arguments), ``MLSTAGE_*`` environment variables, the project's
``mlstage.toml``, then defaults. The project root is the nearest folder,
from the working directory upwards, holding ``mlstage.toml``; without one it
is the working directory. Relative paths are taken from the project root.

Only the standard library is imported here, so ``import mlstage`` stays fast.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mlstage.errors import InvalidInput

CONFIG_FILE = "mlstage.toml"
HOME_DIR = ".mlstage"


@dataclass(frozen=True)
class Settings:
    """Every setting mlstage reads; each is documented in the README."""

    tracking_uri: str = ""
    """``sqlite:///path.db``, ``postgresql+psycopg://...`` or ``http(s)://host:port``."""
    artifact_root: str = ""
    """A folder, or ``s3://bucket/prefix``."""
    s3_endpoint_url: str = ""
    """Endpoint of an S3-compatible server (MinIO, Ceph, moto); empty for AWS."""
    heartbeat_interval: float = 10.0
    """Seconds between heartbeats of a running run."""
    heartbeat_timeout: float = 90.0
    """Seconds without a heartbeat after which a RUNNING run is marked FAILED."""
    metric_flush_interval: float = 1.0
    """Seconds between background writes of buffered metrics."""
    metric_batch_size: int = 1000
    """Points written in one batch (the REST API takes at most 1,000)."""
    sqlite_busy_timeout: float = 60.0
    """Seconds a SQLite writer waits for the lock before retrying."""
    sqlite_synchronous: str = "NORMAL"
    """SQLite ``synchronous`` pragma: NORMAL (WAL-safe, fast) or FULL (fsync every commit)."""
    http_timeout: float = 30.0
    """Seconds the HTTP client waits for the server."""
    tracking_token: str = ""
    """Bearer token sent to a remote server."""
    model_trusted_types: tuple[str, ...] = ()
    """Extra types skops may load from model files, beyond mlstage's vetted scikit-learn list."""
    allow_pickle_models: bool = False
    """Let model files that are pickles (.pkl, .joblib, pickled arrays) load. Admins only."""
    server_host: str = "127.0.0.1"
    """Address ``mlstage server`` listens on (use 0.0.0.0 only behind a firewall)."""
    server_port: int = 5000
    """Port ``mlstage server`` listens on."""
    server_max_upload_bytes: int = 512 * 1024 * 1024
    """Largest artifact upload the server accepts, in bytes (bigger ones get 413)."""
    serving_max_batch_rows: int = 64
    """Rows of concurrent requests a prediction service scores in one model call."""
    serving_max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body a prediction service accepts, in bytes (bigger ones get 413)."""
    serving_max_rows: int = 10_000
    """Rows in one prediction request (more get 413)."""
    serving_max_queued_rows: int = 2_048
    """Rows waiting for one model version; past it, requests get 503 at once (load shedding)."""
    deployment_poll_interval: float = 2.0
    """Seconds between a prediction service's reads of its deployment record (hot swap)."""
    project_name: str = "default"
    """The project new experiments are created in; roles are granted per project."""
    auth_required: bool = False
    """Make the server require a token or a signed-in session on every route but the public ones."""
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    """Host names the server answers to (``*`` for any); others get 403 (DNS rebinding)."""
    login_max_failures: int = 5
    """Failed sign-ins for one user name within ``login_window`` before 429 (an address gets 4x)."""
    login_window: float = 900.0
    """Seconds over which failed sign-ins are counted."""
    drift_linf_threshold: float = 0.05
    """Default L-infinity threshold for categorical drift and skew (a schema's comparator wins)."""
    drift_jsd_threshold: float = 0.02
    """Default Jensen-Shannon divergence (base 2) threshold for numeric drift and skew."""
    drift_share: float = 0.5
    """Share of drifted features at or above which a whole dataset counts as drifted."""
    online_store: str = ""
    """Online feature store: ``sqlite:///path.db`` (default ``.mlstage/online.db``) or
    ``redis://host:port/db``."""
    serving_features: tuple[str, ...] = ()
    """``view:feature`` references a prediction service fills into ``/predict`` rows by key."""
    feedback_lookback_days: float = 90.0
    """Days of the request log searched for the prediction a label belongs to."""
    alert_allowed_networks: tuple[str, ...] = ()
    """CIDRs of private, loopback or link-local addresses alert webhooks may reach anyway."""
    alert_smtp_host: str = ""
    """``host:port`` of the SMTP server alert e-mails go through (empty: e-mail is off)."""
    alert_smtp_sender: str = "mlstage@localhost"
    """The ``From`` address of alert e-mails."""
    alert_webhook_timeout: float = 10.0
    """Seconds one webhook attempt may take before it counts as failed."""
    # -- environments and data classification (task "environments", issue 9) --
    environment: str = ""
    """The environment this process works in (``mlstage environments create``); empty: no
    environment policy. A deployment's own environment wins for serving."""
    classification_levels: tuple[str, ...] = ("public", "internal", "confidential", "restricted")
    """The organisation's data classifications, lowest first."""
    default_classification: str = "internal"
    """The classification of data nobody labelled (``mlstage classify``)."""
    classified_download_roles: tuple[str, ...] = ("confidential:maintainer", "restricted:admin")
    """``level:role`` pairs: downloads and exports of objects at that level or above need
    at least that role (signed-in callers of the server)."""
    # -- PII masking, retention, garbage collection (task "pii", issue 9) --
    pii_mode: str = "mask"
    """How personal data is hidden in the request log, previews, UI pages and exports:
    ``mask`` (``***``, cards keep their last four digits) or ``hash`` (keyed HMAC-SHA256)."""
    pii_hash_key: str = ""
    """The key of the ``hash`` mode of ``pii_mode`` (needed then): one key, the same hashes."""
    pii_columns: tuple[str, ...] = ()
    """Columns declared sensitive beyond the detectors': ``column`` (everywhere) or
    ``name:column`` (only in the model or dataset ``name``)."""
    pii_raw_max_classification: str = ""
    """Highest classification whose data keeps raw personal data; empty: always masked."""
    retention_days: tuple[str, ...] = ()
    """``classification=days`` pairs (``*`` for any other): request logs, monitor results
    and feedback older than that are deleted by ``mlstage retention apply``; unlisted: kept."""
    gc_grace_seconds: float = 3600.0
    """Blobs younger than this are never collected by ``mlstage gc`` (writes in flight)."""
    project_root: str = ""
    """Folder holding mlstage.toml (or the working directory)."""
    project: Mapping[str, Any] = field(default_factory=dict)
    """The ``[project]`` table of mlstage.toml: owner, objective, success_metric, ..."""

    @property
    def home(self) -> Path:
        return Path(self.project_root) / HOME_DIR

    def with_overrides(self, **overrides: Any) -> Settings:
        return dataclasses.replace(self, **_coerce_all(overrides, source="override"))


_SETTING_NAMES = {f.name for f in fields(Settings)} - {"project_root", "project"}


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder upwards from ``start`` holding mlstage.toml, else ``start``."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file():
            return folder
    return here


def load_settings(start: Path | None = None, **overrides: Any) -> Settings:
    """Resolve settings from overrides, env vars, mlstage.toml and defaults."""
    root = find_project_root(start)
    values: dict[str, Any] = {}
    project: dict[str, Any] = {}
    config_path = root / CONFIG_FILE
    if config_path.is_file():
        file_values, project = _read_config_file(config_path)
        values.update(file_values)
    values.update(_from_env(os.environ))
    values.update(_coerce_all({k: v for k, v in overrides.items() if v is not None}, "override"))
    settings = _fill_defaults(Settings(project_root=str(root), project=project, **values))
    if settings.environment:  # its own database and artifact root, if it has them
        from mlstage.governance.environment_storage import storage_settings

        settings = storage_settings(settings)
    return settings


def _fill_defaults(settings: Settings) -> Settings:
    root = Path(settings.project_root)
    changes: dict[str, Any] = {}
    if not settings.tracking_uri:
        changes["tracking_uri"] = f"sqlite:///{root / HOME_DIR / 'mlstage.db'}"
    elif settings.tracking_uri.startswith("sqlite:///") and not settings.tracking_uri.startswith(
        "sqlite:////"
    ):
        relative = settings.tracking_uri.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            changes["tracking_uri"] = f"sqlite:///{(root / relative).resolve()}"
    if not settings.artifact_root:
        changes["artifact_root"] = str(root / HOME_DIR / "artifacts")
    elif "://" not in settings.artifact_root:
        changes["artifact_root"] = str((root / settings.artifact_root).resolve())
    return dataclasses.replace(settings, **changes) if changes else settings


def _read_config_file(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc
    project = data.pop("project", {})
    if not isinstance(project, dict):
        raise InvalidInput(f"{path}: 'project' must be a table, got {type(project).__name__}")
    unknown = sorted(set(data) - _SETTING_NAMES)
    if unknown:
        raise InvalidInput(
            f"{path}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are {', '.join(sorted(_SETTING_NAMES))}"
        )
    return _coerce_all(data, source=str(path)), project


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    found = {
        name: environ[f"MLSTAGE_{name.upper()}"]
        for name in _SETTING_NAMES
        if environ.get(f"MLSTAGE_{name.upper()}", "") != ""
    }
    return _coerce_all(found, source="environment")


def _coerce_all(values: Mapping[str, Any], source: str) -> dict[str, Any]:
    types = {f.name: f.type for f in fields(Settings)}
    out: dict[str, Any] = {}
    for name, raw in values.items():
        if name not in _SETTING_NAMES:
            raise InvalidInput(f"unknown setting {name!r} (from {source})")
        out[name] = _coerce(name, raw, str(types[name]), source)
    return out


def _coerce(name: str, raw: Any, type_name: str, source: str) -> Any:
    label = f"setting {name!r} (from {source}, env MLSTAGE_{name.upper()})"
    if type_name == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise InvalidInput(f"{label} must be true or false, got {raw!r}")
    if type_name.startswith("tuple"):
        items = raw.split(",") if isinstance(raw, str) else raw
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise InvalidInput(f"{label} must be a list of strings, got {raw!r}")
        return tuple(i.strip() for i in items if i.strip())
    try:
        if type_name == "float":
            value = float(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
        if type_name == "int":
            value = int(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{label} must be a positive number, got {raw!r}") from exc
    if not isinstance(raw, str):
        raise InvalidInput(f"{label} must be a string, got {raw!r}")
    if name == "sqlite_synchronous" and raw.upper() not in {"NORMAL", "FULL", "EXTRA"}:
        raise InvalidInput(f"{label} must be NORMAL, FULL or EXTRA, got {raw!r}")
    return raw.upper() if name == "sqlite_synchronous" else raw


_current: Settings | None = None


def get_settings() -> Settings:
    """The process's settings, resolved on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    """Replace the process's settings (``None`` resolves them again on next use)."""
    global _current
    _current = settings
