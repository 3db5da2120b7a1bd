-- POST promise.create envelopes of job-like promises (Longhaul's job tags) to a Resonate server.
-- Half go to tenant "acme", the rest to seven others. Each also carries "bench:tenant", a copy
-- of its tenant under a key the dev server keeps no index for (a filter on it is a full walk).
-- args: prefix, limit (per wrk thread), protocol version, timeoutAt (ms)
local counter = 0
local answered = 0
function init(args)
  stagger()
  prefix = args[1] or "preload"
  limit = tonumber(args[2] or "10000")
  version = args[3] or ""
  timeout = args[4] or "9007199254740991"
  headers = {["Content-Type"] = "application/json"}
end
request = function()
  counter = counter + 1
  local tenant = "acme"
  if counter % 2 == 1 then tenant = "other" .. (counter % 7) end
  local id = tenant .. ".job-" .. prefix .. "-" .. (tid or 1) .. "-" .. counter
  local body = '{"kind":"promise.create","head":{"corrId":"' .. id .. '","version":"' .. version ..
    '"},"data":{"id":"' .. id .. '","timeoutAt":' .. timeout ..
    ',"param":{"headers":{},"data":"e30="},"tags":{"resonate:origin":"' .. id ..
    '","resonate:branch":"' .. id .. '","longhaul:kind":"echo","longhaul:type":"job",' ..
    '"longhaul:tenant":"' .. tenant .. '","bench:tenant":"' .. tenant .. '"}}}'
  return wrk.format("POST", "/", headers, body)
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
