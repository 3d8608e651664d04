-- Namespace "/admin" of token_refresh.test.mjs: a second namespace of the same connection,
-- whose socket has its own token and its own expiry.
return {
  namespace = "/admin",

  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims }
    end,
  },
}
