-- wrk script: send DEPTH requests per write (HTTP pipelining), as TechEmpower's plaintext test does.
-- Usage: wrk -s pipeline.lua URL -- DEPTH
init = function(args)
   local depth = tonumber(args[1]) or 16
   local requests = {}
   for i = 1, depth do
      requests[i] = wrk.format()
   end
   batch = table.concat(requests)
end

request = function()
   return batch
end
