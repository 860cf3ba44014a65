-- GET the URL given on the command line, with the API key from BENCH_API_KEY.
wrk.headers["X-API-Key"] = os.getenv("BENCH_API_KEY")
dofile(os.getenv("BENCH_WRK_DIR") .. "/report.lua")
