-- wrk script: GET /audit/events?order_id=... for random existing orders.
--   wrk -t2 -c8 -d10s --latency -s query.lua http://127.0.0.1:PORT -- NORDERS
-- The bench loads order ids ORD-00000000 .. ORD-<NORDERS-1>, 5 events each.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local norders = 1000

function init(args)
   norders = tonumber(args[1]) or norders
   math.randomseed(os.time() * 100 + (tid or 0))
end

request = function()
   local path = string.format("/audit/events?order_id=ORD-%08d",
                              math.random(0, norders - 1))
   return wrk.format("GET", path)
end
