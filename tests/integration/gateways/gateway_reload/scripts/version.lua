-- Fixture of gateway_reload.test.mjs. The test copies this directory to a temporary one and
-- rewrites the next line there for each edit.
local VERSION = 1

return {
  namespace = "/",

  events = {
    v = function(socket, seq)
      return { v = VERSION, seq = seq }
    end,
  },
}
