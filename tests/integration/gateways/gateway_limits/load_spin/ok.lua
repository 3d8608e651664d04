-- Fixture of gateway_limits.test.mjs: a well-behaved gateway next to one that never loads.
return { events = { ping = function() return "pong" end } }
