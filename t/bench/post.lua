-- wrk script: POST the seed's email notification, a valid body each time.
--   wrk -t2 -c8 -d10s -s post.lua http://127.0.0.1:PORT
-- Each request gets its own title and recipient (thread id + counter), no
-- Idempotency-Key: every request is a new notification, stored and queued.
-- An answer other than 202 shows in wrk's "Non-2xx or 3xx responses" line
-- (a 4xx/5xx); the bench also counts the rows stored.

local threads = {}
local counter = 0


function setup(thread)
   thread:set("tid", #threads)
   table.insert(threads, thread)
end

function init(args)
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

local body_fmt = '{"type":"EMAIL","title":"Payment Confirmation %d-%d",' ..
   '"content":"<p>Your payment has been confirmed.</p>","userId":123,' ..
   '"recipient":"user%d-%d@example.com",' ..
   '"metadata":{"orderId":"ORD-12345","amount":99.99}}'

request = function()
   counter = counter + 1
   local body = string.format(body_fmt, tid or 0, counter, tid or 0, counter)
   return wrk.format(nil, "/notification_service/api/notifications", nil, body)
end
