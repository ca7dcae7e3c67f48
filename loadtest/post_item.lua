-- wrk script: POST /api/items with a bearer token (args[1]) and a new JSON body per request.
-- Usage: wrk -s post_item.lua URL -- TOKEN
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local counter = 0

init = function(args)
   wrk.headers["Authorization"] = "Bearer " .. args[1]
end

request = function()
   counter = counter + 1
   return wrk.format(nil, nil, nil, '{"title":"load test item ' .. counter .. '","body":"written by wrk"}')
end
