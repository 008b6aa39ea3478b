-- PATCH (JSON merge patch) the internal note of a random seeded Partij
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"interneNotitie": "Gewijzigd bij meting ' .. counter .. '"}'
  return wrk.format("PATCH", base .. "/" .. pick(), {["Content-Type"] = "application/json"}, body)
end
