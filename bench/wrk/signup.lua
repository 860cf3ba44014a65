-- POST /v1/customers with a unique email per request (thread id + counter + run salt).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
local counter, salt = 0, os.getenv("BENCH_SALT")
local threads = 0
setup = function(thread) threads = threads + 1; thread:set("tid", threads) end
request = function()
  counter = counter + 1
  local body = string.format('{"email":"b-%s-%s-%d@example.com","name":"Bench"}', salt, tid, counter)
  return wrk.format(nil, "/v1/customers", nil, body)
end
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
