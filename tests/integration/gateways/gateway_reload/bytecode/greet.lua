-- Fixture of gateway_reload.test.mjs: a lib module compiled with `luajit -b` by the test.
local M = {}

function M.hello(name)
  return "hello " .. tostring(name) .. " (bytecode)"
end

return M
