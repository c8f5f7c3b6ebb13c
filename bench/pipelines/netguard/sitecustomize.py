"""Network guard for every Python process of a pipelines measurement (see bench/run_pipelines.py).

The runner puts this folder on ``PYTHONPATH`` and sets ``BENCH_NET_LOG``. Each
Python process (a worker, a pool process, a Dask worker, a Metaflow step)
may connect to the loopback interface only (Dask's scheduler and workers
talk over 127.0.0.1); anything else is refused and appended to that file.
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_NET_LOG"):
    import atexit
    import socket
    import sys

    _attempts: list[str] = []
    _LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")

    def _local(address: object) -> bool:
        host = address[0] if isinstance(address, tuple) and address else address
        return isinstance(host, str) and host.startswith(_LOOPBACK)

    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX or _local(address):
            return _connect(self, address)  # type: ignore[arg-type]
        _attempts.append(f"connect {address!r}")
        raise OSError(f"bench: network disabled (connect {address!r})")

    def connect_ex(self: socket.socket, address: object) -> int:
        if self.family == socket.AF_UNIX or _local(address):
            return _connect_ex(self, address)  # type: ignore[arg-type]
        _attempts.append(f"connect_ex {address!r}")
        return 111  # ECONNREFUSED

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host is None or _local(host):
            return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]
        _attempts.append(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"bench: network disabled (lookup {host!r})")

    socket.socket.connect = connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

    def _report() -> None:
        if _attempts:
            with open(os.environ["BENCH_NET_LOG"], "a", encoding="utf-8") as fh:
                for attempt in _attempts:
                    fh.write(f"pid {os.getpid()} {' '.join(sys.argv)[:200]}: {attempt}\n")

    atexit.register(_report)
