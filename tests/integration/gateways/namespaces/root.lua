-- Namespace "/" of namespaces.test.mjs.
return {
  namespace = "/",

  events = {
    whoami = function(socket)
      return { id = socket.id, namespace = socket.namespace }
    end,
    shout = function(socket, data)
      return sb.emit("shout", { from = "/", data = data })
    end,
  },
}
