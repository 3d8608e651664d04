-- Fixture of cli.test.mjs: a valid gateway.
return { namespace = "/", events = { echo = function(socket, data) return data end } }
