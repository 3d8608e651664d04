-- Fixture of auth_jwt.test.mjs: tells a socket who the server thinks it is (socket.user, the id
-- auth-jwt took from the user claim, and socket.claims, the token's whole payload).
return {
  namespace = "/",
  events = {
    whoami = function(socket)
      return { user = socket.user or sb.null, claims = socket.claims }
    end,
  },
}
