-- Fixture of gateway_limits.test.mjs: handlers that allocate a little, run while leak.lua holds
-- most of the heap.
return {
  namespace = "/",
  events = {
    small = function(socket, n)
      local t = {}
      for i = 1, 20 do t[i] = "item " .. i .. " of " .. tostring(n) end
      return { n = n, last = t[20] }
    end,
  },
}
