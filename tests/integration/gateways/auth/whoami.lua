-- Fixture of auth.test.mjs: tells a socket who the server thinks it is.
return {
  namespace = "/",
  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims }
    end,
  },
}
