-- Fixture of plugin_interceptors.test.mjs: a gateway that lists two interceptors against their
-- priority order (mark-a runs after mark-b). `trail` answers the reply "trail" with the string
-- it got, which carries the marks of the before-interceptors; `several` answers four replies,
-- two of which mark-c withholds ("drop:c", "refuse:c").
return {
  namespace = "/",
  interceptors = { "mark-a", "mark-b" },
  events = {
    trail = function(socket, s)
      return { event = "trail", data = s }
    end,
    several = function(socket)
      return {
        { event = "one", data = 1 },
        { event = "drop:c", data = 2 },
        { event = "refuse:c", data = 3 },
        { event = "two", data = 4 },
      }
    end,
    -- A reply that mark-b (the first after-interceptor here) drops: later ones never see it.
    early_drop = function(socket)
      return { { event = "drop:b", data = 1 }, { event = "three", data = 2 } }
    end,
    -- A reply mark-b answers a verdict outside the enum for: withheld, and logged.
    bogus_reply = function(socket)
      return { { event = "bogus:b", data = 1 }, { event = "four", data = 2 } }
    end,
  },
}
