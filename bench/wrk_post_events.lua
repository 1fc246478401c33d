-- wrk script: POST /v1/events with one canonical event per request over
-- keep-alive connections.  Each request is an event of one of 50,000
-- shipments of this run (the run and thread ids are in the tracking
-- number, so a second run does not just repeat the first); identities
-- repeat as the counter wraps its 5 steps x 60 minutes, so part of a long
-- run counts as duplicates, like carrier retries do.
local counter = 0
local run = tostring(os.time() % 100000)
local statuses = {"PICKED_UP", "IN_TRANSIT", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"}

local thread_count = 0
function setup(thread)
  thread_count = thread_count + 1
  thread:set("id", thread_count)
  thread:set("run", run)
end

request = function()
  counter = counter + 1
  local shipment = (counter * 7919) % 50000
  local step = counter % 5 + 1
  local body = string.format(
    '{"carrier":"UPS","tracking_number":"1Z%s%d%06d","status":"%s",' ..
    '"event_time":"2026-11-2%dT1%d:%02d:00Z","location":{"city":"Atlanta","country":"US"}}',
    run or "0", id or 0, shipment, statuses[step], step, step, counter % 60)
  return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
end

local non_2xx = 0
response = function(status, headers, body)
  if status ~= 202 then non_2xx = non_2xx + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("wrk_result requests=%d seconds=%.3f rps=%.0f p50_us=%d p99_us=%d max_us=%d errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
