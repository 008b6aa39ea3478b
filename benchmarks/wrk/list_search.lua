-- GET <collection>?_search=<a term from the list>
request = function()
  return wrk.format("GET", base .. "?_search=" .. pick())
end
