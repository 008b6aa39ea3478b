-- GET <collection>?<BSN of a random seeded Partij> (one dotted filter through an array)
request = function()
  return wrk.format("GET", base ..
    "?externeIdentificatie.partijIdentificator.objectId=" .. pick())
end
