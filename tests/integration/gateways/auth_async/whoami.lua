-- Fixture of auth_async.test.mjs: tells a socket who the server thinks it is, on "/" and on
-- "/admin" (a second namespace, to check that a pending CONNECT leaves the others alone).
return {
  namespace = "/",
  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims }
    end,
    auth = function(socket)
      return socket.auth
    end,
  },
}
