"""The fluent tracking API: ``mlstage.start_run``, ``mlstage.log_metric`` and friends.

State per process: the current experiment, a stack of active runs, and per
store a metric buffer and a heartbeat. A run ends FINISHED when its ``with``
block completes, FAILED on an exception, KILLED on Ctrl-C or SIGTERM; runs
still open when the interpreter exits end FINISHED (FAILED after an uncaught
exception).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Literal

from mlstage import config
from mlstage.errors import Conflict, InvalidInput, NotFound
from mlstage.tracking import validation as v
from mlstage.tracking.buffer import Heartbeat, MetricBuffer
from mlstage.tracking.entities import DatasetInput, Experiment, Metric, Run, RunStatus
from mlstage.tracking.store import (
    DEFAULT_EXPERIMENT,
    MAX_PAGE_SIZE,
    TrackingStore,
    get_tracking_store,
)

if TYPE_CHECKING:
    import pandas as pd

_lock = threading.RLock()
_run_stack: list[ActiveRun] = []
_experiment_name: str | None = None
_buffers: dict[int, MetricBuffer] = {}
_heartbeats: dict[int, Heartbeat] = {}
_hooks_installed = False
_uncaught = False


class ActiveRun:
    """The run ``start_run`` opened; a context manager that ends it."""

    def __init__(self, run: Run, store: TrackingStore) -> None:
        self.run_id = run.run_id
        self.experiment_id = run.experiment_id
        self.name = run.name
        self._store = store

    @property
    def info(self) -> Run:
        """The run as stored now (metrics buffered but not yet written are not included)."""
        return self._store.get_run(self.run_id)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            status, reason = RunStatus.FINISHED, ""
        elif issubclass(exc_type, KeyboardInterrupt):
            status, reason = RunStatus.KILLED, "interrupted (KeyboardInterrupt)"
        else:
            status, reason = RunStatus.FAILED, f"{exc_type.__name__}: {exc}"[:2000]
        _end(self, status, reason)

    def __repr__(self) -> str:
        return f"ActiveRun(run_id={self.run_id!r}, name={self.name!r})"


# -- configuration ------------------------------------------------------------------


def set_tracking_uri(uri: str) -> None:
    """Point the fluent API at another store (``sqlite:///...``, ``postgresql+psycopg://...``, ``http://...``)."""
    if _run_stack:
        raise InvalidInput("cannot change the tracking URI while a run is active; end it first")
    config.set_settings(config.get_settings().with_overrides(tracking_uri=uri))


def get_tracking_uri() -> str:
    return config.get_settings().tracking_uri


def _store() -> TrackingStore:
    return get_tracking_store()


def _buffer(store: TrackingStore) -> MetricBuffer:
    buffer = _buffers.get(id(store))
    if buffer is None:
        settings = config.get_settings()
        with _lock:
            buffer = _buffers.setdefault(
                id(store),
                MetricBuffer(
                    store,
                    flush_interval=settings.metric_flush_interval,
                    batch_size=settings.metric_batch_size,
                ),
            )
    return buffer


def _heartbeat(store: TrackingStore) -> Heartbeat:
    with _lock:
        beat = _heartbeats.get(id(store))
        if beat is None:
            beat = Heartbeat(store, config.get_settings().heartbeat_interval)
            _heartbeats[id(store)] = beat
        return beat


# -- experiments and runs -----------------------------------------------------------------


def set_experiment(name: str, project: str | None = None) -> Experiment:
    """Make ``name`` the current experiment, creating it in ``project`` if needed.

    ``project`` defaults to the ``project_name`` setting.
    """
    global _experiment_name
    experiment = _store().get_or_create_experiment(
        v.check_name(name, "experiment name"), project=project or _project_name()
    )
    _experiment_name = experiment.name
    return experiment


_experiment_ids_cache: dict[tuple[int, str], str] = {}


def _project_name() -> str:
    return config.get_settings().project_name


def _resolve_experiment_id(
    store: TrackingStore, experiment: str | None, fresh: bool = False
) -> str:
    """The id of the experiment to start runs in, cached: a sweep starts many runs."""
    name = (
        experiment or _experiment_name or os.environ.get("MLSTAGE_EXPERIMENT") or DEFAULT_EXPERIMENT
    )
    key = (id(store), name)
    if fresh or key not in _experiment_ids_cache:
        found = store.get_or_create_experiment(name, project=_project_name())
        _experiment_ids_cache[key] = found.experiment_id
    return _experiment_ids_cache[key]


def start_run(
    name: str | None = None,
    *,
    experiment: str | None = None,
    tags: Mapping[str, str] | None = None,
    nested: bool = False,
) -> ActiveRun:
    """Start a run in the current experiment; use it as ``with mlstage.start_run() as run:``."""
    from mlstage.tracking.context import collect_context, lock_file_tags

    if _run_stack and not nested:
        raise InvalidInput(
            f"run {_run_stack[-1].run_id} is already active; end it first or pass nested=True"
        )
    store = _store()
    all_tags = dict(tags or {})
    if _run_stack:
        all_tags.setdefault("mlstage.parent_run_id", _run_stack[-1].run_id)
    for key, value in lock_file_tags(config.get_settings().project_root):
        all_tags.setdefault(key, value)
    context = collect_context()
    try:
        run = store.create_run(_resolve_experiment_id(store, experiment), name, context, all_tags)
    except (NotFound, Conflict):  # the cached experiment was deleted meanwhile
        run = store.create_run(
            _resolve_experiment_id(store, experiment, fresh=True), name, context, all_tags
        )
    active = ActiveRun(run, store)
    with _lock:
        _run_stack.append(active)
    _heartbeat(store).add(run.run_id)
    _install_hooks()
    return active


def end_run(status: RunStatus | str = RunStatus.FINISHED) -> None:
    """End the innermost active run."""
    if _run_stack:
        _end(_run_stack[-1], RunStatus(status), "")


def _end(active: ActiveRun, status: RunStatus, reason: str) -> None:
    with _lock:
        if active in _run_stack:
            _run_stack.remove(active)
    store = active._store
    _heartbeat(store).discard(active.run_id)
    try:
        _buffer(store).flush()
    finally:
        store.end_run(active.run_id, status, reason)


def active_run() -> ActiveRun | None:
    return _run_stack[-1] if _run_stack else None


def _require_run(run_id: str | None = None) -> tuple[str, TrackingStore]:
    if run_id is not None:
        return v.check_run_id(run_id), _store()
    if not _run_stack:
        raise InvalidInput("no active run: call mlstage.start_run() first, or pass run_id=")
    active = _run_stack[-1]
    return active.run_id, active._store


def get_run(run_id: str) -> Run:
    store = _store()
    _buffer(store).flush()
    return store.get_run(run_id)


def get_metric_history(run_id: str, key: str) -> list[Metric]:
    store = _store()
    _buffer(store).flush()
    return store.get_metric_history(run_id, key)


# -- logging --------------------------------------------------------------------------


def log_metric(
    key: str,
    value: float,
    step: int | None = None,
    *,
    run_id: str | None = None,
    timestamp: int | None = None,
) -> None:
    """Record one point; buffered, and durable once the run ends or ``flush()`` returns."""
    rid, store = _require_run(run_id)
    key = v.check_key(key, "metric key")
    value = v.check_metric_value(key, value)
    step = 0 if step is None else v.check_step(key, step)
    ts = time.time_ns() // 1_000_000 if timestamp is None else int(timestamp)
    _buffer(store).add(rid, key, value, step, ts)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, *, run_id: str | None = None
) -> None:
    rid, store = _require_run(run_id)
    if not isinstance(metrics, Mapping):
        raise InvalidInput(
            f"metrics must be a dict of name to number, got {type(metrics).__name__}"
        )
    checked = [
        (v.check_key(k, "metric key"), v.check_metric_value(k, x)) for k, x in metrics.items()
    ]
    step = 0 if step is None else v.check_step("step", step)
    ts = time.time_ns() // 1_000_000
    buffer = _buffer(store)
    for key, value in checked:
        buffer.add(rid, key, value, step, ts)


def flush() -> None:
    """Write buffered metrics now (raises ``DataLoss`` if some could not be stored)."""
    for buffer in list(_buffers.values()):
        buffer.flush()


def log_param(key: str, value: Any, *, run_id: str | None = None) -> None:
    log_params({key: value}, run_id=run_id)


def log_params(params: Mapping[str, Any], *, run_id: str | None = None) -> None:
    """Record parameters; a param, once logged, cannot change."""
    rid, store = _require_run(run_id)
    if not isinstance(params, Mapping):
        raise InvalidInput(f"params must be a dict, got {type(params).__name__}")
    items = {v.check_key(k, "param key"): v.check_param_value(k, x) for k, x in params.items()}
    keys = list(items)
    for start in range(0, len(keys), v.MAX_BATCH_PARAMS):
        chunk = {k: items[k] for k in keys[start : start + v.MAX_BATCH_PARAMS]}
        store.log_batch(rid, params=chunk)


def set_tag(key: str, value: Any, *, run_id: str | None = None) -> None:
    set_tags({key: value}, run_id=run_id)


def set_tags(tags: Mapping[str, Any], *, run_id: str | None = None) -> None:
    rid, store = _require_run(run_id)
    if not isinstance(tags, Mapping):
        raise InvalidInput(f"tags must be a dict, got {type(tags).__name__}")
    items = {v.check_key(k, "tag key"): v.check_tag_value(k, x) for k, x in tags.items()}
    keys = list(items)
    for start in range(0, len(keys), v.MAX_BATCH_TAGS):
        store.log_batch(rid, tags={k: items[k] for k in keys[start : start + v.MAX_BATCH_TAGS]})


def log_input(
    data: Any,
    name: str | None = None,
    *,
    context: str = "training",
    source: str = "",
    run_id: str | None = None,
) -> DatasetInput:
    """Record the dataset a run used: name, content digest, row count and column schema.

    ``data`` is a DataFrame, array or Arrow table (give ``name``), or a registered
    dataset version (a ``DatasetVersion`` or a reference such as ``"churn@3"``): the
    run then links to exactly that version (``mlstage.datasets.lineage``).
    """
    from mlstage.tracking.datasets import describe_dataset

    rid, store = _require_run(run_id)
    item = DatasetInput(dataset=describe_dataset(data, name, source), context=context)
    store.log_inputs(rid, [item])
    return item


# -- artifacts --------------------------------------------------------------------------


def _join(folder: str | None, name: str) -> str:
    return f"{folder.strip('/')}/{name}" if folder else name


def log_artifact(
    local_path: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> str:
    """Store a local file under ``artifact_path/<file name>`` of the run; return its path."""
    rid, store = _require_run(run_id)
    path = Path(local_path)
    if not path.is_file():
        raise InvalidInput(f"local_path {str(local_path)!r} is not a file")
    target = _join(artifact_path, path.name)
    return store.log_artifact(rid, target, path.read_bytes()).path


def log_artifacts(
    local_dir: str | os.PathLike[str],
    artifact_path: str | None = None,
    *,
    run_id: str | None = None,
) -> list[str]:
    """Store every file below ``local_dir``, keeping the folder structure."""
    rid, store = _require_run(run_id)
    root = Path(local_dir)
    if not root.is_dir():
        raise InvalidInput(f"local_dir {str(local_dir)!r} is not a folder")
    stored = []
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = file.relative_to(root).as_posix()
        stored.append(
            store.log_artifact(rid, _join(artifact_path, relative), file.read_bytes()).path
        )
    return stored


def log_text(text: str, artifact_file: str, *, run_id: str | None = None) -> str:
    rid, store = _require_run(run_id)
    return store.log_artifact(rid, artifact_file, text.encode("utf-8")).path


def log_dict(
    dictionary: Mapping[str, Any], artifact_file: str, *, run_id: str | None = None
) -> str:
    """Store a dict as JSON (``.json``) or YAML (``.yaml``/``.yml``)."""
    suffix = Path(artifact_file).suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError as exc:
            raise InvalidInput("log_dict to .yaml needs PyYAML: pip install pyyaml") from exc
        text = yaml.safe_dump(dict(dictionary), sort_keys=False)
    elif suffix == ".json":
        text = json.dumps(dictionary, indent=2, default=str)
    else:
        raise InvalidInput(f"artifact_file {artifact_file!r} must end in .json, .yaml or .yml")
    return log_text(text, artifact_file, run_id=run_id)


def log_figure(figure: Any, artifact_file: str, *, run_id: str | None = None) -> str:
    """Store a matplotlib figure (.png, .svg, .pdf) or a Plotly figure (.html, .json)."""
    rid, store = _require_run(run_id)
    suffix = Path(artifact_file).suffix.lower()
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        import io

        if suffix not in (".png", ".svg", ".pdf", ".jpg", ".jpeg"):
            raise InvalidInput(
                f"artifact_file {artifact_file!r}: a matplotlib figure saves as "
                ".png, .svg, .pdf or .jpg"
            )
        out = io.BytesIO()
        figure.savefig(out, format=suffix.lstrip("."), bbox_inches="tight")
        data = out.getvalue()
    elif module.startswith("plotly"):
        if suffix == ".html":
            # Self-contained: the page must open on a closed network.
            data = figure.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")
        elif suffix == ".json":
            data = figure.to_json().encode("utf-8")
        else:
            raise InvalidInput(
                f"artifact_file {artifact_file!r}: a Plotly figure saves as .html or .json"
            )
    else:
        raise InvalidInput(
            f"log_figure takes a matplotlib or Plotly figure, got {type(figure).__name__}"
        )
    return store.log_artifact(rid, artifact_file, data).path


# -- search -------------------------------------------------------------------------------


def _experiment_ids(store: TrackingStore, experiments: str | Sequence[str] | None) -> list[str]:
    if experiments is None:
        if _experiment_name is None:
            return [e.experiment_id for e in store.list_experiments()]
        experiments = [_experiment_name]
    elif isinstance(experiments, str):
        experiments = [experiments]
    ids = []
    for item in experiments:
        found = store.get_experiment_by_name(item)
        if found is None and str(item).isdigit():
            found = store.get_experiment(str(item))
        if found is None:
            raise NotFound(f"experiment {item!r} does not exist")
        ids.append(found.experiment_id)
    return ids


def search_runs(
    experiments: str | Sequence[str] | None = None,
    filter: str | None = None,
    order_by: Sequence[str] | None = None,
    max_results: int = 100_000,
    output: Literal["pandas", "list"] = "pandas",
) -> pd.DataFrame | list[Run]:
    """Runs of the named experiments (names or ids) matching ``filter``.

    Returns a DataFrame with ``run_id``, ``run_name``, ``status``, times,
    ``metrics.*``, ``params.*`` and ``tags.*`` columns, or ``Run`` objects
    with ``output="list"``.
    """
    if output not in ("pandas", "list"):
        raise InvalidInput(f"output must be 'pandas' or 'list', got {output!r}")
    orders = [order_by] if isinstance(order_by, str) else order_by
    store = _store()
    _buffer(store).flush()
    ids = _experiment_ids(store, experiments)
    if output == "pandas" and hasattr(store, "search_runs_table"):
        frame = _search_frame(store, ids, filter, orders, max_results)
        if frame is not None:
            return frame
    runs: list[Run] = []
    token: str | None = None
    while len(runs) < max_results:
        page = store.search_runs(
            ids, filter, orders, min(MAX_PAGE_SIZE, max_results - len(runs)), token
        )
        runs.extend(page.runs)
        token = page.next_page_token
        if token is None:
            break
    return runs if output == "list" else runs_frame(runs)


def _search_frame(
    store: Any,
    ids: list[str],
    filter: str | None,
    orders: Sequence[str] | None,
    max_results: int,
) -> pd.DataFrame | None:
    """The runs as a DataFrame from the store's columnar pages (``runs_table``), or None
    when the store cannot give them (a server that answers JSON only)."""
    from mlstage.tracking import runs_table

    tables = []
    token: str | None = None
    fetched = 0
    while fetched < max_results:
        page = store.search_runs_table(
            ids, filter, orders, min(MAX_PAGE_SIZE, max_results - fetched), token
        )
        if page is None:
            return None
        tables.append(page)
        fetched += page.num_rows
        token = runs_table.page_token(page)
        if token is None:
            break
    return runs_table.frame_of(runs_table.concat_pages(tables))


def runs_frame(runs: Sequence[Run]) -> pd.DataFrame:
    """Runs as a DataFrame, built column by column (fast for thousands of runs)."""
    import pandas as pd

    n = len(runs)
    base: dict[str, list[Any]] = {
        "run_id": [r.run_id for r in runs],
        "experiment_id": [r.experiment_id for r in runs],
        "run_name": [r.name for r in runs],
        "status": [r.status.value for r in runs],
        "start_time": [r.start_time for r in runs],
        "end_time": [r.end_time for r in runs],
    }
    extra: dict[str, list[Any]] = {}
    for prefix, attr in (("metrics", "metrics"), ("params", "params"), ("tags", "tags")):
        fill = float("nan") if prefix == "metrics" else None
        for i, run in enumerate(runs):
            for key, value in getattr(run, attr).items():
                column = extra.get(f"{prefix}.{key}")
                if column is None:
                    column = extra[f"{prefix}.{key}"] = [fill] * n
                column[i] = value
    from mlstage.tracking.runs_table import with_timestamps

    return with_timestamps(pd.DataFrame({**base, **dict(sorted(extra.items()))}))


# -- process exit and signals ------------------------------------------------------------------


def _install_hooks() -> None:
    global _hooks_installed
    with _lock:
        if _hooks_installed:
            return
        _hooks_installed = True
    atexit.register(_at_exit)
    previous_hook = sys.excepthook

    def excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        global _uncaught
        _uncaught = True
        _end_all(RunStatus.FAILED, f"uncaught {kind.__name__}: {exc}")
        previous_hook(kind, exc, tb)

    sys.excepthook = excepthook
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous is not signal.SIG_IGN:
            signal.signal(signal.SIGTERM, _sigterm_handler(previous))


def _sigterm_handler(previous: Any) -> Any:
    def handler(signum: int, frame: FrameType | None) -> None:
        _end_all(RunStatus.KILLED, "killed by SIGTERM")
        if callable(previous):
            previous(signum, frame)
            return
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    return handler


def _end_all(status: RunStatus, reason: str) -> None:
    while _run_stack:
        try:
            _end(_run_stack[-1], status, reason)
        except Exception as exc:  # the process is going; say what could not be recorded
            print(f"mlstage: could not end run: {exc}", file=sys.stderr)


def _at_exit() -> None:
    _end_all(RunStatus.FAILED if _uncaught else RunStatus.FINISHED, "")
    try:
        flush()
    except Exception as exc:
        print(f"mlstage: {exc}", file=sys.stderr)
