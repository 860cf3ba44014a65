-- POST /v1/orders for the seeded customer with a fresh Idempotency-Key per request (thread id +
-- counter + run salt): a client that retries safely, placing new orders.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
wrk.body = string.format(
  '{"customer_id":"%s","items":[{"sku":"A-1","quantity":2,"unit_price_cents":1250},' ..
  '{"sku":"B-2","quantity":1,"unit_price_cents":499}]}', os.getenv("BENCH_CUSTOMER_ID"))
local counter, salt = 0, os.getenv("BENCH_SALT")
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local headers = {["Idempotency-Key"] = string.format("k-%s-%s-%d", salt, tid, counter)}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  return wrk.format(nil, "/v1/orders", headers, wrk.body)
end
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
