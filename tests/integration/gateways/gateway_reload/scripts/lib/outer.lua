-- Fixture of gateway_reload.test.mjs: a module that requires another module.
local inner = require("inner")

return {
  tag = function() return "outer v1 / " .. inner.tag end,
}
