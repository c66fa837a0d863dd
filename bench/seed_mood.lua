-- Seeds back-filled entries for one user (BENCH_TOKEN) as fast as the server
-- takes them. Entry k (k = 0, 1, ...) is recorded at BENCH_SEED_BASE -
-- k * BENCH_SEED_STEP seconds (UTC). Each thread stops after
-- BENCH_SEED_PER_THREAD created entries and leaves a marker file in
-- BENCH_SEED_DIR; bench/run interrupts wrk once every thread has one.
local next_id = 0
function setup(thread)
  thread:set("tid", next_id)
  next_id = next_id + 1
end

local token = os.getenv("BENCH_TOKEN")
local threads = tonumber(os.getenv("BENCH_SEED_THREADS"))
local per_thread = tonumber(os.getenv("BENCH_SEED_PER_THREAD"))
local base = tonumber(os.getenv("BENCH_SEED_BASE"))
local step = tonumber(os.getenv("BENCH_SEED_STEP"))
local dir = os.getenv("BENCH_SEED_DIR")
local sent, created, finished = 0, 0, false

function request()
  local k = tid + threads * sent
  sent = sent + 1
  local at = os.date("!%Y-%m-%dT%H:%M:%SZ", base - k * step)
  local body = string.format('{"rating":%d,"recorded_at":"%s","tags":["seed"]}', (k % 10) + 1, at)
  return wrk.format("POST", "/mood", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }, body)
end

function response(status, headers, body)
  if status == 201 then created = created + 1 end
  if created >= per_thread and not finished then
    finished = true
    local f = io.open(dir .. "/seed-done-" .. tid, "w")
    f:write(tostring(created))
    f:close()
    wrk.thread:stop()
  end
end
