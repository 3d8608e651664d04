-- Declares the namespace "/other" for api_emit.test.mjs.
return {
  namespace = "/other",
  events = {
    id = function(socket)
      return socket.id
    end,
  },
}
