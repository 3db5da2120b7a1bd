-- GET ids from a file, round robin from a random start. args: ids file, path prefix, suffix.
local ids = {}
function init(args)
  stagger()
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  prefix = args[2] or "/v1/jobs/"
  suffix = args[3] or ""
  math.randomseed(os.time() + (tid or 1) * 7919)
  i = math.random(#ids)
end
request = function()
  i = i % #ids + 1
  return wrk.format("GET", prefix .. ids[i] .. suffix)
end
