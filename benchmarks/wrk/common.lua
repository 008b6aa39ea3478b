-- Shared by every scenario: read a list of lines, report the run as one JSON line.
local function lines(variable)
  local found = {}
  local name = os.getenv(variable)
  if name then
    for line in io.lines(name) do found[#found + 1] = line end
  end
  return found
end

items = lines("BENCH_ITEMS")
base = os.getenv("BENCH_PATH")
math.randomseed(tonumber(os.getenv("BENCH_SEED") or "1"))

function pick()
  return items[math.random(#items)]
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
