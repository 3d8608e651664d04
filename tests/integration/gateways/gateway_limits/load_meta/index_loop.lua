-- Fixture of gateway_limits.test.mjs: a gateway table whose __index never returns (the host
-- used to read it outside the time limit: the server hung).
return setmetatable({}, { __index = function() while true do end end })
