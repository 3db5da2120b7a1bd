-- POST promise.create envelopes straight to a Resonate server (stops after `limit` answers).
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
  local id = prefix .. "-" .. (tid or 1) .. "-" .. counter
  local body = '{"kind":"promise.create","head":{"corrId":"' .. id .. '","version":"' .. version ..
    '"},"data":{"id":"' .. id .. '","timeoutAt":' .. timeout ..
    ',"param":{"headers":{},"data":"e30="},"tags":{"resonate:origin":"' .. id ..
    '","resonate:branch":"' .. id .. '","longhaul:bench":"preload"}}}'
  return wrk.format("POST", "/", headers, body)
end
response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then wrk.thread:stop() end
end
