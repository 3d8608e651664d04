-- Fixture of gateway_limits.test.mjs: a gateway that keeps what it is asked to (as chat.lua once
-- kept every room name), so that the Lua heap can be filled close to the cap.
local kept = {}

return {
  namespace = "/leak",
  events = {
    fill = function(socket, n)
      for _ = 1, n do kept[#kept + 1] = ("%08d"):format(#kept) .. string.rep("x", 150) end
      return #kept
    end,
    -- One allocation of `mb` MiB, kept until the handler returns.
    alloc = function(socket, mb) return #string.rep("y", mb * 1048576) end,
  },
}
