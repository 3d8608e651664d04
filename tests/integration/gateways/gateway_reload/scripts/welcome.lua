-- Fixture of gateway_reload.test.mjs: a second user of lib/greet.lua, and the user of a module
-- that requires another one (lib/outer.lua requires lib/inner.lua).
local greet = require("greet")
local outer = require("outer")

return {
  namespace = "/",

  events = {
    welcome = function(socket)
      return greet.hello("welcome")
    end,
    nested = function(socket)
      return outer.tag()
    end,
  },
}
