-- wrk script of the serving benchmark (bench/run_serving.py).
-- POSTs the JSON body in the file $BENCH_BODY on every request (keep-alive connections);
-- with $BENCH_MAX_REQUESTS > 0 a thread stops after that many responses (run with -t1);
-- at the end prints one line: WRK_RESULT {json} (latencies in microseconds).
local file = assert(io.open(os.getenv("BENCH_BODY"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/json"

local limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0") or 0
if limit > 0 then
  local count = 0
  function response(status, headers, body)
    count = count + 1
    if count >= limit then
      wrk.thread:stop()
    end
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,' ..
    '"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"p50":%d,"p90":%d,' ..
    '"p99":%d,"p999":%d,"min":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.min, latency.max, latency.mean))
end
