-- Fixture of gateway_reload.test.mjs: a gateway that uses no module.
return {
  namespace = "/",

  events = {
    plain = function(socket)
      return "plain"
    end,
  },
}
