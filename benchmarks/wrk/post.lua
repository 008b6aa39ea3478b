-- POST a new Partij: the template body with a fresh number and a fresh valid BSN (eleven-test)
local template = items[1]
local counter = 0
local start = tonumber(os.getenv("BENCH_BSN_START") or "20000000")

local function next_bsn()
  while true do
    counter = counter + 1
    local first = string.format("%08d", start + counter)
    local total = 0
    for i = 1, 8 do total = total + (10 - i) * tonumber(first:sub(i, i)) end
    local check = total % 11
    if check < 10 then return first .. check end
  end
end

request = function()
  local body = template:gsub("__BSN__", next_bsn()):gsub("__NUMMER__", tostring(1000000 + counter))
  return wrk.format("POST", base, {["Content-Type"] = "application/json"}, body)
end
