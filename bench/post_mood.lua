-- POST /mood with a valid JSON body, rotating over the bearer tokens in
-- BENCH_TOKENS (comma-separated). Ratings cycle through 1..10.
local tokens = {}
for t in string.gmatch(os.getenv("BENCH_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = t
end
assert(#tokens > 0, "BENCH_TOKENS is empty")

local i = 0
function request()
  i = i + 1
  local body = string.format(
    '{"rating":%d,"note":"wrk entry %d","tags":["bench","wrk"]}', (i % 10) + 1, i)
  return wrk.format("POST", "/mood", {
    ["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1],
    ["Content-Type"] = "application/json",
  }, body)
end
