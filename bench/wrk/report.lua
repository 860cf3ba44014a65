-- Shared by every scenario: print one JSON line with throughput, latency percentiles and errors.
-- wrk counts any status >= 400 in errors.status: a scenario must expect only 2xx/3xx answers.
-- `errors` is the total; `status_errors` (answers >= 400) and `timeouts` (no answer within wrk's 2 s)
-- tell a 503 from a slow response.
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"p50_ms":%.3f,"p99_ms":%.3f,"errors":%d,' ..
    '"status_errors":%d,"timeouts":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3,
    errors.connect + errors.read + errors.write + errors.status + errors.timeout,
    errors.status, errors.timeout))
end
