-- GET the URL's path (e.g. /mood or /mood?limit=50) as the user whose
-- bearer token is in BENCH_TOKEN.
local token = os.getenv("BENCH_TOKEN")
assert(token and #token > 0, "BENCH_TOKEN is empty")
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. token
