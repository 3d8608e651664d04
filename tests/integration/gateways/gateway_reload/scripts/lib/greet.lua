-- Fixture of gateway_reload.test.mjs: a lib module (the test rewrites the version).
local M = {}

function M.hello(name)
  return "hello " .. tostring(name) .. " (v1)"
end

return M
