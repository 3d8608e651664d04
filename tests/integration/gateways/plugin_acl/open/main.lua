-- Fixture of plugin_acl.test.mjs: a gateway that names no interceptor; the test loads acl with
-- --interceptor (global), which also sees events that have no handler, and joins.
return {
  namespace = "/",
  events = {
    hello = function(socket) return "hi" end,
    enter = function(socket, room)
      local ok, err = pcall(socket.join, socket, room)
      return ok or err.message
    end,
  },
}
