-- GET ids from a file. args: ids file, path prefix, suffix, expect, spread.
--
-- spread "split" (default): each thread reads only its own ids (every WRK_THREADS-th, from its
-- number on), round robin, so no two requests in flight read the same id. Reads of one id that
-- overlap are a different measurement: a gateway may answer the later ones from the first
-- one's read (the example pattern does, with `pending` for a completed job).
-- spread "shared": every thread reads every id, from the same start, to make them overlap.
--
-- expect: a string every answer's body must contain (plain find, not a pattern); answers
-- without it are counted as wrong. Empty: bodies are not looked at.
local ids = {}
local mine = {}
wrong = 0
function init(args)
  stagger()
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  prefix = args[2] or "/v1/jobs/"
  suffix = args[3] or ""
  expect = args[4] or ""
  local spread = args[5] or "split"
  local n, me = WRK_THREADS or 1, tid or 1
  if spread == "shared" or #ids < n then
    mine = ids
  else
    for k = me, #ids, n do mine[#mine + 1] = ids[k] end
  end
  i = 0
  if expect ~= "" then
    response = function(status, headers, body)
      if not body or not string.find(body, expect, 1, true) then wrong = wrong + 1 end
    end
  end
end
request = function()
  i = i % #mine + 1
  return wrk.format("GET", prefix .. mine[i] .. suffix)
end
