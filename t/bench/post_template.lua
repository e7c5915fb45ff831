-- wrk script: POST an email notification rendered from a template.
--   wrk -t2 -c8 -d10s -s post_template.lua http://127.0.0.1:PORT
-- The same request as post.lua (its own recipient each time, no
-- Idempotency-Key), but "template" + "data" + "locale" instead of
-- "title" + "content": the bench saved template "receipt" (a de variant
-- with a text part and a section over the items) first, and "de-AT"
-- falls back to "de".  An answer other than 202 shows in wrk's
-- "Non-2xx or 3xx responses" line; the bench also counts the rows stored.

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

local body_fmt = '{"type":"EMAIL","template":"receipt","locale":"de-AT",' ..
   '"data":{"name":"User %d-%d","orderId":"ORD-%d","amount":"99.99",' ..
   '"items":[{"name":"Pizza <Margherita>","qty":2},' ..
   '{"name":"Cola & Eis","qty":1}]},"userId":123,' ..
   '"recipient":"user%d-%d@example.com",' ..
   '"metadata":{"orderId":"ORD-12345","amount":99.99}}'

request = function()
   counter = counter + 1
   local body = string.format(body_fmt, tid or 0, counter, counter,
      tid or 0, counter)
   return wrk.format(nil, "/notification_service/api/notifications", nil, body)
end
