-- Fixture of gateway_patterns.test.mjs: loading this file backtracks for seconds in LuaJIT's
-- own string.find (("a"):rep(300) with ".-.-.-b").
local found = ("a"):rep(300):find(".-.-.-b")
return { events = { ping = function() return found end } }
