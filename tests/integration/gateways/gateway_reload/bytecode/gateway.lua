-- Fixture of gateway_reload.test.mjs: compiled with `luajit -b` by the test, the bytecode must
-- be refused.
return {
  namespace = "/",

  events = {
    v = function(socket, seq)
      return { v = 1000, seq = seq }
    end,
  },
}
