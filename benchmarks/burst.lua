-- wrk script for the bursts: every line of the plan (path, token, idempotency key) is sent exactly once, spread over
-- wrk's threads (BURST_THREADS, the same as -t) and their keep-alive connections; a thread stops once all of its
-- answers are in, and a connection with nothing left to send stays quiet. The method and the JSON body come from
-- BURST_METHOD and BURST_BODY. done() prints one JSON line: the statuses, the count of answers and their p50.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

function init(args)
   local count = tonumber(os.getenv("BURST_THREADS"))
   local method, body = os.getenv("BURST_METHOD"), os.getenv("BURST_BODY")
   queue, position, answered, statuses = {}, 0, 0, {}
   local line_number = 0
   for line in io.lines(os.getenv("BURST_PLAN")) do
      if line_number % count == id then
         local path, token, key = line:match("([^\t]*)\t([^\t]*)\t([^\t]*)")
         local headers = {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}
         if key ~= "" then
            headers["Idempotency-Key"] = key
         end
         table.insert(queue, wrk.format(method, path, headers, body ~= "" and body or nil))
      end
      line_number = line_number + 1
   end
   if #queue == 0 then
      finish()
   end
end

-- wrk's own clock runs for the whole -d duration whatever the threads do: the caller times the burst from these
-- lines and then interrupts wrk (SIGINT) for its summary.
function finish()
   io.write("THREAD DONE\n")
   io.stdout:flush()
   wrk.thread:stop()
end

function request()
   if id == 0 and not verified then
      -- wrk asks thread 0 for one request before it starts, only to check it; that one is not sent
      verified = true
      return queue[1] or ""
   end
   position = position + 1
   return queue[position] or ""
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
   answered = answered + 1
   if answered >= #queue then
      finish()
   end
end

function done(summary, latency, requests)
   local counts = {}
   for _, thread in ipairs(threads) do
      local answered = thread:get("statuses")
      for status, n in pairs(answered) do
         counts[status] = (counts[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(counts) do
      table.insert(parts, string.format('"%d": %d', status, n))
   end
   io.write(string.format('BURST {"statuses": {%s}, "requests": %d, "p50_us": %d}\n',
      table.concat(parts, ", "), summary.requests, latency:percentile(50)))
end
