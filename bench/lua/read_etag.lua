-- GET ids with If-None-Match, from a file of "id<TAB>etag" lines. args: file, path prefix.
-- Each thread reads its own ids, round robin (as read.lua). Any answer but 304 is wrong.
local mine = {}
wrong = 0
function init(args)
  stagger()
  local all = {}
  for line in io.lines(args[1]) do
    local id, etag = line:match("^([^\t]+)\t(.+)$")
    if id then all[#all + 1] = {id, etag} end
  end
  prefix = args[2] or "/v1/jobs/"
  local n, me = WRK_THREADS or 1, tid or 1
  if #all < n then
    mine = all
  else
    for k = me, #all, n do mine[#mine + 1] = all[k] end
  end
  i = 0
  response = function(status, headers, body)
    if status ~= 304 then wrong = wrong + 1 end
  end
end
request = function()
  i = i % #mine + 1
  return wrk.format("GET", prefix .. mine[i][1], {["If-None-Match"] = mine[i][2]})
end
