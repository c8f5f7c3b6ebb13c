"""A keep-alive HTTP client for the online lookup figure; the same for both services.

    python http_client.py --url http://127.0.0.1:PORT/features/online --kind mlstage \\
        --keys SHARED/keys.json --n 3000

One connection (``http.client``, keep-alive), one request at a time, one
entity's ten features per request: latency from the request's first byte to
the whole body read. The first 300 requests warm up and are not counted.
"""

from __future__ import annotations

import http.client
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).parent))
import _bench as b

WARMUP = 300


def main() -> None:
    args = b.parse_args(["run", *sys.argv[1:]])
    url = urlsplit(args["url"])
    keys = json.loads(Path(args["keys"]).read_text(encoding="utf-8"))["one"]
    n = int(args.get("n", "3000"))
    bodies = []
    for i in range(n + WARMUP):
        entities = {"customer_id": [keys[i % len(keys)]]}
        if args["kind"] == "mlstage":
            body = {"entities": entities, "features": b.REFS}
        else:
            body = {"features": b.REFS, "entities": entities}
        bodies.append(json.dumps(body).encode())
    server = int(args.get("server_pgid", "0"))
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    headers = {"Content-Type": "application/json", "Connection": "keep-alive"}
    samples = []
    first = None
    for i, body in enumerate(bodies):
        t0 = time.perf_counter()
        conn.request("POST", url.path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        elapsed = time.perf_counter() - t0
        if answer.status != 200:
            raise SystemExit(f"{args['kind']}: HTTP {answer.status}: {data[:300]!r}")
        if first is None:
            first = json.loads(data)
        if i == WARMUP - 1:
            server_cpu = b.group_cpu_seconds(server) if server else 0.0
            client_cpu = b.cpu_seconds()
        if i >= WARMUP:
            samples.append(elapsed)
    client_cpu = (b.cpu_seconds() - client_cpu) / n
    server_cpu = ((b.group_cpu_seconds(server) - server_cpu) / n) if server else 0.0
    conn.close()
    b.emit(
        {
            **b.percentiles(samples),
            "server_cpu": server_cpu,
            "client_cpu": client_cpu,
            "first": first,
        }
    )


if __name__ == "__main__":
    main()
