-- wrk script: send one fixed body (BENCH_BODY file) to BENCH_PATH; print a JSON summary.
-- BENCH_METHOD (POST), BENCH_CONTENT_TYPE (image/png), BENCH_HEADER ("Name: value", optional).
local body_path = os.getenv("BENCH_BODY")
wrk.method = os.getenv("BENCH_METHOD") or "POST"
wrk.path = os.getenv("BENCH_PATH") or "/"
if body_path and body_path ~= "" then
  local file = assert(io.open(body_path, "rb"))
  wrk.body = file:read("*a")
  file:close()
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "image/png"
end
local extra = os.getenv("BENCH_HEADER")
if extra and extra ~= "" then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end
