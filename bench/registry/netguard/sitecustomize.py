"""Network guard for every Python process of a registry measurement (see bench/run_registry.py).

The runner puts this folder on ``PYTHONPATH`` and sets ``BENCH_NET_LOG``; then
each Python process (a worker, or a subprocess a tool starts, such as MLflow's
requirement inference at ``log_model``) refuses connections and name
look-ups from its first line, and appends any attempt to that file at exit.
"""

from __future__ import annotations

import os

if os.environ.get("BENCH_NET_LOG"):
    import atexit
    import importlib.util
    import sys

    _path = os.path.join(
        os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        "tracking",
        "_common.py",
    )
    _spec = importlib.util.spec_from_file_location("_common", _path)
    if _spec is not None and _spec.loader is not None:
        _common = importlib.util.module_from_spec(_spec)
        sys.modules["_common"] = _common
        _spec.loader.exec_module(_common)
        _common.guard_network()

        def _report() -> None:
            if _common.network_attempts:
                with open(os.environ["BENCH_NET_LOG"], "a", encoding="utf-8") as fh:
                    for attempt in _common.network_attempts:
                        fh.write(f"pid {os.getpid()} {' '.join(sys.argv)[:200]}: {attempt}\n")

        atexit.register(_report)
