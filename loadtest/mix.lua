-- wrk script: a read and write mix on /api: GET /api/items/1 and POST /api/items (with the
-- bearer token args[1] and a new body each time), alternating on every connection.
-- Usage: wrk -s mix.lua URL -- TOKEN
local counter = 0
local token = ""

init = function(args)
   token = args[1]
end

request = function()
   counter = counter + 1
   if counter % 2 == 0 then
      return wrk.format("GET", "/api/items/1")
   end
   local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
   return wrk.format("POST", "/api/items", headers, '{"title":"mixed item ' .. counter .. '","body":"written by wrk"}')
end
