-- GET the bare Starlette endpoint
request = function()
  return wrk.format("GET", base)
end
