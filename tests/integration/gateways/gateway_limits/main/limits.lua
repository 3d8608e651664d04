-- Fixture of gateway_limits.test.mjs: handlers that never end, that eat memory, and a well
-- behaved one that other clients keep calling meanwhile.
local function eat()
  local t = {}
  for i = 1, 1e9 do t[i] = string.rep("x", 4096) .. i end
  return #t
end

return {
  namespace = "/",

  -- ?spin=1 makes the connect hook loop forever.
  on_connect = function(socket)
    if socket.query.spin then while true do end end
  end,

  events = {
    ping = function(socket, n) return n end,
    spin = function(socket) while true do end end,
    spin_pcall = function(socket)
      while true do pcall(function() while true do end end) end
    end,
    -- The loop runs in a coroutine of the handler's own.
    spin_coroutine = function(socket)
      coroutine.wrap(function() while true do end end)()
    end,
    -- The comparator runs inside table.sort (a C function).
    spin_sort = function(socket)
      table.sort({ 3, 2, 1 }, function(a, b) while true do end end)
    end,
    -- Runs `ms` milliseconds of CPU, then answers.
    busy = function(socket, ms)
      local t0 = os.clock()
      while os.clock() - t0 < ms / 1000 do end
      return ms
    end,
    -- A timer whose function never ends.
    spin_timer = function(socket)
      sb.after(0, function() while true do end end)
      return true
    end,
    hog = function(socket) return eat() end,
    -- The memory error is caught: the handler goes on and answers.
    hog_caught = function(socket)
      local ok, err = pcall(eat)
      return { ok = ok, err = tostring(err) }
    end,
    -- Allocates `mb` MiB of strings, kept until the handler returns.
    alloc = function(socket, mb)
      local t = {}
      for i = 1, mb * 256 do t[i] = string.rep("y", 4096) .. i end
      return #t
    end,
    -- A small allocation: a table with a few strings.
    small = function(socket, n)
      local t = {}
      for i = 1, 100 do t[i] = "item " .. i .. " of " .. tostring(n) end
      return { n = n, last = t[100] }
    end,
  },
}
