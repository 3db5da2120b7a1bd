-- Appended to every script: one JSON line with the counts and latency percentiles (us).
-- "wrong" sums the threads' `wrong` counters (-1: the script checks no answers).
function done(summary, latency, requests)
  local e = summary.errors
  local p = {}
  for _, q in ipairs({50, 90, 95, 99, 99.9}) do
    p[#p + 1] = string.format('"%s": %d', tostring(q), latency:percentile(q))
  end
  local wrong = -1
  for _, t in ipairs(threads) do
    local w = t:get("wrong")
    if w and t:get("expect") ~= "" and t:get("expect") ~= nil then
      wrong = math.max(wrong, 0) + w
    end
  end
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "bytes": %d, "connect_errors": %d, ' ..
    '"read_errors": %d, "write_errors": %d, "status_errors": %d, "timeouts": %d, ' ..
    '"wrong": %d, "latency_mean_us": %.1f, "latency_max_us": %d, "percentiles_us": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, wrong, latency.mean, latency.max, table.concat(p, ", ")))
end
