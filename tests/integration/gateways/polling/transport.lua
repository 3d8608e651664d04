-- Fixture of polling.test.mjs: what a handler sees of the transport a socket rides on.
return {
  namespace = "/",

  events = {
    -- Acks with socket.transport, read at the time of the call.
    transport = function(socket)
      return socket.transport
    end,
  },
}
