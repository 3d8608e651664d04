-- Fixture of cli.test.mjs: a syntax error on line 4.
return {
  namespace = "/",
  events = { echo = function(socket, data) return data end end },
}
