-- Fixture of auth_async.test.mjs: a second namespace with the same answer.
return {
  namespace = "/admin",
  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims, nsp = "/admin" }
    end,
  },
}
