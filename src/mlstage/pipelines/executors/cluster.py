"""Start or join a Dask cluster: the one way in for every part of mlstage that uses Dask.

The pipeline's Dask executor, batch scoring (``serving/batch_dask.py``) and
dataset statistics (``data/statistics_dask.py``) all take the same
``executor`` value: ``"dask"`` starts a ``distributed.LocalCluster`` of worker
processes (one thread each, on 127.0.0.1, no dashboard) for the call, and
``"tcp://host:8786"`` joins a running scheduler, wherever it is deployed.
Dask is imported here only when a cluster is asked for.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlstage.errors import InvalidInput, Unavailable

INSTALL_HINT = "pip install 'mlstage[dask]'"


class DaskCluster:
    """A client connected to a cluster, and the local cluster it started (if it did)."""

    def __init__(self, client: Any, cluster: Any, address: str) -> None:
        self.client = client
        self.cluster = cluster
        self.address = address

    def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            client.close()
        cluster, self.cluster = self.cluster, None
        if cluster is not None:
            cluster.close()


def connect(
    executor: str,
    *,
    what: str = "this",
    n_workers: int | None = None,
    resources: dict[str, float] | None = None,
) -> DaskCluster:
    """Start a local cluster (``"dask"``) or join a scheduler (``"tcp://host:port"``).

    ``what`` names the feature in the error raised when Dask is not installed;
    ``n_workers`` and ``resources`` apply to a local cluster only (default: one
    worker process per core).
    """
    if executor != "dask" and not executor.startswith("tcp://"):
        raise InvalidInput(f"executor {executor!r}: use 'dask' or 'tcp://host:port'")
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InvalidInput(f"{what} needs dask.distributed: {INSTALL_HINT}") from exc
    cluster: Any = None
    try:
        if executor == "dask":
            options: dict[str, Any] = {}
            if n_workers is not None:
                options["n_workers"] = n_workers
            if resources:
                options["resources"] = resources
            with warnings.catch_warnings():
                # Its HTTP server (health, metrics; on 127.0.0.1) moves off a busy 8787.
                warnings.filterwarnings("ignore", message="Port .* is already in use")
                cluster = LocalCluster(  # type: ignore[no-untyped-call]
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    **options,
                )
            client: Any = Client(cluster)  # type: ignore[no-untyped-call]
            return DaskCluster(client, cluster, "dask (local cluster)")
        client = Client(executor, timeout="10s")  # type: ignore[no-untyped-call]
        return DaskCluster(client, None, executor)
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise Unavailable(f"cannot reach the Dask scheduler at {executor}: {exc}") from exc


@contextmanager
def dask_client(executor: str, *, what: str = "this") -> Iterator[Any]:
    """``connect`` for the length of a ``with`` block: yields the ``distributed.Client``."""
    found = connect(executor, what=what)
    try:
        yield found.client
    finally:
        found.close()
