-- POST /v1/orders/{id}/cancel, each request a different placed order: bench/run.py seeds them, one
-- range per phase (warm-up, run), with ids <BENCH_ORDER_PREFIX>-<phase>-4000-8000-<n>, n from 1 to
-- BENCH_ORDERS, and wrk's two threads (-t2) take turns along the range. A run longer than the range
-- wraps round to cancels of cancelled orders.
wrk.method = "POST"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
local prefix, count = os.getenv("BENCH_ORDER_PREFIX"), tonumber(os.getenv("BENCH_ORDERS"))
local phase = os.getenv("BENCH_PHASE") == "warm" and 0 or 1
local counter, threads = 0, 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  local n = (counter * 2 + tid - 1) % count + 1
  counter = counter + 1
  return wrk.format(nil, string.format("/v1/orders/%s-%04x-4000-8000-%012x/cancel", prefix, phase, n))
end
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
