-- wrk script of the query10m figure: one path template, filled for each
-- request from a random row of a sample of the loaded rows.
--   wrk -t1 -c1 -d4s --latency -s query10m.lua URL -- TEMPLATE SAMPLEFILE
-- SAMPLEFILE: one row per line, tab-separated: id, notificationId, tail
-- cursor (tx-id), order, customer, correlation id (or empty), topic,
-- event type, source service (or empty), created_at (ISO 8601, UTC),
-- created_at + 1 h.  TEMPLATE names them {id} {uuid} {cursor} {order}
-- {customer} {corr} {topic} {type} {source} {since} {until}; an empty
-- value gives the next line's (a row without that field asks nothing).

local rows = {}
local template = "/audit/events"
local names = { "id", "uuid", "cursor", "order", "customer", "corr",
                "topic", "type", "source", "since", "until" }

function init(args)
   template = args[1] or template
   for line in io.lines(args[2]) do
      local r, i = {}, 1
      for f in (line .. "\t"):gmatch("([^\t]*)\t") do
         r[names[i]] = f
         i = i + 1
      end
      table.insert(rows, r)
   end
   math.randomseed(os.time() * 100 + #rows + math.floor(os.clock() * 1e6))
end

request = function()
   local at = math.random(1, #rows)
   local path = template:gsub("{(%a+)}", function(k)
      for n = 0, #rows - 1 do
         local v = rows[(at + n - 1) % #rows + 1][k]
         if v ~= nil and v ~= "" then
            return v
         end
      end
      return ""
   end)
   return wrk.format("GET", path)
end
