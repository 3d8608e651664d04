-- Namespace "/admin" of namespaces.test.mjs.
return {
  namespace = "/admin",

  on_disconnect = function(socket, reason)
    sb.of("/"):emit("admin_left", { id = socket.id, reason = reason })
  end,

  events = {
    whoami = function(socket)
      return { id = socket.id, namespace = socket.namespace }
    end,
    shout = function(socket, data)
      return sb.emit("shout", { from = "/admin", data = data })
    end,
  },
}
