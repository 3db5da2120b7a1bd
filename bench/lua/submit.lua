-- POST with a unique key per request. args: mode ("v1" | "begin"), run prefix.
local counter = 0
function init(args)
  stagger()
  mode = args[1] or "v1"
  prefix = (args[2] or "run") .. "-" .. tid .. "-"
  body = '{"kind":"echo","input":{"n":1,"s":"bench"}}'
  data = '{"n":1,"s":"bench"}'
  v1_headers = {["Content-Type"] = "application/json"}
  begin_headers = {["Content-Type"] = "application/json"}
end
request = function()
  counter = counter + 1
  local key = prefix .. counter
  if mode == "begin" then
    return wrk.format("POST", "/begin?id=" .. key, begin_headers, data)
  end
  v1_headers["Idempotency-Key"] = key
  return wrk.format("POST", "/v1/jobs", v1_headers, body)
end
