"""Loopback-only network guard for every Python process of the serving and feature benchmarks.

bench/run_serving.py and bench/run_features.py put this folder on ``PYTHONPATH`` and set
``BENCH_NET_LOG``; then each Python process (the set-up workers, both
services, the ``uvicorn`` that ``mlflow models serve`` execs, anything they
start) may bind and connect on the loopback interface only. Any other
connection or name look-up is refused and appended to that file at once
(a server is stopped by a signal, so nothing waits for exit).
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_NET_LOG"):
    import ipaddress
    import socket
    import sys

    _LOG = os.environ["BENCH_NET_LOG"]
    _LOCAL_NAMES = {None, "", "localhost", b"localhost"}

    def _is_local(host: object) -> bool:
        if host in _LOCAL_NAMES:
            return True
        try:
            text = host.decode() if isinstance(host, bytes) else str(host)
            return ipaddress.ip_address(text.split("%", 1)[0]).is_loopback
        except ValueError:
            return False

    def _record(what: str) -> None:
        try:
            with open(_LOG, "a", encoding="utf-8") as fh:
                fh.write(f"pid {os.getpid()} {' '.join(sys.argv)[:160]}: {what}\n")
        except OSError:
            pass

    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex
    _getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> object:
        if self.family == socket.AF_UNIX or _is_local(address[0]):  # type: ignore[index]
            return _connect(self, address)
        _record(f"connect {address!r}")
        raise OSError(f"bench: network disabled (connect {address!r})")

    def connect_ex(self: socket.socket, address: object) -> object:
        if self.family == socket.AF_UNIX or _is_local(address[0]):  # type: ignore[index]
            return _connect_ex(self, address)
        _record(f"connect_ex {address!r}")
        return 111  # ECONNREFUSED

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if _is_local(host):
            return _getaddrinfo(host, *args, **kwargs)
        _record(f"getaddrinfo {host!r}")
        raise socket.gaierror(f"bench: network disabled (lookup {host!r})")

    connect.bench_guard = True  # type: ignore[attr-defined]
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
