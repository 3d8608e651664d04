-- Fixture of http_hardening.test.mjs: `echo` acks its argument (Socket.IO and plain JSON).
return {
  namespace = "/",
  events = {
    echo = function(socket, data) return data end,
  },
}
