-- Fixture of gateway_redis.test.mjs: waiting is not allowed while a gateway file loads.
local pong = redis.call("PING")
return { events = { pong = function() return pong end } }
