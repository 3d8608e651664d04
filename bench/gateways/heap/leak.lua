-- bench/lua-heap.mjs: a gateway that keeps what it is asked to, so that the Lua heap can be
-- filled to a chosen part of --lua-memory-limit (as chat.lua once did with every room name a
-- client joined). `fill(n)` keeps n more strings of ~190 bytes and answers how many it keeps.
local kept = {}

return {
  namespace = "/leak",
  events = {
    fill = function(socket, n)
      for _ = 1, n do kept[#kept + 1] = ("%08d"):format(#kept) .. string.rep("x", 150) end
      return #kept
    end,
  },
}
