-- The soak test's mixed workload (scripts/soak), optionally paced.
--
-- Every 10 requests: 3 writes, 4 GET /mood?limit=30, 1 GET / (the Today
-- page, by cookie), 1 GET /healthz, 1 GET /readyz, rotating over the
-- bearer tokens in SOAK_TOKENS (comma-separated). A write is POST /mood
-- while this thread has fewer than SOAK_WINDOW entries alive, otherwise
-- DELETE /mood/{id} of its oldest: the data stays the same size however
-- long the run, so every request costs the same at the end as at the
-- start, and memory that keeps growing is a leak, not more data.
--
-- SOAK_RATE (requests per second, all threads together; 0 or unset: as
-- fast as the server answers) paces requests the way wrk2 does: each
-- thread hands out send times on a fixed schedule, and a connection waits
-- for its slot (`delay`). A server slower than the rate gets no burst to
-- catch up; scripts/soak reports the rate achieved.
-- SOAK_THREADS must be wrk's -t.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } soak_timespec;
int clock_gettime(int clk_id, soak_timespec *tp);
]]
local CLOCK_MONOTONIC = 1
local ts = ffi.new("soak_timespec")
local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local tokens = {}
for t in string.gmatch(os.getenv("SOAK_TOKENS") or "", "[^,]+") do
  tokens[#tokens + 1] = t
end
assert(#tokens > 0, "SOAK_TOKENS is empty")

local rate = tonumber(os.getenv("SOAK_RATE") or "0") or 0
local threads = tonumber(os.getenv("SOAK_THREADS") or "1")
local window = tonumber(os.getenv("SOAK_WINDOW") or "2000")
-- Milliseconds between two sends of this thread.
local interval = rate > 0 and (1000 * threads / rate) or 0
local next_send = nil

local thread_id = 0
function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

if interval > 0 then
  function delay()
    local now = now_ms()
    if next_send == nil or next_send < now then
      next_send = now
    end
    local wait = next_send - now
    next_send = next_send + interval
    return math.floor(wait)
  end
end

-- This thread's live entries, oldest first: {id, token index}. Deletes
-- already sent are counted out of `alive` at once, so that two connections
-- never delete the same entry.
local alive = {}
local first, last = 1, 0
local in_flight = 0

-- Only POST /mood answers 201; its note names the token that wrote it.
function response(status, headers, body)
  if status == 201 then
    in_flight = in_flight - 1
    local id = string.match(body, '"id":"(%d+)"')
    local who = tonumber(string.match(body, '"note":"soak (%d+) '))
    if id and who then
      last = last + 1
      alive[last] = { id, who }
    end
  end
end

local i = 0
function request()
  i = i + 1
  local who = ((i + (tid or 0) * 7) % #tokens) + 1
  local auth = "Bearer " .. tokens[who]
  local kind = i % 10
  if kind < 3 then
    if last - first + 1 + in_flight >= window and first <= last then
      local entry = alive[first]
      alive[first] = nil
      first = first + 1
      return wrk.format("DELETE", "/mood/" .. entry[1],
        { ["Authorization"] = "Bearer " .. tokens[entry[2]] })
    end
    in_flight = in_flight + 1
    local body = string.format(
      '{"rating":%d,"note":"soak %d %d","tags":["soak"]}', (i % 10) + 1, who, i)
    return wrk.format("POST", "/mood",
      { ["Authorization"] = auth, ["Content-Type"] = "application/json" }, body)
  elseif kind < 7 then
    return wrk.format("GET", "/mood?limit=30", { ["Authorization"] = auth })
  elseif kind == 7 then
    return wrk.format("GET", "/", { ["Cookie"] = "moodlog_session=" .. tokens[who] })
  elseif kind == 8 then
    return wrk.format("GET", "/healthz")
  else
    return wrk.format("GET", "/readyz")
  end
end
