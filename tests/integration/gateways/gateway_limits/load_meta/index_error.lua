-- Fixture of gateway_limits.test.mjs: a gateway table whose fields come from an __index that
-- raises (the host used to read it outside protected code: "unprotected Lua error", SIGABRT).
return setmetatable({}, { __index = function() error("x") end })
