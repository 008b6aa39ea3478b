-- GET <collection>/<random seeded id>
request = function()
  return wrk.format("GET", base .. "/" .. pick())
end
