-- Fixture of gateway_reload.test.mjs: a gateway that uses two lib modules.
local greet = require("greet")
local text = require("util.text")

return {
  namespace = "/",

  events = {
    greet = function(socket, name)
      return greet.hello(name)
    end,
    text = function(socket)
      return text.tag
    end,
  },
}
