-- GET <collection>?<BSN of a random seeded Partij>&objecttype=ingeschrevenpersoon
request = function()
  return wrk.format("GET", base ..
    "?externeIdentificatie.partijIdentificator.objectId=" .. pick() ..
    "&externeIdentificatie.partijIdentificator.objecttype=ingeschrevenpersoon")
end
