-- Fixture of handshake.test.mjs: `echo` acks its argument; `hello` answers an `hello` event.
return {
  namespace = "/",
  events = {
    echo = function(socket, data) return data end,
    hello = function(socket, data) return { event = "hello", data = data } end,
  },
}
