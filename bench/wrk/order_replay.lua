-- POST /v1/orders with one Idempotency-Key (per run salt) and one body: the first request places the
-- order, every other one is a retry answered with it.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
wrk.headers["Idempotency-Key"] = "replay-" .. os.getenv("BENCH_SALT")
wrk.body = string.format(
  '{"customer_id":"%s","items":[{"sku":"A-1","quantity":2,"unit_price_cents":1250},' ..
  '{"sku":"B-2","quantity":1,"unit_price_cents":499}]}', os.getenv("BENCH_CUSTOMER_ID"))
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
