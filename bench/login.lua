-- POST /login with the right password (BENCH_USERNAME / BENCH_PASSWORD), so
-- the failed-login throttle never applies.
local user = os.getenv("BENCH_USERNAME")
local password = os.getenv("BENCH_PASSWORD")
assert(user and password, "BENCH_USERNAME / BENCH_PASSWORD unset")
wrk.method = "POST"
wrk.path = "/login"
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"username":"%s","password":"%s"}', user, password)
