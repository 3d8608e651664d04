-- Namespace "/admin" of eio3.test.mjs: a socket.io 2.x client asks for it with a query.
return {
  namespace = "/admin",

  events = {
    whoami = function(socket)
      return { namespace = socket.namespace, user = socket.user or sb.null,
               transport = socket.transport, auth = socket.auth }
    end,
  },
}
