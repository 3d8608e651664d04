-- Namespace "/" of eio3.test.mjs (socket.io 2.x clients).
return {
  namespace = "/",

  events = {
    -- the ack: the same arguments back
    echo = function(socket, ...)
      return ...
    end,
    -- server -> client ack: the client's answer comes back as `answer`
    ask = function(socket, x)
      socket:emit("question", x, function(err, a)
        socket:emit("answer", { err = err or sb.null, a = a or sb.null })
      end)
      return "asked"
    end,
    whoami = function(socket)
      return { namespace = socket.namespace, user = socket.user or sb.null,
               transport = socket.transport }
    end,
  },
}
